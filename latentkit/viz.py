"""Diagnostic figures: image grids for dataset previews and training samples.

These are figures for the user's eyes (dataset previews, training progress), written atomically as
PNG. Images a user exports from a model go through the provenance export path instead.
"""

from __future__ import annotations

import io
import os
from collections.abc import Sequence

import numpy as np
import torch
from PIL import Image, ImageDraw

from latentkit.io import write_bytes


def tile(images: torch.Tensor, nrow: int = 8, padding: int = 2, pad_value: int = 255) -> torch.Tensor:
    """(N, C, H, W) -> (C, rows * (H + padding) + padding, cols * (W + padding) + padding), cols =
    min(nrow, N), filled with `pad_value` between tiles (one image: itself): torchvision's `make_grid`
    layout, without importing torchvision (which pulls in torch._dynamo: seconds at every CLI start)."""
    n, c, h, w = images.shape
    if n == 1:  # as make_grid: one image comes back unpadded
        return images[0]
    cols = min(nrow, n)
    rows = -(-n // cols)
    grid = images.new_full((c, rows * (h + padding) + padding, cols * (w + padding) + padding), pad_value)
    for i in range(n):
        r, col = divmod(i, cols)
        y, x = r * (h + padding) + padding, col * (w + padding) + padding
        grid[:, y : y + h, x : x + w] = images[i]
    return grid


def image_grid(
    images: torch.Tensor, nrow: int = 8, captions: Sequence[str] | None = None, scale: int = 1
) -> Image.Image:
    """Tile (N, C, H, W) uint8 images into one RGB picture, `nrow` per row.

    With `captions`, each tile gets a strip below it with its caption. `scale` upsamples the result
    (nearest neighbour) so small images stay readable.
    """
    if images.shape[1] == 1:
        images = images.expand(-1, 3, -1, -1)
    if scale > 1:
        images = images.repeat_interleave(scale, 2).repeat_interleave(scale, 3)
    if captions is not None:
        strip = 12
        n, c, h, w = images.shape
        padded = torch.full((n, c, h + strip, w), 255, dtype=torch.uint8)
        padded[:, :, :h] = images
        images = padded
    grid = tile(images, nrow=nrow)
    img = Image.fromarray(grid.permute(1, 2, 0).numpy())
    if captions is not None:
        d = ImageDraw.Draw(img)
        h, w = images.shape[2], images.shape[3]
        for i, text in enumerate(captions):
            r, col = divmod(i, nrow)
            d.text((2 + col * (w + 2) + 2, 2 + r * (h + 2) + h - 12), text, fill=(0, 0, 0))
    return img


def save_figure(path: str | os.PathLike, img: Image.Image) -> None:
    """Write a diagnostic figure as PNG, atomically."""
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    write_bytes(path, buf.getvalue())


def save_preview_gif(path: str | os.PathLike, frames: Sequence[np.ndarray], ms_per_frame: int = 80) -> None:
    """Frames (H, W, 3) uint8 as a looping, palette-quantised GIF for the screen (unsigned preview)."""
    images = [Image.fromarray(f) for f in frames]
    buf = io.BytesIO()
    images[0].save(buf, "GIF", save_all=True, append_images=images[1:], duration=ms_per_frame, loop=0)
    write_bytes(path, buf.getvalue())


def points_figure(points: np.ndarray, size: int = 256, extent: float = 1.5) -> Image.Image:
    """Scatter (N, 2) points into a square image covering [-extent, extent]^2 (a quick 2D preview)."""
    img = Image.new("RGB", (size, size), (255, 255, 255))
    d = ImageDraw.Draw(img)
    px = (points + extent) / (2 * extent) * (size - 1)
    for x, y in px:
        d.point((float(x), float(size - 1 - y)), fill=(30, 60, 160))
    return img
