"""Rendering one latent to the pixels every preview, export and `reproduce` shows.

    latent of a space (`models.latents`) --generator, batch of one--> [-1, 1]
      --latentkit.pixels.to_pixels--> uint8 --Pillow bicubic--> (size, size, 3) uint8 RGB

Upscaling is Pillow's bicubic filter; a generator's own resolution is usually 64-128 px, and 256 px
gives the watermark room and viewers a usable size.
"""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image

from latentkit.errors import LatentkitError
from latentkit.models.bundle import Bundle
from latentkit.models.latents import synthesize
from latentkit.pixels import to_pixels

DEFAULT_SIZE = 256


def render(bundle: Bundle, z: np.ndarray, size: int = DEFAULT_SIZE, space: str = "z") -> np.ndarray:
    """Render one latent of `space` (z (latent_dim,), w (w_dim,) or w+ (num_ws, w_dim)) float32 ->
    (size, size, 3) uint8 RGB, bicubic-upscaled.

    Always a batch of one on the generator's device, so the same latent gives the same pixels whether
    it comes from `generate`, the app or `reproduce` (on the same platform and torch version).
    """
    if not bundle.config.makes_images:
        raise LatentkitError(f"model {bundle.name!r} makes {bundle.config.kind} points, not images")
    if bundle.generator.training:
        raise ValueError("render: the generator must be in eval mode (batch norm statistics)")
    device = next(bundle.generator.parameters()).device
    with torch.no_grad():
        x = torch.from_numpy(np.ascontiguousarray(z, dtype=np.float32))[None].to(device)
        img = to_pixels(synthesize(bundle.generator, x, space))[0]
    if img.shape[:2] != (size, size):
        img = np.asarray(Image.fromarray(img).resize((size, size), Image.BICUBIC))
    return img
