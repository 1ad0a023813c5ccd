"""Evaluate a generator against real data: `evaluate(generator, dataset, features, metrics, samples)`.

Images are embedded with latentkit's own feature network (a `FeatureNet` trained on labelled real
data: no Inception weights, nothing downloaded). The real images are split into two disjoint halves
A and B of n samples each; the generator's n samples are scored against A, and B against A gives the
"real vs real" floor at the same sample size, which is what a perfect generator would score (FID is
biased upwards for finite n, so compare with the floor, not with 0). 2D point data is scored on the
points themselves, plus the mode metrics of the ring/grid benchmarks.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from latentkit.data import Dataset
from latentkit.errors import LatentkitError
from latentkit.metrics import METRICS, compute_metrics
from latentkit.metrics.modes import mode_metrics
from latentkit.pixels import to_uint8
from latentkit.predictor import FeatureNet, extract_features

MIN_SAMPLES = 20  # k-NN metrics need several neighbours per point; FID needs a covariance


@torch.no_grad()
def generate(generator: nn.Module, n: int, seed: int = 0, batch_size: int = 256) -> torch.Tensor:
    """n samples of `generator` (eval mode) from z ~ N(0, I) seeded by `seed`.

    Returns images (n, C, H, W) uint8 or points (n, D) float32, on the CPU.
    """
    gen = torch.Generator().manual_seed(seed)
    device = next(generator.parameters()).device
    parts = []
    for start in range(0, n, batch_size):
        z = torch.randn(min(batch_size, n - start), generator.latent_dim, generator=gen)
        x = generator(z.to(device)).float().cpu()
        parts.append(to_uint8(x) if x.dim() == 4 else x)
    return torch.cat(parts)


def evaluate(
    generator: nn.Module,
    data: Dataset,
    features: FeatureNet | None,
    metrics: Sequence[str] = ("fid", "kid", "pr", "dc"),
    samples: int = 10_000,
    seed: int = 0,
) -> dict:
    """Score `generator` on `data`. Returns {"metrics", "real_vs_real", "samples", ...} (JSON-able).

    `samples` is the per-side sample count n; the dataset must hold at least 2n samples (halves A, B).
    `features` is required for images and ignored for points.
    """
    for name in metrics:
        if name not in METRICS and name != "modes":
            raise LatentkitError(
                f"metric {name!r}: unknown, expected one of {', '.join([*METRICS, 'modes'])}"
            )
    n = min(samples, len(data) // 2)
    if n < MIN_SAMPLES:
        raise LatentkitError(
            f"evaluate: need at least {2 * MIN_SAMPLES} real samples for two halves of {MIN_SAMPLES}, "
            f"the dataset has {len(data)} (and --samples {samples})"
        )
    fake = generate(generator, n, seed)
    if fake.shape[1:] != data.data.shape[1:]:
        raise LatentkitError(
            f"evaluate: the model makes samples of shape {tuple(fake.shape[1:])} but the dataset's are "
            f"{tuple(data.data.shape[1:])} (train or load the dataset at the model's resolution)"
        )
    order = torch.from_numpy(np.random.default_rng(seed).permutation(len(data))[: 2 * n])
    real_a, real_b = data.data[order[:n]], data.data[order[n:]]
    if data.is_image:
        if features is None:
            raise LatentkitError("evaluate: image metrics need a feature network (--features PATH)")
        embed = lambda x: extract_features(features, x)  # noqa: E731
    else:
        embed = lambda x: x.float()  # noqa: E731
    fa, fb, ff = embed(real_a), embed(real_b), embed(fake)
    names = [m for m in metrics if m != "modes"]
    result = {
        "samples": n,
        "seed": seed,
        "metrics": compute_metrics(names, fa, ff),
        "real_vs_real": compute_metrics(names, fa, fb),
    }
    if "modes" in metrics:
        kind = data.info.get("source") or data.name
        if kind not in ("ring", "grid"):
            raise LatentkitError(f"metric 'modes' is for the ring and grid datasets, not {data.name!r}")
        result["metrics"].update(mode_metrics(fake.numpy(), kind))
        result["real_vs_real"].update(mode_metrics(real_b.numpy(), kind))
    return result
