"""Reading images users give latentkit: guarded decoding of any file, and input images for projection.

    pixels, sha256 = read_input("me.jpg")           # (H, W, 3) uint8 RGB, SHA-256 of the file's bytes
    target = prepare_image(pixels, 64)              # (64, 64, 3) uint8, centre-cropped, Lanczos

Decoding refuses, with one line naming the file, anything that is not an image, is truncated, or
would allocate more pixels than its `PixelBudget` allows (a decompression bomb: a few KB that would
decode to GBs). The budget is the one guard of every decoder (stills here, GIF and MP4 frames in
`latentkit.provenance.animfile`): it is charged with the canvas a frame will be composed into, read
from the headers before the pixels are decoded. Pillow decodes only the first frame of an APNG or
animated WebP here, on a canvas of the size the header states.
This module sits at the io layer: it knows nothing of manifests or models
(`latentkit.provenance.imagefile` reads the manifest chunks on top of `decode_image`).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import warnings
from collections.abc import Iterator

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from latentkit.errors import LatentkitError
from latentkit.io import read_bytes

MAX_PIXELS = 64_000_000  # 8000 x 8000: any real photo, far below what would exhaust memory
MAX_FRAMES = 600  # 50 s at 12 fps; far more than any interpolation needs
MAX_TOTAL_PIXELS = 160_000_000  # frames x width x height: ~480 MB of decoded RGB
MAX_BYTES = 256 * 2**20
MIN_SIDE = 16
# File suffixes accepted as input images (uploads in the editor); any of them Pillow decodes.
INPUT_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".gif", ".tif", ".tiff")


class PixelBudget:
    """The pixels one decode may allocate: each frame's canvas at most `per_frame` pixels, all frames
    together at most `total`, and at most `max_frames` frames. `charge` before decoding a frame."""

    def __init__(
        self, name: str, per_frame: int = MAX_PIXELS, total: int = MAX_PIXELS, max_frames: int = 1
    ) -> None:
        self.name, self.per_frame, self.total, self.max_frames = name, per_frame, total, max_frames
        self.frames = self.spent = 0

    def check_frames(self, n: int) -> None:
        """Refuse a file that says it holds more than `max_frames` frames."""
        if n > self.max_frames:
            raise LatentkitError(f"{self.name}: {n} frames is over the {self.max_frames}-frame limit")

    def charge(self, width: int, height: int) -> None:
        """Account for one more frame decoded onto a `width` x `height` canvas; raise if over budget."""
        self.check_frames(self.frames + 1)
        if width * height > self.per_frame:
            raise LatentkitError(
                f"{self.name}: a {width}x{height} frame is over the {self.per_frame:,}-pixel limit "
                "(decompression-bomb guard)"
            )
        if self.spent + width * height > self.total:
            raise LatentkitError(
                f"{self.name}: {self.frames + 1} frames up to {width}x{height} are over the "
                f"{self.total:,}-pixel limit in all (decompression-bomb guard)"
            )
        self.frames += 1
        self.spent += width * height


@contextlib.contextmanager
def pillow_decoding(
    name: str, what: str = "image", unreadable: str = "not an image file (or a format Pillow cannot read)"
) -> Iterator[None]:
    """Decode with Pillow inside this block: its bomb warning is an error, and every failure becomes
    one `LatentkitError` line naming `name` ("truncated or corrupt GIF (...)" for what="GIF"; the
    `unreadable` text when Pillow cannot tell what the bytes are)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            yield
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise LatentkitError(f"{name}: image too large (decompression-bomb guard)") from None
    except UnidentifiedImageError:
        raise LatentkitError(f"{name}: {unreadable}") from None
    except (OSError, SyntaxError, ValueError, EOFError) as e:
        raise LatentkitError(f"{name}: truncated or corrupt {what} ({e})") from None


def decode_image(data: bytes, name: str) -> tuple[Image.Image, np.ndarray]:
    """Decode image bytes (the first frame of an animated file): (the loaded PIL image, its (H, W, 3)
    uint8 RGB pixels). 16-bit grey is scaled to 8 bits (65535 -> 255), not clipped.

    `name` labels errors; every failure is a one-line `LatentkitError`.
    """
    with pillow_decoding(name):
        img = Image.open(io.BytesIO(data))
        PixelBudget(name).charge(*img.size)
        img.load()
        pixels = rgb_pixels(img)
    return img, pixels


def rgb_pixels(img: Image.Image) -> np.ndarray:
    """A loaded PIL image as (H, W, 3) uint8 RGB; 16-bit grey ("I;16*", or "I" holding 0-65535 as
    PNG/TIFF give it) is scaled by 255/65535 instead of clipped at 255 (which made it nearly all white)."""
    if img.mode.startswith("I;16") or img.mode == "I":
        wide = np.asarray(img).astype(np.int64).clip(0, 65535)
        grey = ((wide * 255 + 32767) // 65535).astype(np.uint8)
        return np.repeat(grey[..., None], 3, axis=2)
    return np.asarray(img.convert("RGB"))


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
        pixels = rgb_pixels(img)
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
