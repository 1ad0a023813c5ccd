"""Fréchet distance (FID) and kernel inception distance (KID) between two sets of features.

FID (Heusel et al. 2017, arXiv:1706.08500) fits a Gaussian to each set and measures

    ||mu_a - mu_b||^2 + tr(S_a) + tr(S_b) - 2 tr((S_a S_b)^(1/2)).

KID (Bińkowski et al. 2018, arXiv:1801.01401) is the unbiased MMD^2 with the cubic polynomial kernel
k(x, y) = (x.y / d + 1)^3, averaged over random subsets; unlike FID it has no bias in the number of
samples, so small sets compare fairly. Names keep the papers' "inception" wording, but latentkit
computes both on the features of its own `FeatureNet`.
"""

from __future__ import annotations

import numpy as np
import torch

from latentkit.errors import LatentkitError


def _as_matrix(feats: np.ndarray | torch.Tensor, name: str) -> np.ndarray:
    """(N, D) float64 numpy array."""
    if isinstance(feats, torch.Tensor):
        feats = feats.detach().cpu().numpy()
    feats = np.asarray(feats, dtype=np.float64)
    if feats.ndim != 2:
        raise LatentkitError(f"{name}: expected features of shape (N, D), got {feats.shape}")
    if not np.isfinite(feats).all():
        raise LatentkitError(f"{name}: features contain NaN or infinity")
    return feats


def feature_stats(feats: np.ndarray | torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """Mean (D,) and unbiased covariance (D, D) of features (N, D), float64; N must be >= 2."""
    feats = _as_matrix(feats, "features")
    if len(feats) < 2:
        raise LatentkitError(f"features: need at least 2 samples for a covariance, got {len(feats)}")
    return feats.mean(axis=0), np.cov(feats, rowvar=False).reshape(feats.shape[1], feats.shape[1])


def _sqrt_psd(s: np.ndarray) -> np.ndarray:
    """Symmetric square root of a positive semi-definite matrix (tiny negative eigenvalues clipped)."""
    w, v = np.linalg.eigh(s)
    return (v * np.sqrt(np.clip(w, 0.0, None))) @ v.T


def frechet_distance(mu1: np.ndarray, s1: np.ndarray, mu2: np.ndarray, s2: np.ndarray) -> float:
    """Fréchet distance between N(mu1, s1) and N(mu2, s2); mu: (D,), s: (D, D) covariances.

    tr((s1 s2)^(1/2)) is computed as the sum of the square roots of the eigenvalues of the symmetric
    PSD matrix s1^(1/2) s2 s1^(1/2), which has the same spectrum as s1 s2. That avoids `sqrtm` of a
    non-symmetric product, whose round-off produces complex parts and negative distances when the
    covariances are singular (fewer samples than dimensions).
    """
    mu1, mu2 = np.asarray(mu1, np.float64), np.asarray(mu2, np.float64)
    s1, s2 = np.asarray(s1, np.float64), np.asarray(s2, np.float64)
    if mu1.shape != mu2.shape or s1.shape != s2.shape or s1.shape != (len(mu1), len(mu1)):
        raise LatentkitError(
            f"frechet_distance: shapes do not match (mu {mu1.shape} vs {mu2.shape}, "
            f"cov {s1.shape} vs {s2.shape})"
        )
    root1 = _sqrt_psd(s1)
    product = root1 @ s2 @ root1
    eig = np.linalg.eigvalsh((product + product.T) / 2)  # symmetrise away round-off
    trace_sqrt = np.sqrt(np.clip(eig, 0.0, None)).sum()
    diff = mu1 - mu2
    value = diff @ diff + np.trace(s1) + np.trace(s2) - 2.0 * trace_sqrt
    return float(max(value, 0.0))  # a true distance is >= 0; clip round-off below it


def fid(feats_a: np.ndarray | torch.Tensor, feats_b: np.ndarray | torch.Tensor) -> float:
    """Fréchet distance between Gaussians fitted to features (Na, D) and (Nb, D)."""
    a, b = _as_matrix(feats_a, "features a"), _as_matrix(feats_b, "features b")
    if a.shape[1] != b.shape[1]:
        raise LatentkitError(f"fid: feature sizes differ ({a.shape[1]} vs {b.shape[1]})")
    return frechet_distance(*feature_stats(a), *feature_stats(b))


def _mmd2_unbiased(x: np.ndarray, y: np.ndarray) -> float:
    """Unbiased MMD^2 between x (m, D) and y (m, D) with k(x, y) = (x.y / D + 1)^3."""
    d = x.shape[1]
    k_xx = (x @ x.T / d + 1.0) ** 3
    k_yy = (y @ y.T / d + 1.0) ** 3
    k_xy = (x @ y.T / d + 1.0) ** 3
    m = len(x)
    # The unbiased estimator drops the diagonals k(x_i, x_i), which pair a sample with itself.
    within = (k_xx.sum() - np.trace(k_xx) + k_yy.sum() - np.trace(k_yy)) / (m * (m - 1))
    return float(within - 2.0 * k_xy.mean())


def kid(
    feats_a: np.ndarray | torch.Tensor,
    feats_b: np.ndarray | torch.Tensor,
    subsets: int = 100,
    subset_size: int = 1000,
    seed: int = 0,
) -> tuple[float, float]:
    """Kernel inception distance: (mean, std) of the unbiased MMD^2 over `subsets` random subsets.

    Each subset draws min(subset_size, Na, Nb) samples from each set without replacement (the same
    protocol as stylegan2-ada's metrics). Same seed -> same value. The mean can be slightly negative
    for identical distributions, since the estimator is unbiased.
    """
    a, b = _as_matrix(feats_a, "features a"), _as_matrix(feats_b, "features b")
    if a.shape[1] != b.shape[1]:
        raise LatentkitError(f"kid: feature sizes differ ({a.shape[1]} vs {b.shape[1]})")
    m = min(subset_size, len(a), len(b))
    if m < 2:
        raise LatentkitError(f"kid: need at least 2 samples in each set, got {len(a)} and {len(b)}")
    if subsets < 1:
        raise LatentkitError(f"kid: subsets must be >= 1, got {subsets}")
    rng = np.random.default_rng(seed)
    values = [
        _mmd2_unbiased(a[rng.choice(len(a), m, replace=False)], b[rng.choice(len(b), m, replace=False)])
        for _ in range(subsets)
    ]
    return float(np.mean(values)), float(np.std(values))
