"""The one conversion between generator outputs and pixels: float in [-1, 1] <-> uint8 in [0, 255].

    x = (u / 127.5) - 1          u = round((clamp(x, -1, 1) + 1) * 127.5)     (float32, round half to even)

Every image that is hashed, exported or reproduced goes through `to_uint8`, so `latentkit reproduce`
stays bit-identical only while these two lines stay as they are. The round trip u -> x -> u is exact
for every uint8 value (tests/test_pixels.py).
"""

from __future__ import annotations

import numpy as np
import torch


def to_float(images: torch.Tensor) -> torch.Tensor:
    """uint8 images of any layout -> float32 in [-1, 1], same shape."""
    return images.float().div_(127.5).sub_(1.0)


def to_uint8(x: torch.Tensor) -> torch.Tensor:
    """Float images in [-1, 1] of any layout -> uint8, same shape; values outside are clamped."""
    return ((x.detach().float().clamp(-1, 1) + 1) * 127.5).round_().to(torch.uint8)


def to_tensor(pixels: np.ndarray) -> torch.Tensor:
    """(H, W, C) or (N, H, W, C) uint8 array -> (N, C, H, W) float32 tensor in [-1, 1]."""
    x = torch.from_numpy(np.array(pixels, dtype=np.uint8))  # a copy: inputs may be read-only
    x = x[None] if x.ndim == 3 else x
    return to_float(x.permute(0, 3, 1, 2))


def to_pixels(x: torch.Tensor) -> np.ndarray:
    """(N, C, H, W) float tensor in [-1, 1] -> (N, H, W, 3) uint8 RGB array (grey repeated to RGB)."""
    img = to_uint8(x).permute(0, 2, 3, 1).cpu().numpy()
    return np.repeat(img, 3, axis=3) if img.shape[3] == 1 else img
