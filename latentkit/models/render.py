"""Rendering one latent to the pixels every preview, export and `reproduce` shows.

    z (latent_dim,) --generator, batch of one--> [-1, 1] --latentkit.pixels.to_pixels--> uint8
      --Pillow bicubic--> (size, size, 3) uint8 RGB

Upscaling is Pillow's bicubic filter; a generator's own resolution is usually 64-128 px, and 256 px
gives the watermark room and viewers a usable size.
"""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image

from latentkit.errors import LatentkitError
from latentkit.models.bundle import Bundle
from latentkit.pixels import to_pixels

DEFAULT_SIZE = 256


def render(bundle: Bundle, z: np.ndarray, size: int = DEFAULT_SIZE) -> np.ndarray:
    """Render one latent: z (latent_dim,) float32 -> (size, size, 3) uint8 RGB, bicubic-upscaled.

    Always a batch of one on the generator's device, so the same z gives the same pixels whether
    it comes from `generate`, the app or `reproduce` (on the same platform and torch version).
    """
    if not bundle.config.makes_images:
        raise LatentkitError(f"model {bundle.name!r} makes {bundle.config.kind} points, not images")
    if bundle.generator.training:
        raise ValueError("render: the generator must be in eval mode (batch norm statistics)")
    device = next(bundle.generator.parameters()).device
    with torch.no_grad():
        img = to_pixels(bundle.generator(torch.from_numpy(np.ascontiguousarray(z))[None].to(device)))[0]
    if img.shape[:2] != (size, size):
        img = np.asarray(Image.fromarray(img).resize((size, size), Image.BICUBIC))
    return img
