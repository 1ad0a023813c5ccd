"""Reading images users give latentkit: guarded decoding of any file, and input images for projection.

    pixels, sha256 = read_input("me.jpg")           # (H, W, 3) uint8 RGB, SHA-256 of the file's bytes
    target = prepare_image(pixels, 64)              # (64, 64, 3) uint8, centre-cropped, Lanczos

Decoding refuses, with one line naming the file, anything that is not an image, is truncated, or
claims more than `MAX_PIXELS` pixels (a decompression bomb: a few KB that would decode to GBs).
This module sits at the io layer: it knows nothing of manifests or models
(`latentkit.provenance.imagefile` reads the manifest chunks on top of `decode_image`).
"""

from __future__ import annotations

import hashlib
import io
import os
import warnings

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from latentkit.errors import LatentkitError
from latentkit.io import read_bytes

MAX_PIXELS = 64_000_000  # 8000 x 8000: any real photo, far below what would exhaust memory
MAX_BYTES = 256 * 2**20
MIN_SIDE = 16
# File suffixes accepted as input images (uploads in the editor); any of them Pillow decodes.
INPUT_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".gif", ".tif", ".tiff")


def decode_image(data: bytes, name: str) -> tuple[Image.Image, np.ndarray]:
    """Decode image bytes: (the loaded PIL image, its (H, W, 3) uint8 RGB pixels).

    `name` labels errors; every failure is a one-line `LatentkitError`.
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(data))
            w, h = img.size
            if w * h > MAX_PIXELS:
                raise LatentkitError(
                    f"{name}: {w}x{h} pixels is over the {MAX_PIXELS:,}-pixel limit "
                    "(decompression-bomb guard)"
                )
            img.load()
            pixels = np.asarray(img.convert("RGB"))
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise LatentkitError(f"{name}: image too large (decompression-bomb guard)") from None
    except UnidentifiedImageError:
        raise LatentkitError(f"{name}: not an image file (or a format Pillow cannot read)") from None
    except (OSError, SyntaxError, ValueError, EOFError) as e:
        raise LatentkitError(f"{name}: truncated or corrupt image ({e})") from None
    return img, pixels


def read_input(source: str | os.PathLike | bytes, name: str | None = None) -> tuple[np.ndarray, str]:
    """An input image as ((H, W, 3) uint8 RGB, SHA-256 hex of the file's bytes).

    `source` is a path or the file's bytes (`name` then labels errors). Decoding goes through
    `decode_image` (size limits, decompression-bomb guard, one-line errors for non-images and
    truncated files). Grey and palette images become RGB; alpha is composited over white; the EXIF
    orientation of photos is applied.
    """
    if isinstance(source, bytes):
        data, name = source, name or "image"
    else:
        name = name or str(source)
        data = read_bytes(source, MAX_BYTES)
    img, pixels = decode_image(data, name)
    has_alpha = img.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in img.info
    if has_alpha or img.getexif().get(0x0112, 1) != 1:  # 0x0112: EXIF orientation
        img = ImageOps.exif_transpose(img)
        if has_alpha:
            rgba = img.convert("RGBA")
            img = Image.alpha_composite(Image.new("RGBA", rgba.size, (255, 255, 255, 255)), rgba)
        pixels = np.asarray(img.convert("RGB"))
    return pixels, hashlib.sha256(data).hexdigest()


def min_side(resolution: int) -> int:
    """Smallest accepted input side for a model of `resolution` px: half of it (upscaling more than
    2x invents the detail the projection would then copy), and never under MIN_SIDE."""
    return max(MIN_SIDE, resolution // 2)


def prepare_image(pixels: np.ndarray, resolution: int, name: str = "image") -> np.ndarray:
    """Centre-crop (H, W, 3) uint8 to a square and resize it (Lanczos) to (resolution, resolution, 3)."""
    h, w = pixels.shape[:2]
    need = min_side(resolution)
    if min(h, w) < need:
        raise LatentkitError(
            f"{name}: {w}x{h} pixels is too small; the shorter side must be at least {need} px "
            f"for a {resolution} px model"
        )
    side = min(h, w)
    top, left = (h - side) // 2, (w - side) // 2
    square = Image.fromarray(np.ascontiguousarray(pixels[top : top + side, left : left + side]))
    if side != resolution:
        square = square.resize((resolution, resolution), Image.LANCZOS)
    return np.asarray(square.convert("RGB"))
