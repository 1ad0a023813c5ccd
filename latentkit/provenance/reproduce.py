"""Re-create an exported image or animation from its own manifest; check the pixels come out identical.

The manifest holds the exact latent, the model's weight hash, the output size/format/quality and the
watermark's export id, so re-running `export_image` with them must give the same decoded pixels on
the same platform and torch version (CPU inference is deterministic there).

The copy is signed with the caller's identity, so it carries only what is proven: identical pixels
prove the model, the latent and the output settings, not the edit, interpolation and projection
records, which are claims. Those are copied only from an original that verifies (its signer is
trusted); from any other file they are dropped, with a note, so an attacker's unsigned manifest
cannot make a victim sign its claims.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from latentkit.errors import LatentkitError
from latentkit.io import check_output
from latentkit.models import load_bundle
from latentkit.models.pretrained import list_pretrained, pretrained_path
from latentkit.provenance import manifest as mf
from latentkit.provenance.export import export_animation, export_image
from latentkit.provenance.imagefile import FORMATS
from latentkit.provenance.keys import SigningIdentity
from latentkit.provenance.verify import verify_image
from latentkit.provenance.watermark import recorded_carrier

UNPROVEN_RECORDS = ("edits", "interpolation", "projection")  # claims a re-render does not check


@dataclass
class ReproduceResult:
    """The copy written, whether its pixels equal the original's recorded ones, whether the original
    verified (else its record is unproven: a differing copy means the record does not match its
    pixels), and any caveats."""

    path: Path
    identical: bool
    original_sha256: str
    copy_sha256: str
    notes: list[str] = field(default_factory=list)
    original_verified: bool = True


def reproduce_image(
    image: str | os.PathLike,
    out: str | os.PathLike,
    model: str | os.PathLike | None = None,
    overwrite: bool = False,
    identity: SigningIdentity | None = None,
) -> ReproduceResult:
    """Re-render `image` from its manifest with `model` (default: the pretrained model of that name).

    `out` follows the one output rule: an existing file only with `overwrite`, never `image` itself.
    """
    check_output(out, overwrite, inputs=[image])
    report = verify_image(image)
    m = report.manifest
    if m is None:
        raise LatentkitError(
            f"{image}: no latentkit manifest to reproduce from ({', '.join(report.problems())})"
        )
    notes = [] if report.verified else [f"the original is not verified: {'; '.join(report.problems())}"]
    if not report.verified:
        claims = [key for key in UNPROVEN_RECORDS if m.get(key)]
        m = {**m, **dict.fromkeys(UNPROVEN_RECORDS)}
        if claims:
            notes.append(f"its {', '.join(claims)} record(s) are not carried into the signed copy")
    out = Path(out)
    output = m["output"]
    _check_recorded(output, m["watermark"], image)
    fmt = _format_for(out, output["format"])
    bundle = load_bundle(model if model is not None else _default_model(m["model"], image))
    if bundle.weights_sha256 != m["model"].get("weights_sha256"):
        raise LatentkitError(
            f"{bundle.path}: generator weights differ from those that made {image} (sha256 "
            f"{bundle.weights_sha256[:12]}, the manifest says {str(m['model'].get('weights_sha256'))[:12]})"
        )
    if bundle.config_sha256 != m["model"].get("config_sha256"):
        notes.append("the bundle's config.json differs from the recorded one (the weights match)")
    if isinstance(m.get("animation"), dict):
        result = _reproduce_animation(m, bundle, out, fmt, overwrite, identity)
    else:
        result = export_image(
            bundle,
            mf.decode_latent(m["latent"]),
            out.parent,
            out.name,
            seed=m["latent"].get("seed"),
            edits=m.get("edits"),
            interpolation=m.get("interpolation"),
            projection=m.get("projection"),
            size=int(output["width"]),
            format=fmt,
            quality=output.get("quality"),
            overwrite=overwrite,
            identity=identity,
            export_id=m["watermark"].get("export_id"),
            space=mf.latent_space(m["latent"]),
            watermark_carrier=recorded_carrier(m["watermark"]),
        )
    original, copy = output["pixels_sha256"], result.manifest["output"]["pixels_sha256"]
    return ReproduceResult(result.path, original == copy, original, copy, notes, report.verified)


def _reproduce_animation(m: dict, bundle, out: Path, fmt: str, overwrite: bool, identity):
    """Re-render an animation from its manifest's exact per-frame latents (`animation.latents`)."""
    anim, output = m["animation"], m["output"]
    try:
        fps = float(anim.get("fps"))
    except (TypeError, ValueError):
        raise LatentkitError(f"manifest animation.fps {anim.get('fps')!r}: not a number") from None
    latents = anim.get("latents") or {}
    return export_animation(
        bundle,
        mf.decode_latents(latents),
        out.parent,
        out.name,
        fps=fps,
        edits=m.get("edits"),
        interpolation=m.get("interpolation"),
        size=int(output["width"]),
        format=fmt,
        overwrite=overwrite,
        identity=identity,
        export_id=m["watermark"].get("export_id"),
        space=mf.latent_space(latents),
        watermark_carrier=recorded_carrier(m["watermark"]),
    )


def _format_for(out: Path, recorded: str) -> str:
    """The recorded format, after checking that --out's suffix names it (JPEG/WebP pixels are lossy)."""
    if recorded not in FORMATS:
        raise LatentkitError(f"--out {out}: the original's format {recorded!r} is not one latentkit writes")
    suffixes = FORMATS[recorded].suffixes
    if out.suffix.lower() not in suffixes:
        raise LatentkitError(
            f"--out {out}: the original is {recorded.upper()}; give a {' or '.join(suffixes)} name"
        )
    return recorded


def _check_recorded(output: dict, watermark: dict, image: str | os.PathLike) -> None:
    """The manifest values `export_image` is called with, checked so a doctored one is one clear line."""
    width, export_id = output.get("width"), watermark.get("export_id")
    if isinstance(width, bool) or not isinstance(width, int):
        raise LatentkitError(f"{image}: manifest output.width {width!r} is not an integer")
    if not isinstance(export_id, str) or re.fullmatch(r"[0-9a-f]{8}|[0-9a-f]{6}", export_id) is None:
        raise LatentkitError(
            f"{image}: manifest watermark.export_id {export_id!r} is not 8 (or 6) hex digits"
        )


def _default_model(model: dict, image: str | os.PathLike) -> Path:
    name = str(model.get("name", ""))
    if name in list_pretrained():
        return pretrained_path(name)
    raise LatentkitError(f"{image} was made by model {name!r}; pass --model BUNDLE (its folder)")
