"""The generator's exponential moving average (EMA): what samples and the saved bundle use.

The average is set by its half-life in images, not per step, so it means the same at any batch size
(Karras et al. 2020, stylegan2-ada `training/training_loop.py`):

    half_life = ema_kimg * 1000 images, ramped up as min(half_life, images_seen * ema_rampup)
    beta      = 0.5 ** (batch / half_life)        G_ema <- beta * G_ema + (1 - beta) * G

The ramp-up keeps the average from being mostly the random initial weights early on.
Runs saved before this rule hold a fixed decay per step (`ema`), which keeps its old warm-up,
min(ema, (1 + step) / (10 + step)), so they resume bit-identically.
"""

from __future__ import annotations

import torch
from torch import nn

DEFAULT_KIMG = 10.0  # images: stylegan2-ada's ema_kimg (at its reference batch of 32)
DEFAULT_KIMG_POINTS = 0.0  # 2D points: none (an average of a generator that moves between modes
# lands between them, as the ring's centre)


def half_life_beta(images_seen: int, batch: int, half_life_kimg: float, rampup: float) -> float:
    """beta of one EMA update after `images_seen` images (before this batch), batch of `batch` images."""
    if half_life_kimg <= 0:
        return 0.0
    half_life = half_life_kimg * 1000.0
    if rampup > 0:
        half_life = min(half_life, images_seen * rampup)
    return 0.5 ** (batch / max(half_life, 1e-8))


def ema_decay(
    ema: float | None,
    ema_kimg: float | None,
    rampup: float,
    step: int,
    batch: int,
    default_kimg: float = DEFAULT_KIMG,
) -> float:
    """The decay of the update after generator step `step` (0-based), `batch` images per step in all.

    A fixed decay `ema` (runs saved before half-lives) wins with its warm-up; else the half-life rule
    with `ema_kimg` (None: `default_kimg`, DEFAULT_KIMG or DEFAULT_KIMG_POINTS). 0 turns the average
    off (G_ema is a copy of G).
    """
    if ema is not None:
        return min(ema, (1 + step) / (10 + step))
    kimg = default_kimg if ema_kimg is None else ema_kimg
    return half_life_beta(step * batch, batch, kimg, rampup)


def ema_is_off(ema: float | None, ema_kimg: float | None, default_kimg: float = DEFAULT_KIMG) -> bool:
    """Whether every decay `ema_decay` gives is 0, so G_ema is just a copy of G."""
    if ema is not None:
        return ema == 0
    return (default_kimg if ema_kimg is None else ema_kimg) <= 0


@torch.no_grad()
def update_ema(G_ema: nn.Module, G: nn.Module, decay: float) -> None:
    """G_ema <- decay * G_ema + (1 - decay) * G for parameters; buffers are copied."""
    ema_params, params = list(G_ema.parameters()), list(G.parameters())
    if len(ema_params) != len(params):
        raise ValueError("update_ema: G_ema and G have different parameters")
    torch._foreach_lerp_(ema_params, params, 1.0 - decay)
    for be, b in zip(G_ema.buffers(), G.buffers(), strict=True):
        be.copy_(b)
