"""Image bytes in and out: encoding with the manifest chunks, and guarded decoding of any file.

Writing: PNG carries the manifest as an iTXt chunk `latentkit` plus an XMP iTXt chunk
(`XML:com.adobe.xmp`); JPEG carries the XMP as an APP1 segment; WebP as its XMP chunk.

Reading refuses, with one line naming the file, anything that is not an image, is truncated, or
claims more than `MAX_PIXELS` pixels (a decompression bomb: a few KB that would decode to GBs).
"""

from __future__ import annotations

import io
import os
import warnings
from dataclasses import dataclass

import numpy as np
from PIL import Image, PngImagePlugin, UnidentifiedImageError

from latentkit.errors import LatentkitError
from latentkit.io import read_bytes
from latentkit.provenance.manifest import PNG_KEYWORD

FORMATS = {"png": "image/png", "jpeg": "image/jpeg", "webp": "image/webp"}
SUFFIXES = {".png": "png", ".jpg": "jpeg", ".jpeg": "jpeg", ".webp": "webp"}
DEFAULT_QUALITY = {"png": None, "jpeg": 95, "webp": 90}
MAX_PIXELS = 64_000_000  # 8000 x 8000: any real photo, far below what would exhaust memory
MAX_BYTES = 256 * 2**20
XMP_APP1 = b"http://ns.adobe.com/xap/1.0/\x00"


@dataclass
class DecodedImage:
    """A decoded file: its bytes, format ("png", "jpeg", "webp" or PIL's name), RGB pixels and metadata.

    Attributes:
        pixels: (H, W, 3) uint8 RGB.
        manifest_text: the PNG `latentkit` chunk's text, or None.
        xmp: the XMP packet, or None.
    """

    data: bytes
    format: str
    mime: str
    pixels: np.ndarray
    manifest_text: str | None = None
    xmp: str | None = None


def encode_image(
    pixels: np.ndarray,
    fmt: str,
    quality: int | None,
    manifest_text: str | None = None,
    xmp: str | None = None,
) -> bytes:
    """(H, W, 3) uint8 -> file bytes in `fmt`, with the manifest chunk (PNG) and XMP when given."""
    img = Image.fromarray(pixels)
    buf = io.BytesIO()
    if fmt == "png":
        info = PngImagePlugin.PngInfo()
        if manifest_text is not None:
            info.add_itxt(PNG_KEYWORD, manifest_text)
        if xmp is not None:
            info.add_itxt("XML:com.adobe.xmp", xmp)
        img.save(buf, "PNG", pnginfo=info)
        return buf.getvalue()
    if fmt == "jpeg":
        img.save(buf, "JPEG", quality=quality)
        return _insert_jpeg_xmp(buf.getvalue(), xmp) if xmp is not None else buf.getvalue()
    if fmt == "webp":
        kwargs = {"xmp": xmp.encode()} if xmp is not None else {}
        img.save(buf, "WEBP", quality=quality, method=4, **kwargs)
        return buf.getvalue()
    raise ValueError(f"unknown format {fmt!r}")


def decode_bytes(data: bytes, name: str) -> DecodedImage:
    """Decode image bytes; `name` is used in error messages. Raises `LatentkitError` on bad input."""
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
            fmt = (img.format or "unknown").lower()
            info = dict(img.info)
            applist = list(getattr(img, "applist", []))
            pixels = np.asarray(img.convert("RGB"))
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise LatentkitError(f"{name}: image too large (decompression-bomb guard)") from None
    except UnidentifiedImageError:
        raise LatentkitError(f"{name}: not an image file (or a format Pillow cannot read)") from None
    except (OSError, SyntaxError, ValueError, EOFError) as e:
        raise LatentkitError(f"{name}: truncated or corrupt image ({e})") from None
    mime = FORMATS.get(fmt) or Image.MIME.get(fmt.upper(), "application/octet-stream")
    return DecodedImage(
        data=data,
        format=fmt,
        mime=mime,
        pixels=pixels,
        manifest_text=_text(info.get(PNG_KEYWORD)) if fmt == "png" else None,
        xmp=_find_xmp(fmt, info, applist),
    )


def read_image(path: str | os.PathLike) -> DecodedImage:
    """Read and decode an image file (see `decode_bytes`)."""
    data = read_bytes(path, MAX_BYTES)
    return decode_bytes(data, str(path))


def _find_xmp(fmt: str, info: dict, applist: list) -> str | None:
    if fmt == "png":
        return _text(info.get("XML:com.adobe.xmp"))
    if fmt == "jpeg":
        for marker, payload in applist:
            if marker == "APP1" and payload.startswith(XMP_APP1):
                return payload[len(XMP_APP1) :].decode("utf-8", errors="replace")
    return _text(info.get("xmp"))


def _text(value) -> str | None:
    if value is None:
        return None
    return value.decode("utf-8", errors="replace") if isinstance(value, bytes) else str(value)


def _insert_jpeg_xmp(data: bytes, xmp: str) -> bytes:
    """Insert an XMP APP1 segment right after the JPEG's SOI and JFIF APP0 (compressed data untouched)."""
    payload = XMP_APP1 + xmp.encode("utf-8")
    if len(payload) + 2 > 0xFFFF:
        raise LatentkitError(f"manifest too large for JPEG XMP ({len(payload):,} bytes); export as PNG")
    segment = b"\xff\xe1" + (len(payload) + 2).to_bytes(2, "big") + payload
    at = 2
    if data[2:4] == b"\xff\xe0":  # keep JFIF APP0 first, as readers expect
        at = 4 + int.from_bytes(data[4:6], "big")
    return data[:at] + segment + data[at:]
