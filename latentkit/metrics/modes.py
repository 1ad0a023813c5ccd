"""Mode-collapse metrics for the benchmarks whose modes are known: 2D mixtures and stacked digits.

2D "ring" / "grid" (VEEGAN, Srivastava et al. 2017; PacGAN, Lin et al. 2018, arXiv:1712.04086):
each generated point is assigned to its nearest mode; it is *high quality* when it lies within 3 std
of that mode. A mode is *covered* when at least `min_count` high-quality samples land on it. The
default `min_count=1` is the rule of PacGAN's released evaluation code (fjxmlzn/PacGAN,
`synthetic_data_experiments/.../extensions.py`: mode coverage = number of modes with a non-zero
count of high-quality samples); pass a larger value for a stricter count. *Reverse KL* is
KL(p_gen || uniform) between the mode histogram of the high-quality samples and the uniform
distribution over all modes: 0 for a perfect generator, log K when a single mode is produced.

Stacked digits (Stacked MNIST in Metz et al. 2016, VEEGAN and PacGAN's Table 2): each image's mode is
the three-digit number read channel by channel by a digit classifier; *modes covered* is the number
of the 1000 modes produced at least once and *kl* is KL(p_gen || uniform over 1000) of the histogram.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from latentkit.data.mixtures import assign_modes, mixture_means, mixture_std
from latentkit.errors import LatentkitError
from latentkit.predictor import FeatureNet, predict_channels

STACKED_MODES = 1000


def kl_to_uniform(counts: np.ndarray) -> float:
    """KL(p || uniform) in nats for a histogram `counts` (K,) with a positive total; p = counts / total."""
    counts = np.asarray(counts, dtype=np.float64)
    p = counts / counts.sum()
    nz = p > 0
    return float(np.sum(p[nz] * np.log(p[nz] * len(p))))


def mode_metrics(points: np.ndarray | torch.Tensor, name: str, min_count: int = 1) -> dict[str, float]:
    """Mode coverage of 2D samples `points` (N, 2) for mixture `name` ("ring" or "grid").

    Returns:
        modes_covered: number of modes with >= `min_count` high-quality samples (of 8 or 25).
        high_quality: fraction of samples within 3 std of their nearest mode.
        reverse_kl: KL(histogram of high-quality samples over modes || uniform), in nats; inf when
            no sample is high quality.
    """
    modes, distance = assign_modes(points, name)
    if len(modes) == 0:
        raise LatentkitError("mode_metrics: need at least 1 sample, got 0")
    good = distance <= 3.0 * mixture_std(name)
    counts = np.bincount(modes[good], minlength=len(mixture_means(name)))
    return {
        "modes_covered": int((counts >= min_count).sum()),
        "high_quality": float(good.mean()),
        "reverse_kl": kl_to_uniform(counts) if good.any() else float("inf"),
    }


def stacked_mode_metrics(mode_ids: np.ndarray | torch.Tensor) -> dict[str, Any]:
    """Coverage of the 1000 stacked-digit modes by generated images' mode ids (N,) in 0..999.

    Returns {"modes_covered": modes seen at least once, "kl": KL(p_gen || uniform) in nats,
    "channel_kl": [KL of the R, G, B digit frequencies to uniform over 10], nats}. The joint "kl" is
    the three channel KLs plus the channels' dependence (their total correlation), so the split says
    whether a generator misweights digits or ties the channels together.
    """
    if isinstance(mode_ids, torch.Tensor):
        mode_ids = mode_ids.detach().cpu().numpy()
    ids = np.asarray(mode_ids).reshape(-1)
    if len(ids) == 0:
        raise LatentkitError("stacked_mode_metrics: need at least 1 mode id, got 0")
    if np.any(ids != np.round(ids)) or ids.min() < 0 or ids.max() >= STACKED_MODES:
        raise LatentkitError(f"stacked_mode_metrics: mode ids must be integers in 0..{STACKED_MODES - 1}")
    ids = ids.astype(np.int64)
    counts = np.bincount(ids, minlength=STACKED_MODES)
    digits = (ids // 100, ids // 10 % 10, ids % 10)
    return {
        "modes_covered": int((counts > 0).sum()),
        "kl": kl_to_uniform(counts),
        "channel_kl": [kl_to_uniform(np.bincount(d, minlength=10)) for d in digits],
    }


def stacked_mode_ids(
    net: FeatureNet, images: torch.Tensor, attribute: str = "digit", batch_size: int = 256
) -> np.ndarray:
    """Mode id 100 * d_r + 10 * d_g + d_b of stacked-digit images (N, 3, H, W), uint8 or float [-1, 1].

    `net` is a single-channel `FeatureNet` trained on plain digits (`load_dataset("digits")`, label
    "digit"); each colour channel is classified as its own grey image. Returns (N,) int64.
    """
    digits = predict_channels(net, images, attribute, batch_size)  # (N, 3)
    if digits.shape[1] != 3:
        raise LatentkitError(f"stacked_mode_ids: expected 3-channel images, got {digits.shape[1]} channels")
    return (100 * digits[:, 0] + 10 * digits[:, 1] + digits[:, 2]).astype(np.int64)
