"""The one export path: every user-facing image or animation latentkit writes goes through `_export`.

    zs (N, D) --render each (latentkit.models.render)--> watermark each with ONE export id
      --> encode (PNG/JPEG/WebP; GIF: per-frame palette; MP4: H.264) --> decode, hash the pixels
      --> manifest (PNG iTXt + XMP / GIF comment) --C2PA sign (last)--> temp file --rename--> folder/name

`export_image` (one latent, PNG/JPEG/WebP) and `export_animation` (N latents, GIF/MP4) are its two
named entry points. The pixels are rendered here from the latents, not passed in, so the manifest's
latents are by construction the ones that made the pixels, and `latentkit reproduce` can re-run the
same path. Formats and their limits are `imagefile.FORMATS`.

An animation's manifest is an image manifest (`latent` is the first frame's) plus

    "animation": {"frames": 30, "fps": 12.0, "loop": true,
                  "latents": {"count": 30, "dim": 128, ...}}     # every frame's exact z, (N, D)

and `output.pixels_sha256` is the SHA-256 of all decoded frames, an (N', H, W, 3) uint8 array in
order (`animfile.frames_sha256`; N' < N only when a GIF stored identical neighbours once), with
`output.frames` = N'. For one image that is the SHA-256 of its (H, W, 3) pixels.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from latentkit.errors import LatentkitError
from latentkit.io import write_bytes
from latentkit.models import Bundle
from latentkit.models.latents import check_space, latent_shape
from latentkit.models.render import DEFAULT_SIZE, render
from latentkit.provenance import animfile
from latentkit.provenance import manifest as mf
from latentkit.provenance.c2pa_sign import sign_c2pa
from latentkit.provenance.imagefile import (
    ANIMATION_FORMATS,
    FORMATS,
    IMAGE_FORMATS,
    SUFFIXES,
    decode_bytes,
    encode_image,
)
from latentkit.provenance.keys import SigningIdentity, load_identity
from latentkit.provenance.watermark import embed_watermark, export_id_bits, manifest_record, new_export_id
from latentkit.provenance.watermark_iss1 import carrier_for


@dataclass
class ExportResult:
    """What an export wrote: the file, its manifest, the watermark's export id and the decoded frames
    (1 for an image; fewer than the latents only when a GIF stored identical neighbours once)."""

    path: Path
    manifest: dict[str, Any]
    export_id: str
    frames: int = 1


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
    space: str = "z",
    watermark_carrier: str | None = None,
) -> ExportResult:
    """Render `z` with `bundle` and write it, watermarked, with its manifest and C2PA signature.

    Args:
        z: the latent actually rendered (after any edits), float32, of `space` ("z", "w" or "w+":
            `latentkit.models.latents`); the manifest records the space.
        folder, name: where to write; `name` must be a plain file name inside `folder`.
        seed: the seed z was drawn from, if any.
        edits: the edit list, e.g. [{"direction": "smile", "strength": 1.5, "mode": "relative",
            "conditioned_on": ["age"]}]; interpolation: e.g. {"endpoints": [...], "method": "slerp",
            "t": 0.25}; projection: where a projected latent came from (`Projection.record()`). All are
            recorded as given and must be plain JSON data.
        size: output side in pixels (upscaled from the model's resolution), 64 to 2048.
        format: "png", "jpeg" or "webp"; default from the name's suffix.
        quality: JPEG/WebP quality (default 95/90); ignored for PNG.
        overwrite: replace an existing file (refused otherwise).
        identity: signing certificate and key; default the local one (`latentkit keys init`).
        export_id: 8 (scheme /2) or 6 (/1) hex digits; default random (`reproduce` passes the original's).
        watermark_carrier: with a given /1 `export_id`, its carrier ("main", the default, or "small"),
            as the original's manifest records it; a fresh id takes the carrier for `size`.
    """
    return _export(
        bundle,
        lambda: _check_latents(z, bundle, space, "export latent")[None],
        folder,
        name,
        IMAGE_FORMATS,
        format=format,
        size=size,
        quality=quality,
        fps=None,
        records={"seed": seed, "edits": edits, "interpolation": interpolation, "projection": projection},
        space=space,
        watermark_carrier=watermark_carrier,
        overwrite=overwrite,
        identity=identity,
        export_id=export_id,
    )


def export_animation(
    bundle: Bundle,
    zs: np.ndarray | torch.Tensor,
    folder: str | os.PathLike,
    name: str,
    *,
    fps: float = animfile.DEFAULT_FPS,
    edits: list[dict[str, Any]] | None = None,
    interpolation: dict[str, Any] | None = None,
    size: int = DEFAULT_SIZE,
    format: str | None = None,
    overwrite: bool = False,
    identity: SigningIdentity | None = None,
    export_id: str | None = None,
    space: str = "z",
    watermark_carrier: str | None = None,
) -> ExportResult:
    """Render every latent of `zs` with `bundle` and write them as one signed, watermarked animation.

    Args:
        zs: (N, latent_dim) float32, one latent per frame, 1 <= N <= 600 (`animfile.MAX_FRAMES`).
        folder, name: where to write; `name` is a plain file name ending .gif or .mp4.
        fps: frames per second, 1 to 50.
        edits, interpolation: recorded as given (plain JSON), e.g. interpolation =
            {"method": "slerp", "keyframes": [{"seed": 3}, ...], "t": [[0, 0.0], [0, 0.5], ...]}.
        size: frame side in pixels, 64 to 1024 (even for MP4).
        format: "gif" or "mp4"; default from the suffix. MP4 needs `pip install 'latentkit[video]'`.
        overwrite, identity, export_id: as for `export_image`; every frame carries the same export id.
    """
    return _export(
        bundle,
        lambda: check_frame_latents(zs, bundle, space),
        folder,
        name,
        ANIMATION_FORMATS,
        format=format,
        size=size,
        quality=None,
        fps=fps,
        records={"seed": None, "edits": edits, "interpolation": interpolation, "projection": None},
        space=space,
        watermark_carrier=watermark_carrier,
        overwrite=overwrite,
        identity=identity,
        export_id=export_id,
    )


def _export(
    bundle: Bundle,
    latents: Callable[[], np.ndarray],
    folder: str | os.PathLike,
    name: str,
    allowed: tuple[str, ...],
    *,
    format: str | None,
    size: int,
    quality: int | None,
    fps: float | None,
    records: dict[str, Any],
    space: str,
    watermark_carrier: str | None,
    overwrite: bool,
    identity: SigningIdentity | None,
    export_id: str | None,
) -> ExportResult:
    """The export core: checks, render + watermark, encode, manifest, sign, verify the hash, write.

    `latents()` returns the checked (N, D) latents (called after the name and size checks, so their
    errors come first); `records` holds the manifest's seed, edits, interpolation and projection.
    """
    path, fmt = _target(folder, name, format, allowed)
    spec = FORMATS[fmt]
    if path.exists() and not overwrite:
        raise LatentkitError(f"{path}: already exists (pass overwrite=True / --overwrite to replace it)")
    _check_size(size, fmt)
    quality = _check_quality(quality, fmt)
    if spec.animated:
        fps = _check_fps(fps)
    zs = latents()
    if spec.animated and len(zs) * size * size > animfile.MAX_TOTAL_PIXELS:
        raise LatentkitError(f"animation: {len(zs)} frames of {size} px is too much; use fewer or smaller")
    if fmt == "mp4" and not animfile.mp4_available():
        raise LatentkitError(animfile.VIDEO_HINT)
    identity = identity or load_identity()
    fresh = export_id is None
    export_id = export_id or new_export_id(export_id_bits(size))
    carrier = carrier_for(size) if fresh else (watermark_carrier or "main")
    fingerprint = bundle.weights_sha256
    frames = [
        embed_watermark(
            render(bundle, z, size, space), export_id, model_fingerprint=fingerprint, carrier=carrier
        )
        for z in zs
    ]
    encode = _encoder(frames, fmt, quality, fps)
    # The recorded hash is of the pixels a viewer decodes, so lossy formats are encoded first.
    decoded = frames if fmt == "png" else _decode(encode(None), fmt, name)
    output = {
        "width": size,
        "height": size,
        "format": fmt,
        "quality": quality,
        "upscale": "bicubic",
        "pixels_sha256": animfile.frames_sha256(decoded),  # of one image: its (H, W, 3) pixels
    }
    if spec.animated:
        output |= {"codec": animfile.CODECS[fmt], "frames": len(decoded)}
    manifest = mf.build_manifest(
        model=model_record(bundle),
        z=zs[0],
        space=space,
        output=output,
        watermark=manifest_record(export_id, fingerprint, carrier),
        **records,
    )
    if spec.animated:
        manifest["animation"] = {
            "frames": len(zs),
            "fps": fps,
            "loop": True,
            "latents": mf.encode_latents(zs, space),
        }
    data = sign_c2pa(encode(manifest), spec.mime, manifest, identity, title=path.name)
    if animfile.frames_sha256(_decode(data, fmt, name)) != output["pixels_sha256"]:
        raise RuntimeError(f"{fmt} encoding is not deterministic here: the pixel hash would be wrong")
    write_bytes(path, data, exclusive=not overwrite)  # another run may have written it meanwhile
    return ExportResult(path, manifest, export_id, len(decoded))


def model_record(bundle: Bundle) -> dict[str, Any]:
    """The manifest's `model` record: name, weight and config hashes, native resolution."""
    return {
        "name": bundle.name,
        "weights_sha256": bundle.weights_sha256,
        "config_sha256": bundle.config_sha256,
        "resolution": bundle.config.resolution,
    }


def _encoder(
    frames: list[np.ndarray], fmt: str, quality: int | None, fps: float | None
) -> Callable[[dict[str, Any] | None], bytes]:
    """manifest (or None) -> the file's bytes in `fmt`, carrying the manifest's unsigned copy."""
    if fmt == "gif":
        # Quantise once, so the file with the manifest comment has exactly the pixels hashed before.
        images = animfile.quantise_gif_frames(frames)
        return lambda m: animfile.encode_gif(images, fps, None if m is None else mf.dumps(m))
    if fmt == "mp4":
        data = animfile.encode_mp4(frames, fps)  # an MP4 carries the manifest only in its C2PA signature
        return lambda m: data
    return lambda m: encode_image(
        frames[0], fmt, quality, *(() if m is None else (mf.dumps(m), mf.build_xmp(m)))
    )


def _decode(data: bytes, fmt: str, name: str) -> list[np.ndarray]:
    """The frames a viewer decodes from `data`: [one (H, W, 3) uint8 image] or every animation frame."""
    if FORMATS[fmt].animated:
        return animfile.decode_animation(data, name).frames
    return [decode_bytes(data, name).pixels]


def _target(
    folder: str | os.PathLike, name: str, fmt: str | None, allowed: tuple[str, ...]
) -> tuple[Path, str]:
    """folder/name after checking that `name` cannot escape `folder`, and its format (one of `allowed`)."""
    check_export_name(name)
    suffix_fmt = SUFFIXES.get(Path(name).suffix.lower())
    fmt = fmt.lower().replace("jpg", "jpeg") if fmt else suffix_fmt
    if fmt not in allowed:
        if FORMATS[allowed[0]].animated:
            kinds = "an animation is a " + " or ".join(FORMATS[f].suffix for f in allowed) + " file"
        else:
            kinds = "format must be " + ", ".join(allowed[:-1]) + f" or {allowed[-1]}"
        raise LatentkitError(f"export {name!r}: {kinds} (from the name or format=)")
    if suffix_fmt != fmt:
        raise LatentkitError(f"export {name!r}: the suffix does not match format {fmt!r}")
    return Path(folder) / name, fmt


def check_export_name(name: str) -> None:
    """Refuse (`LatentkitError`) an export name that is not a plain file name: it could escape the folder."""
    bad = not name or name in (".", "..") or "/" in name or "\\" in name or "\0" in name
    if bad or os.path.isabs(name) or Path(name).name != name:
        raise LatentkitError(f"export name {name!r}: must be a plain file name inside the output folder")


def _check_size(size: int, fmt: str) -> None:
    spec = FORMATS[fmt]
    if not spec.min_size <= size <= spec.max_size or (spec.even and size % 2):
        what = "animation" if spec.animated else "export"
        even = f" and even for {fmt.upper()}" if spec.even else ""
        raise LatentkitError(
            f"{what} size {size}: must be between {spec.min_size} and {spec.max_size} pixels{even}"
        )


def _check_quality(quality: int | None, fmt: str) -> int | None:
    """The quality to record: the format's default when None; None for formats without one."""
    default = FORMATS[fmt].quality
    if default is None:
        return None
    quality = default if quality is None else quality
    if not 1 <= quality <= 100:
        raise LatentkitError(f"export quality {quality}: must be between 1 and 100")
    return quality


def _check_fps(fps: float | None) -> float:
    if fps is None or not animfile.MIN_FPS <= float(fps) <= animfile.MAX_FPS:
        raise LatentkitError(
            f"animation fps {fps}: must be between {animfile.MIN_FPS:g} and {animfile.MAX_FPS:g}"
        )
    return float(fps)


def _check_latents(
    z: np.ndarray | torch.Tensor, bundle: Bundle, space: str, source: str, batch: bool = False
) -> np.ndarray:
    """One latent of `space` for `bundle`, float32 and finite (or with `batch`, (N, ...) of them, the
    caller checks N and values); else `LatentkitError` naming `source`."""
    if isinstance(z, torch.Tensor):
        z = z.detach().cpu().numpy()
    one = latent_shape(bundle.generator, check_space(bundle.generator, space, source))
    try:
        z = np.asarray(z, dtype=np.float32)
    except (TypeError, ValueError):
        raise LatentkitError(f"{source}: not a numeric array") from None
    if not batch and z.shape == (1, *one):
        z = z[0]  # a batch of one is one latent
    if z.ndim != len(one) + batch or z.shape[batch:] != one:
        need = ("frames", *one) if batch else one
        raise LatentkitError(f"{source}: shape {z.shape}, the model needs {need} ({space})".replace("'", ""))
    if not batch and not np.isfinite(z).all():
        raise LatentkitError(f"{source}: contains NaN or infinity")
    return z


def check_frame_latents(zs: np.ndarray | torch.Tensor, bundle: Bundle, space: str = "z") -> np.ndarray:
    """zs as (N, *one latent of `space`) float32 with 1 <= N <= MAX_FRAMES and finite values, else
    `LatentkitError`."""
    if isinstance(zs, torch.Tensor):
        zs = zs.detach().cpu().numpy()
    zs = _check_latents(zs, bundle, space, "animation latents", batch=True)
    if len(zs) == 0:
        raise LatentkitError("animation latents: no frames (need at least 1)")
    if len(zs) > animfile.MAX_FRAMES:
        raise LatentkitError(
            f"animation latents: {len(zs)} frames is over the {animfile.MAX_FRAMES}-frame limit"
        )
    if not np.isfinite(zs).all():
        raise LatentkitError("animation latents: contain NaN or infinity")
    return zs
