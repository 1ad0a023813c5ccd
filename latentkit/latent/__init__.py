"""Latent-space tools: sampling, interpolation, directions (fitted and unsupervised), editing, inversion.

Names are imported on first use (PEP 562), so `latentkit generate`, which only needs sampling,
does not pay for scikit-learn.
"""

from __future__ import annotations

import importlib
from typing import Any

_WHERE = {
    "parse_seeds": "sampling",
    "sample_latent": "sampling",
    "keyframe_path": "interpolate",
    "lerp": "interpolate",
    "slerp": "interpolate",
    "truncate": "interpolate",
    "Direction": "directions",
    "GANSpacePCA": "finders",
    "LogisticDirection": "finders",
    "RidgeDirection": "finders",
    "SVMDirection": "finders",
    "SeFa": "finders",
    "condition": "finders",  # deprecated name of hold_fixed
    "hold_fixed": "finders",
    "fit_directions": "directions",
    "load_directions": "directions",
    "save_directions": "directions",
    "Editor": "editor",
    "load_latents": "editor",
    "save_latents": "editor",
    "direction_report": "report",
    "Projection": "inversion",
    "project": "inversion",
    "project_image": "inversion",
    "save_projection": "inversion",
}

__all__ = sorted(_WHERE)


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module 'latentkit.latent' has no attribute {name!r}")
    return getattr(importlib.import_module(f"latentkit.latent.{_WHERE[name]}"), name)


def __dir__() -> list[str]:
    return __all__
