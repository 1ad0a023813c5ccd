"""Per-dataset-family recipes: the options a run takes when the user does not set them.

One table, `RECIPES`, by dataset family (`FAMILY_OF`); `apply_recipe(values)` fills in the options
missing from `values` (a dict of user options, as from the command line or a config file) and leaves
every option the user gave alone. A recipe is a loss with its settings, so a run whose user chose
another loss takes none of it (that loss's published defaults apply instead). Datasets without a
recipe (the image sets, for now) keep TrainConfig's defaults. The README's "Training" section shows
this table and the measurements behind it.

Points (ring, grid): R3GAN's objective (Huang et al. 2024): RpGAN + R1 + R2 with Adam betas (0, 0.99)
and no normalisation, with a larger learning rate and gamma that both decay to a tenth (cosine) over
a short run; no EMA (the default for 2D data).
"""

from __future__ import annotations

import copy
from typing import Any

from latentkit.train.config import TrainConfig

# R3GAN's objective on the MLPs; the grid (25 modes, 4x the ring's span) needs longer to settle.
RING: dict[str, Any] = {
    "loss": "rpgan",
    "r1_gamma": 0.1,
    "r2_gamma": 0.1,
    "gamma_schedule": "cosine",
    "lr_g": 1e-3,
    "lr_d": 1e-3,
    "lr_schedule": "cosine",
    "beta1": 0.0,
    "beta2": 0.99,
    "batch_size": 100,
    "steps": 9000,
    "model": {"hidden": 256, "depth": 3, "latent_dim": 64},
}
GRID: dict[str, Any] = {**RING, "steps": 20_000}
RECIPES: dict[str, dict[str, Any]] = {"ring": RING, "grid": GRID}
FAMILY_OF: dict[str, str] = {"ring": "ring", "grid": "grid"}


def recipe_for(dataset: str) -> dict[str, Any]:
    """The recipe of `dataset`'s family (a copy; empty when it has none)."""
    return copy.deepcopy(RECIPES.get(FAMILY_OF.get(dataset, ""), {}))


def apply_recipe(values: dict[str, Any]) -> dict[str, Any]:
    """`values` with its dataset family's recipe filling the options it does not set (a new dict).

    `values` holds TrainConfig fields (and `model`, a dict of model options); "dataset" defaults to
    TrainConfig's. No recipe applies when `values` chooses a loss other than the recipe's.
    """
    recipe = recipe_for(values.get("dataset", TrainConfig.dataset))
    if not recipe or values.get("loss", recipe["loss"]) != recipe["loss"]:
        return dict(values)
    out = {**recipe, **{k: v for k, v in values.items() if k != "model"}}
    out["model"] = {**recipe.get("model", {}), **values.get("model", {})}
    return out
