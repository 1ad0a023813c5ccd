"""Sample-quality metrics on features, pluggable by name (like stylegan2-ada's `metric_main`).

    from latentkit.predictor import extract_features     # net: a trained FeatureNet
    feats_real = extract_features(net, real_images)
    feats_fake = extract_features(net, generated_images)
    compute_metrics(["fid", "kid", "pr", "dc"], feats_real, feats_fake)
    real_floor(feats_real, ["fid", "kid"])               # what "as good as real data" scores

Every metric maps (real (N, D), fake (M, D)) to a dict of named floats; `compute_metrics` merges them.
Mode-collapse metrics for benchmarks with known modes live in `latentkit.metrics.modes`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch

from latentkit.errors import LatentkitError
from latentkit.metrics.disentangle import (
    Dependency,
    Separability,
    attribute_dependency,
    direction_cosines,
    linear_separability,
    separability_by_space,
)
from latentkit.metrics.fid import feature_stats, fid, frechet_distance, kid
from latentkit.metrics.knn import density_coverage, intrinsic_dimensions, precision_recall, twonn_dimension
from latentkit.metrics.modes import mode_metrics, stacked_mode_ids, stacked_mode_metrics

Features = np.ndarray | torch.Tensor


def _fid(real: Features, fake: Features) -> dict[str, float]:
    return {"fid": fid(real, fake)}


def _kid(real: Features, fake: Features) -> dict[str, float]:
    mean, std = kid(real, fake)
    return {"kid": mean, "kid_std": std}


METRICS: dict[str, Callable[[Features, Features], dict[str, float]]] = {
    "fid": _fid,  # Fréchet distance, lower is better
    "kid": _kid,  # unbiased MMD^2 (cubic kernel), lower is better
    "pr": precision_recall,  # precision (fidelity) and recall (diversity), k = 3, higher is better
    "dc": density_coverage,  # density (~1 ideal) and coverage, k = 5
    "dim": intrinsic_dimensions,  # TwoNN dimension of each set; fake below real = a collapsed sheet
}


def compute_metrics(names: Sequence[str], real_feats: Features, fake_feats: Features) -> dict[str, float]:
    """Run the metrics `names` (keys of `METRICS`) on real (N, D) and fake (M, D) features.

    Returns one flat dict, e.g. {"fid": ..., "kid": ..., "kid_std": ..., "precision": ..., "recall": ...}.
    """
    unknown = [n for n in names if n not in METRICS]
    if unknown:
        raise LatentkitError(f"metric {unknown[0]!r}: unknown, expected one of {', '.join(METRICS)}")
    results: dict[str, float] = {}
    for name in names:
        results.update(METRICS[name](real_feats, fake_feats))
    return results


def real_floor(real_feats: Features, names: Sequence[str], seed: int = 0) -> dict[str, float]:
    """The same metrics between two disjoint random halves of the real features: the best score a
    generator can be expected to reach with this many samples (FID in particular is biased upwards
    for small sets, so compare a generator's FID with this floor rather than with 0)."""
    order = np.random.default_rng(seed).permutation(len(real_feats))
    if isinstance(real_feats, torch.Tensor):
        order = torch.from_numpy(order)
    half = len(real_feats) // 2
    return compute_metrics(names, real_feats[order[:half]], real_feats[order[half : 2 * half]])


__all__ = [
    "METRICS",
    "Dependency",
    "Separability",
    "attribute_dependency",
    "compute_metrics",
    "density_coverage",
    "direction_cosines",
    "feature_stats",
    "fid",
    "frechet_distance",
    "intrinsic_dimensions",
    "kid",
    "linear_separability",
    "mode_metrics",
    "precision_recall",
    "real_floor",
    "separability_by_space",
    "stacked_mode_ids",
    "stacked_mode_metrics",
    "twonn_dimension",
]
