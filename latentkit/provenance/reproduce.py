"""Re-create an exported image from its own manifest and check that the pixels come out identical.

The manifest holds the exact latent, the model's weight hash, the output size/format/quality and the
watermark's export id, so re-running `export_image` with them must give the same decoded pixels on
the same platform and torch version (CPU inference is deterministic there).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import latentkit
from latentkit.errors import LatentkitError
from latentkit.models import load_bundle
from latentkit.provenance import manifest as mf
from latentkit.provenance.export import export_image
from latentkit.provenance.keys import SigningIdentity
from latentkit.provenance.verify import verify_image

PRETRAINED = Path(latentkit.__file__).resolve().parent.parent / "pretrained"


@dataclass
class ReproduceResult:
    """The copy written, whether its pixels equal the original's recorded ones, and any caveats."""

    path: Path
    identical: bool
    original_sha256: str
    copy_sha256: str
    notes: list[str] = field(default_factory=list)


def reproduce_image(
    image: str | os.PathLike,
    out: str | os.PathLike,
    model: str | os.PathLike | None = None,
    overwrite: bool = False,
    identity: SigningIdentity | None = None,
) -> ReproduceResult:
    """Re-render `image` from its manifest with `model` (default: the pretrained model of that name)."""
    report = verify_image(image)
    m = report.manifest
    if m is None:
        raise LatentkitError(
            f"{image}: no latentkit manifest to reproduce from ({', '.join(report.problems())})"
        )
    notes = [] if report.verified else [f"the original is not verified: {'; '.join(report.problems())}"]
    out = Path(out)
    output = m["output"]
    fmt = _format_for(out, output["format"])
    bundle = load_bundle(model if model is not None else _default_model(m["model"], image))
    if bundle.weights_sha256 != m["model"].get("weights_sha256"):
        raise LatentkitError(
            f"{bundle.path}: generator weights differ from those that made {image} (sha256 "
            f"{bundle.weights_sha256[:12]}, the manifest says {str(m['model'].get('weights_sha256'))[:12]})"
        )
    if bundle.config_sha256 != m["model"].get("config_sha256"):
        notes.append("the bundle's config.json differs from the recorded one (the weights match)")
    result = export_image(
        bundle,
        mf.decode_latent(m["latent"]),
        out.parent,
        out.name,
        seed=m["latent"].get("seed"),
        edits=m.get("edits"),
        interpolation=m.get("interpolation"),
        size=int(output["width"]),
        format=fmt,
        quality=output.get("quality"),
        overwrite=overwrite,
        identity=identity,
        export_id=m["watermark"].get("export_id"),
    )
    original, copy = output["pixels_sha256"], result.manifest["output"]["pixels_sha256"]
    return ReproduceResult(result.path, original == copy, original, copy, notes)


def _format_for(out: Path, recorded: str) -> str:
    """The recorded format, after checking that --out's suffix names it (JPEG/WebP pixels are lossy)."""
    suffix = out.suffix.lower()
    wanted = {"png": ".png", "jpeg": ".jpg or .jpeg", "webp": ".webp"}[recorded]
    if suffix not in wanted.split(" or "):
        raise LatentkitError(f"--out {out}: the original is {recorded.upper()}; give a {wanted} name")
    return recorded


def _default_model(model: dict, image: str | os.PathLike) -> Path:
    name = str(model.get("name", ""))
    candidate = PRETRAINED / name
    if name and Path(name).name == name and candidate.is_dir():
        return candidate
    raise LatentkitError(f"{image} was made by model {name!r}; pass --model BUNDLE (its folder)")
