"""2D Gaussian mixtures: the standard mode-collapse benchmarks.

"ring": 8 Gaussians on the unit circle, std 0.01; "grid": 25 Gaussians on the 5 x 5 grid
{-4, -2, 0, 2, 4}^2, std 0.05. Both with equal mode probabilities, exactly as in VEEGAN
(Srivastava et al., 2017) and PacGAN (Lin et al., 2018), so mode counts and "high-quality sample"
rates are comparable with the papers. A sample counts as high quality when it lies within 3 std of
its nearest mode (see `assign_modes`).
"""

from __future__ import annotations

import numpy as np
import torch

from latentkit.data.base import Dataset
from latentkit.errors import LatentkitError

MIXTURES = ("ring", "grid")


def _check_name(name: str) -> None:
    if name not in MIXTURES:
        raise LatentkitError(f"mixture {name!r}: unknown, expected one of {', '.join(MIXTURES)}")


def mixture_means(name: str) -> np.ndarray:
    """Mode centres of mixture `name` as a (K, 2) float64 array (K = 8 for ring, 25 for grid)."""
    _check_name(name)
    if name == "ring":
        angles = 2 * np.pi * np.arange(8) / 8
        return np.stack([np.cos(angles), np.sin(angles)], axis=1)
    axis = np.array([-4.0, -2.0, 0.0, 2.0, 4.0])
    i, j = np.meshgrid(axis, axis, indexing="ij")
    return np.stack([i.ravel(), j.ravel()], axis=1)


def mixture_std(name: str) -> float:
    """Standard deviation of every mode of mixture `name` (isotropic, in data units)."""
    _check_name(name)
    return 0.01 if name == "ring" else 0.05


def sample_mixture(name: str, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Draw `n` points from mixture `name`.

    Returns:
        points: (n, 2) float32; modes: (n,) int64 index of the Gaussian each point was drawn from.
    """
    means = mixture_means(name)
    modes = rng.integers(0, len(means), size=n, dtype=np.int64)
    points = means[modes] + rng.normal(0.0, mixture_std(name), size=(n, 2))
    return points.astype(np.float32), modes


def assign_modes(points: np.ndarray | torch.Tensor, name: str) -> tuple[np.ndarray, np.ndarray]:
    """Nearest mode of each point and the Euclidean distance to it.

    Args:
        points: (N, 2) array or tensor.
    Returns:
        modes: (N,) int64 index into `mixture_means(name)`; distance: (N,) float64.
    """
    if isinstance(points, torch.Tensor):
        points = points.detach().cpu().numpy()
    points = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    means = mixture_means(name)
    dist = np.linalg.norm(points[:, None, :] - means[None, :, :], axis=2)  # (N, K); K <= 25
    modes = dist.argmin(axis=1)
    return modes.astype(np.int64), dist[np.arange(len(points)), modes]


def load_mixture(name: str, n: int = 100_000, seed: int = 0) -> Dataset:
    """`n` points of mixture `name` as a Dataset of (n, 2) float32 points; same seed -> same data.

    labels["mode"] is the generating mode index; info holds the mode count, std and means.
    """
    _check_name(name)
    if n < 1:
        raise LatentkitError(f"mixture {name!r}: n must be >= 1, got {n}")
    points, modes = sample_mixture(name, n, np.random.default_rng(seed))
    means = mixture_means(name)
    return Dataset(
        name=name,
        data=torch.from_numpy(points),
        labels={"mode": modes.astype(np.float32)},
        info={"modes": len(means), "std": mixture_std(name), "means": means.tolist(), "seed": seed},
    )
