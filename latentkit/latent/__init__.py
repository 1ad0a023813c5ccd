"""Latent-space tools: sampling, interpolation, directions (fitted and unsupervised), editing, inversion.

sampling.py     seeds -> z (`sample_latent`, `parse_seeds`)
interpolate.py  lerp, slerp, truncation, keyframe paths
finders.py      direction finders (scikit-learn estimators)
hold.py         `hold_fixed`: InterFaceGAN's conditional manipulation
directions.py   direction records, their file, the fitting pipeline
editor.py       `Editor`: edit, render and export latents of one model
report.py       how clean each direction is (sweeps, grids, curves)
inversion.py    project an image into the latent space
encoder.py      a learned starting guess for inversion
recipe.py       batch-edit recipes
"""

from __future__ import annotations

import importlib
from typing import Any

# Name -> its module. Imported on first use (PEP 562), so `import latentkit.latent.editor` does not
# pay for scikit-learn (finders) or the report's figures: every latentkit command starts sooner.
_HOMES = {
    "Direction": "directions", "fit_directions": "directions", "load_directions": "directions",
    "save_directions": "directions", "Editor": "editor", "load_latents": "editor", "save_latents": "editor",
    "GANSpacePCA": "finders", "LogisticDirection": "finders", "RidgeDirection": "finders", "SeFa": "finders",
    "SVMDirection": "finders", "hold_fixed": "hold", "keyframe_path": "interpolate", "lerp": "interpolate",
    "slerp": "interpolate", "truncate": "interpolate", "Projection": "inversion", "project": "inversion",
    "project_image": "inversion", "save_projection": "inversion", "direction_report": "report",
    "parse_seeds": "sampling", "sample_latent": "sampling",
}  # fmt: skip


def __getattr__(name: str) -> Any:
    if name not in _HOMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_HOMES[name]}"), name)


__all__ = [
    "Direction",
    "Editor",
    "GANSpacePCA",
    "LogisticDirection",
    "Projection",
    "RidgeDirection",
    "SVMDirection",
    "SeFa",
    "direction_report",
    "fit_directions",
    "hold_fixed",
    "keyframe_path",
    "lerp",
    "load_directions",
    "load_latents",
    "parse_seeds",
    "project",
    "project_image",
    "sample_latent",
    "save_directions",
    "save_latents",
    "save_projection",
    "slerp",
    "truncate",
]
