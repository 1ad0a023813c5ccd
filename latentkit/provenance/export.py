"""The one export function: every user-facing image latentkit writes goes through `export_image`.

    z --generator--> model-resolution RGB --bicubic--> size x size --watermark--> encode with the
    manifest (PNG iTXt + XMP) --C2PA sign (last)--> temp file --rename--> folder/name

The image is rendered here from the latent, not passed in, so the manifest's latent is by
construction the one that made the pixels, and `latentkit reproduce` can re-run the same path.
Upscaling is Pillow's bicubic filter; a generator's own resolution is usually 64-128 px, and 256 px
gives the watermark room and viewers a usable size.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from latentkit.errors import LatentkitError
from latentkit.io import write_bytes
from latentkit.models import Bundle
from latentkit.provenance import manifest as mf
from latentkit.provenance.c2pa_sign import sign_c2pa
from latentkit.provenance.imagefile import DEFAULT_QUALITY, FORMATS, SUFFIXES, decode_bytes, encode_image
from latentkit.provenance.keys import SigningIdentity, load_identity
from latentkit.provenance.watermark import SCHEME, embed_watermark, new_export_id

DEFAULT_SIZE = 256
MIN_SIZE, MAX_SIZE = 64, 2048


@dataclass
class ExportResult:
    """What `export_image` wrote: the file, its manifest and the watermark's export id."""

    path: Path
    manifest: dict[str, Any]
    export_id: str


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
        x = bundle.generator(torch.from_numpy(np.ascontiguousarray(z))[None].to(device))[0]
    img = ((x.float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).permute(1, 2, 0).cpu().numpy()
    if img.shape[2] == 1:
        img = np.repeat(img, 3, axis=2)
    if img.shape[:2] != (size, size):
        img = np.asarray(Image.fromarray(img).resize((size, size), Image.BICUBIC))
    return img


def export_image(
    bundle: Bundle,
    z: np.ndarray | torch.Tensor,
    folder: str | os.PathLike,
    name: str,
    *,
    seed: int | None = None,
    edits: list[dict[str, Any]] | None = None,
    interpolation: dict[str, Any] | None = None,
    projection: dict[str, Any] | None = None,
    size: int = DEFAULT_SIZE,
    format: str | None = None,
    quality: int | None = None,
    overwrite: bool = False,
    identity: SigningIdentity | None = None,
    export_id: str | None = None,
) -> ExportResult:
    """Render `z` with `bundle` and write it, watermarked, with its manifest and C2PA signature.

    Args:
        z: the latent actually rendered, (latent_dim,) float32 (after any edits).
        folder, name: where to write; `name` must be a plain file name inside `folder`.
        seed: the seed z was drawn from, if any.
        edits: the edit list, e.g. [{"direction": "smile", "strength": 1.5, "mode": "relative",
            "conditioned_on": ["age"]}]; interpolation: e.g. {"endpoints": [...], "method": "slerp",
            "t": 0.25}; projection: where a projected latent came from (`Projection.record()`). All are
            recorded as given and must be plain JSON data.
        size: output side in pixels (upscaled from the model's resolution).
        format: "png", "jpeg" or "webp"; default from the name's suffix.
        quality: JPEG/WebP quality (default 95/90); ignored for PNG.
        overwrite: replace an existing file (refused otherwise).
        identity: signing certificate and key; default the local one (`latentkit keys init`).
        export_id: 6 hex digits for the watermark; default random (`reproduce` passes the original's).
    """
    path, fmt = _target(folder, name, format)
    if path.exists() and not overwrite:
        raise LatentkitError(f"{path}: already exists (pass overwrite=True / --overwrite to replace it)")
    if not MIN_SIZE <= size <= MAX_SIZE:
        raise LatentkitError(f"export size {size}: must be between {MIN_SIZE} and {MAX_SIZE} pixels")
    quality = DEFAULT_QUALITY[fmt] if quality is None or fmt == "png" else quality
    if quality is not None and not 1 <= quality <= 100:
        raise LatentkitError(f"export quality {quality}: must be between 1 and 100")
    z = _check_latent(z, bundle.config.latent_dim)
    identity = identity or load_identity()
    export_id = export_id or new_export_id()

    pixels = embed_watermark(render(bundle, z, size), export_id)
    # The recorded hash is of the pixels a viewer decodes, so lossy formats are encoded first.
    decoded = pixels if fmt == "png" else decode_bytes(encode_image(pixels, fmt, quality), name).pixels
    manifest = mf.build_manifest(
        model={
            "name": bundle.name,
            "weights_sha256": bundle.weights_sha256,
            "config_sha256": bundle.config_sha256,
            "resolution": bundle.config.resolution,
        },
        z=z,
        seed=seed,
        edits=edits,
        interpolation=interpolation,
        projection=projection,
        output={
            "width": size,
            "height": size,
            "format": fmt,
            "quality": quality,
            "upscale": "bicubic",
            "pixels_sha256": mf.pixels_sha256(decoded),
        },
        watermark={"scheme": SCHEME, "export_id": export_id},
    )
    data = encode_image(pixels, fmt, quality, mf.dumps(manifest), mf.build_xmp(manifest))
    data = sign_c2pa(data, FORMATS[fmt], manifest, identity, title=path.name)
    if mf.pixels_sha256(decode_bytes(data, name).pixels) != manifest["output"]["pixels_sha256"]:
        raise RuntimeError(f"{fmt} encoding is not deterministic here: the pixel hash would be wrong")
    write_bytes(path, data)
    return ExportResult(path, manifest, export_id)


def _target(folder: str | os.PathLike, name: str, fmt: str | None) -> tuple[Path, str]:
    """folder/name after checking that `name` cannot escape `folder`, and the output format."""
    check_export_name(name)
    suffix_fmt = SUFFIXES.get(Path(name).suffix.lower())
    fmt = fmt.lower().replace("jpg", "jpeg") if fmt else suffix_fmt
    if fmt not in FORMATS:
        raise LatentkitError(f"export {name!r}: format must be png, jpeg or webp (from the name or format=)")
    if suffix_fmt != fmt:
        raise LatentkitError(f"export {name!r}: the suffix does not match format {fmt!r}")
    return Path(folder) / name, fmt


def check_export_name(name: str) -> None:
    """Refuse (`LatentkitError`) an export name that is not a plain file name: it could escape the folder."""
    bad = not name or name in (".", "..") or "/" in name or "\\" in name or "\0" in name
    if bad or os.path.isabs(name) or Path(name).name != name:
        raise LatentkitError(f"export name {name!r}: must be a plain file name inside the output folder")


def _check_latent(z: np.ndarray | torch.Tensor, dim: int) -> np.ndarray:
    if isinstance(z, torch.Tensor):
        z = z.detach().cpu().numpy()
    z = np.asarray(z, dtype=np.float32).reshape(-1) if np.size(z) == dim else np.asarray(z)
    if z.shape != (dim,):
        raise LatentkitError(f"export latent: shape {tuple(z.shape)}, the model needs ({dim},)")
    if not np.isfinite(z).all():
        raise LatentkitError("export latent: contains NaN or infinity")
    return z
