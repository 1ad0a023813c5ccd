"""The formats latentkit exports, and image bytes in and out with the manifest chunks.

`FORMATS` is the one table of export formats (images and animations): MIME type, file suffixes
and size limits; `SUFFIXES` maps a file suffix back to its format.

Writing: PNG carries the manifest as an iTXt chunk `latentkit` plus an XMP iTXt chunk
(`XML:com.adobe.xmp`); JPEG carries the XMP as an APP1 segment; WebP as its XMP chunk.

Reading goes through `latentkit.images.decode_image` (one-line errors, decompression-bomb guard)
and adds the manifest chunk and XMP packet.
"""

from __future__ import annotations

import io
import os
import zlib
from dataclasses import dataclass

import numpy as np
from PIL import Image, PngImagePlugin

from latentkit.errors import LatentkitError
from latentkit.images import MAX_BYTES, decode_image
from latentkit.io import read_bytes
from latentkit.provenance.manifest import PNG_KEYWORD


@dataclass(frozen=True)
class Format:
    """One export format.

    Attributes:
        mime: its MIME type (what the C2PA signature names).
        suffixes: file suffixes it is written under; the first is the one latentkit gives new files.
        animated: a GIF/MP4 of frames rather than one image.
        min_size, max_size: allowed output side in pixels (animations hold many frames: lower cap).
        even: the side must be even (H.264's yuv420p halves the chroma resolution).
        quality: default JPEG/WebP quality, 1-100; None for formats without one.
    """

    mime: str
    suffixes: tuple[str, ...]
    animated: bool = False
    min_size: int = 64
    max_size: int = 2048
    even: bool = False
    quality: int | None = None

    @property
    def suffix(self) -> str:
        return self.suffixes[0]


FORMATS = {
    "png": Format("image/png", (".png",)),
    "jpeg": Format("image/jpeg", (".jpg", ".jpeg"), quality=95),
    "webp": Format("image/webp", (".webp",), quality=90),
    "gif": Format("image/gif", (".gif",), animated=True, max_size=1024),
    "mp4": Format("video/mp4", (".mp4",), animated=True, max_size=1024, even=True),
}
SUFFIXES = {suffix: name for name, f in FORMATS.items() for suffix in f.suffixes}  # ".jpg" -> "jpeg"
IMAGE_FORMATS = tuple(name for name, f in FORMATS.items() if not f.animated)
ANIMATION_FORMATS = tuple(name for name, f in FORMATS.items() if f.animated)
# zlib settings of exported PNGs, chosen by measurement: 40 watermarked faces64 seeds at 256 px, one
# thread, Pillow 12.3, best of 5 timed loops of Image.save(buf, "PNG", **options), then decode:
#   level 0: 192.4 kB, 2.8 ms   level 1: 84.6 kB, 5.5 ms   level 3: 79.9 kB, 7.4 ms
#   level 6 (Pillow's default, used until now): 72.5 kB, 23.5 ms   level 9: 70.7 kB, 89.7 ms
#   level 1 + Z_RLE strategy: 72.3 kB, 5.3 ms (decode 2.3 ms, as level 6)
# After PNG's row filters a rendered face is mostly runs of small residuals, which run-length
# matching codes as well as the full search at a quarter of level 6's time. PNG is lossless: the
# decoded pixels (and so `pixels_sha256` and `reproduce`) are the same whatever these are.
PNG_OPTIONS = {"compress_level": 1, "compress_type": zlib.Z_RLE}
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
        img.save(buf, "PNG", pnginfo=info, **PNG_OPTIONS)
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
    img, pixels = decode_image(data, name)
    fmt = (img.format or "unknown").lower()
    info = dict(img.info)
    mime = FORMATS[fmt].mime if fmt in FORMATS else Image.MIME.get(fmt.upper(), "application/octet-stream")
    return DecodedImage(
        data=data,
        format=fmt,
        mime=mime,
        pixels=pixels,
        manifest_text=_text(info.get(PNG_KEYWORD)) if fmt == "png" else None,
        xmp=_find_xmp(fmt, info, list(getattr(img, "applist", []))),
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
