"""Animations through the export path: `export_animation` writes one signed, watermarked GIF or MP4.

    zs (N, D) --render each (as export_image)--> watermark each with ONE export id --> encode
    (GIF: per-frame palette; MP4: H.264) --> decode, hash every frame --> manifest (GIF comment)
    --C2PA sign (last)--> temp file --rename--> folder/name

The manifest is an image manifest (`latent` is the first frame's) plus an `animation` record:

    "animation": {"frames": 30, "fps": 12.0, "loop": true,
                  "latents": {"count": 30, "dim": 128, "dtype": "float32", "byteorder": "little",
                              "vector_b64": ..., "sha256": ...}}     # every frame's exact z, (N, D)

and `output.pixels_sha256` is the SHA-256 of all decoded frames, an (N', H, W, 3) uint8 array in
order (`animfile.frames_sha256`; N' < N only when a GIF stored identical neighbours once), with
`output.frames` = N'. Keyframes, method and t values go in `interpolation`, as the caller gives them;
`latentkit reproduce` re-renders from the exact per-frame latents.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from latentkit.errors import LatentkitError
from latentkit.io import write_bytes
from latentkit.models import Bundle
from latentkit.provenance import animfile
from latentkit.provenance import manifest as mf
from latentkit.provenance.c2pa_sign import sign_c2pa
from latentkit.provenance.export import DEFAULT_SIZE, check_export_name, render
from latentkit.provenance.keys import SigningIdentity, load_identity
from latentkit.provenance.watermark import SCHEME, embed_watermark, new_export_id

DEFAULT_FPS = 12.0
MIN_FPS, MAX_FPS = 1.0, 50.0  # browsers slow GIF delays under 20 ms down to 100 ms
MIN_SIZE, MAX_SIZE = 64, 1024


@dataclass
class AnimationResult:
    """What `export_animation` wrote: the file, its manifest, the export id and the decoded frame count."""

    path: Path
    manifest: dict[str, Any]
    export_id: str
    frames: int


def export_animation(
    bundle: Bundle,
    zs: np.ndarray | torch.Tensor,
    folder: str | os.PathLike,
    name: str,
    *,
    fps: float = DEFAULT_FPS,
    edits: list[dict[str, Any]] | None = None,
    interpolation: dict[str, Any] | None = None,
    size: int = DEFAULT_SIZE,
    format: str | None = None,
    overwrite: bool = False,
    identity: SigningIdentity | None = None,
    export_id: str | None = None,
) -> AnimationResult:
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
    path, fmt = _target(folder, name, format)
    if path.exists() and not overwrite:
        raise LatentkitError(f"{path}: already exists (pass overwrite=True / --overwrite to replace it)")
    if not MIN_SIZE <= size <= MAX_SIZE or (fmt == "mp4" and size % 2):
        even = " and even for MP4" if fmt == "mp4" else ""
        raise LatentkitError(f"animation size {size}: must be between {MIN_SIZE} and {MAX_SIZE} pixels{even}")
    if not MIN_FPS <= float(fps) <= MAX_FPS:
        raise LatentkitError(f"animation fps {fps}: must be between {MIN_FPS:g} and {MAX_FPS:g}")
    zs = check_frame_latents(zs, bundle.config.latent_dim)
    if len(zs) * size * size > animfile.MAX_TOTAL_PIXELS:
        raise LatentkitError(f"animation: {len(zs)} frames of {size} px is too much; use fewer or smaller")
    if fmt == "mp4" and not animfile.mp4_available():
        raise LatentkitError(animfile.VIDEO_HINT)
    identity = identity or load_identity()
    export_id = export_id or new_export_id()
    fps = float(fps)

    frames = [embed_watermark(render(bundle, z, size), export_id) for z in zs]
    # GIF: quantise once, so the file with the manifest comment has exactly the pixels hashed here.
    images = animfile.quantise_gif_frames(frames) if fmt == "gif" else None
    data = animfile.encode_gif(images, fps) if fmt == "gif" else animfile.encode_mp4(frames, fps)
    decoded = animfile.decode_animation(data, name).frames
    manifest = mf.build_manifest(
        model={
            "name": bundle.name,
            "weights_sha256": bundle.weights_sha256,
            "config_sha256": bundle.config_sha256,
            "resolution": bundle.config.resolution,
        },
        z=zs[0],
        seed=None,
        edits=edits,
        interpolation=interpolation,
        output={
            "width": size,
            "height": size,
            "format": fmt,
            "quality": None,
            "codec": "gif, 256-colour palette per frame"
            if fmt == "gif"
            else f"h264 yuv420p crf {animfile.MP4_CRF}",
            "upscale": "bicubic",
            "pixels_sha256": animfile.frames_sha256(decoded),
            "frames": len(decoded),
        },
        watermark={"scheme": SCHEME, "export_id": export_id},
    )
    manifest["animation"] = {"frames": len(zs), "fps": fps, "loop": True, "latents": encode_latents(zs)}
    if fmt == "gif":
        data = animfile.encode_gif(images, fps, mf.dumps(manifest))
    data = sign_c2pa(data, animfile.FORMATS[fmt], manifest, identity, title=path.name)
    if (
        animfile.frames_sha256(animfile.decode_animation(data, name).frames)
        != manifest["output"]["pixels_sha256"]
    ):
        raise RuntimeError(f"{fmt} encoding is not deterministic here: the pixel hash would be wrong")
    write_bytes(path, data)
    return AnimationResult(path, manifest, export_id, len(decoded))


def encode_latents(zs: np.ndarray) -> dict[str, Any]:
    """The `animation.latents` record of (N, D) latents: exact float32 little-endian base64 + SHA-256."""
    return {"count": int(zs.shape[0]), **mf.encode_latent(zs), "dim": int(zs.shape[1])}


def decode_latents(record: dict[str, Any]) -> np.ndarray:
    """The exact (N, D) float32 latents of an `animation.latents` record; checks length and SHA-256."""
    try:
        count, dim = int(record["count"]), int(record["dim"])
    except (KeyError, TypeError, ValueError):
        raise LatentkitError("manifest animation.latents: count or dim missing") from None
    return mf.decode_latent({**record, "dim": count * dim}).reshape(count, dim)


def check_frame_latents(zs: np.ndarray | torch.Tensor, dim: int) -> np.ndarray:
    """zs as (N, dim) float32 with 1 <= N <= MAX_FRAMES and finite values, else `LatentkitError`."""
    if isinstance(zs, torch.Tensor):
        zs = zs.detach().cpu().numpy()
    zs = np.asarray(zs, dtype=np.float32)
    if zs.ndim != 2 or zs.shape[1] != dim:
        raise LatentkitError(f"animation latents: shape {tuple(zs.shape)}, the model needs (frames, {dim})")
    if len(zs) == 0:
        raise LatentkitError("animation latents: no frames (need at least 1)")
    if len(zs) > animfile.MAX_FRAMES:
        raise LatentkitError(
            f"animation latents: {len(zs)} frames is over the {animfile.MAX_FRAMES}-frame limit"
        )
    if not np.isfinite(zs).all():
        raise LatentkitError("animation latents: contain NaN or infinity")
    return zs


def _target(folder: str | os.PathLike, name: str, fmt: str | None) -> tuple[Path, str]:
    """folder/name after checking that `name` cannot escape `folder`, and the animation format."""
    check_export_name(name)
    suffix_fmt = animfile.SUFFIXES.get(Path(name).suffix.lower())
    fmt = fmt.lower() if fmt else suffix_fmt
    if fmt not in animfile.FORMATS:
        raise LatentkitError(
            f"export {name!r}: an animation is a .gif or .mp4 file (from the name or format=)"
        )
    if suffix_fmt != fmt:
        raise LatentkitError(f"export {name!r}: the suffix does not match format {fmt!r}")
    return Path(folder) / name, fmt
