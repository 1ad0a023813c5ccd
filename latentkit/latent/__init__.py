"""Latent-space tools: sampling, interpolation, directions (fitted and unsupervised), editing, inversion.

sampling.py     seeds -> z (`sample_latent`, `parse_seeds`)
interpolate.py  lerp, slerp, truncation, keyframe paths
finders.py      direction finders (scikit-learn estimators) and `hold_fixed`
directions.py   direction records, their file, the fitting pipeline
editor.py       `Editor`: edit, render and export latents of one model
report.py       how clean each direction is (sweeps, grids, curves)
inversion.py    project an image into the latent space
encoder.py      a learned starting guess for inversion
recipe.py       batch-edit recipes
"""

from __future__ import annotations

from latentkit.latent.directions import Direction, fit_directions, load_directions, save_directions
from latentkit.latent.editor import Editor, load_latents, save_latents
from latentkit.latent.finders import (
    GANSpacePCA,
    LogisticDirection,
    RidgeDirection,
    SeFa,
    SVMDirection,
    hold_fixed,
)
from latentkit.latent.interpolate import keyframe_path, lerp, slerp, truncate
from latentkit.latent.inversion import Projection, project, project_image, save_projection
from latentkit.latent.report import direction_report
from latentkit.latent.sampling import parse_seeds, sample_latent

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
