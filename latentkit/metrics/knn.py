"""k-nearest-neighbour sample-quality metrics: precision/recall and density/coverage.

Both approximate each set's support by the union of balls around its samples, each ball reaching
the sample's k-th nearest neighbour in its own set:

- precision / recall (Kynkäänniemi et al. 2019, arXiv:1904.06991): precision is the fraction of fake
  samples inside the real support (fidelity), recall the fraction of real samples inside the fake
  support (diversity).
- density / coverage (Naeem et al. 2020, arXiv:2002.09797): density counts how many real balls hold
  each fake sample, divided by k (about 1 when the fakes follow the real distribution, unbounded
  above); coverage is the fraction of real samples whose ball holds at least one fake. Both use only
  real-sample balls, so they resist fake outliers better than precision/recall.
- intrinsic dimension (TwoNN, Facco et al. 2017, Sci. Rep. 7:12140): the dimension of the manifold a
  set lies on, from the ratio of each sample's second to first neighbour distance. A generator whose
  marginals match the data but whose samples lie on a lower-dimensional sheet has high precision and
  near-zero recall; this names the cause.

Distances are Euclidean, computed in float64 with `torch.cdist` in row blocks so memory stays bounded.
"""

from __future__ import annotations

import numpy as np
import torch

from latentkit.errors import LatentkitError

BLOCK = 512  # query rows per cdist call: a 512 x 50k float64 block is 200 MB


def _as_tensor(x: np.ndarray | torch.Tensor, name: str) -> torch.Tensor:
    """(N, D) float64 CPU tensor.

    float64 because cdist expands ||x - y||^2 = ||x||^2 + ||y||^2 - 2 x.y, which in float32 loses the
    small distances that matter here (e.g. 0.003 between 2D ring samples whose norms are 1).
    """
    x = torch.as_tensor(np.asarray(x) if not isinstance(x, torch.Tensor) else x.detach())
    x = x.to("cpu", torch.float64)
    if x.ndim != 2:
        raise LatentkitError(f"{name}: expected features of shape (N, D), got {tuple(x.shape)}")
    return x


def _check_count(x: torch.Tensor, k: int, name: str) -> None:
    # The k-th neighbour of a sample, itself excluded, needs k + 1 samples in the set.
    if k < 1:
        raise LatentkitError(f"k must be >= 1, got {k}")
    if len(x) <= k:
        raise LatentkitError(f"{name}: need more than k={k} samples, got {len(x)}")


def neighbour_distances(x: torch.Tensor, k: int) -> torch.Tensor:
    """Distances from each row of x (N, D) to its 1st..k-th nearest other rows: (N, k) float64, ascending."""
    rows = []
    for start in range(0, len(x), BLOCK):
        d = torch.cdist(x[start : start + BLOCK], x)
        # k + 1 smallest: the first is the sample itself (distance 0).
        rows.append(d.topk(k + 1, dim=1, largest=False).values[:, 1:])
    return torch.cat(rows)


def kth_neighbour_radii(x: torch.Tensor, k: int) -> torch.Tensor:
    """Distance from each row of x (N, D) to its k-th nearest other row: (N,) float64."""
    return neighbour_distances(x, k)[:, k - 1]


def _balls_holding(query: torch.Tensor, centres: torch.Tensor, radii: torch.Tensor) -> torch.Tensor:
    """For each query row, how many balls B(centres[j], radii[j]) contain it: (Nq,) int64."""
    counts = []
    for start in range(0, len(query), BLOCK):
        d = torch.cdist(query[start : start + BLOCK], centres)
        counts.append((d <= radii[None, :]).sum(dim=1))
    return torch.cat(counts)


def _nearest_distance(query: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
    """Distance from each query row to its nearest ref row: (Nq,)."""
    return torch.cat(
        [torch.cdist(query[s : s + BLOCK], ref).min(dim=1).values for s in range(0, len(query), BLOCK)]
    )


def _prepare(real, fake) -> tuple[torch.Tensor, torch.Tensor]:
    real, fake = _as_tensor(real, "real features"), _as_tensor(fake, "fake features")
    if real.shape[1] != fake.shape[1]:
        raise LatentkitError(f"feature sizes differ: real {real.shape[1]}, fake {fake.shape[1]}")
    return real, fake


def precision_recall(
    real: np.ndarray | torch.Tensor, fake: np.ndarray | torch.Tensor, k: int = 3
) -> dict[str, float]:
    """Improved precision and recall of fake (M, D) against real (N, D); both sets need > k samples.

    Returns {"precision", "recall"}, each in [0, 1].
    """
    real, fake = _prepare(real, fake)
    _check_count(real, k, "real features")
    _check_count(fake, k, "fake features")
    precision = (_balls_holding(fake, real, kth_neighbour_radii(real, k)) > 0).double().mean()
    recall = (_balls_holding(real, fake, kth_neighbour_radii(fake, k)) > 0).double().mean()
    return {"precision": float(precision), "recall": float(recall)}


def density_coverage(
    real: np.ndarray | torch.Tensor, fake: np.ndarray | torch.Tensor, k: int = 5
) -> dict[str, float]:
    """Density and coverage of fake (M, D) against real (N, D); real needs > k samples.

    Returns {"density" (>= 0, about 1 for a perfect generator), "coverage" (in [0, 1])}.
    """
    real, fake = _prepare(real, fake)
    _check_count(real, k, "real features")
    if len(fake) == 0:
        raise LatentkitError("fake features: need at least 1 sample, got 0")
    radii = kth_neighbour_radii(real, k)
    density = _balls_holding(fake, real, radii).double().sum() / (k * len(fake))
    coverage = (_nearest_distance(real, fake) <= radii).double().mean()
    return {"density": float(density), "coverage": float(coverage)}


def twonn_dimension(x: np.ndarray | torch.Tensor) -> float:
    """TwoNN intrinsic dimension of x (N, D), N >= 3 (Facco et al. 2017, eq. 5, maximum likelihood).

    With r1 <= r2 each sample's first and second nearest-neighbour distances, mu = r2 / r1 follows a
    Pareto law with exponent d on a d-dimensional manifold of locally uniform density, so
    d = n / sum(log mu). Exact duplicates carry no scale: the estimate runs on the distinct rows.
    """
    x = torch.unique(_as_tensor(x, "features"), dim=0)
    if len(x) < 3:
        raise LatentkitError(f"features: need at least 3 distinct samples, got {len(x)}")
    r = neighbour_distances(x, 2)
    log_mu = torch.log(r[:, 1] / r[:, 0])
    if float(log_mu.sum()) == 0.0:  # every second neighbour as near as the first: a regular lattice
        raise LatentkitError("features: no spread between first and second neighbours; no dimension")
    return float(len(log_mu) / log_mu.sum())


def intrinsic_dimensions(
    real: np.ndarray | torch.Tensor, fake: np.ndarray | torch.Tensor
) -> dict[str, float]:
    """{"dimension_real", "dimension_fake"}: the TwoNN dimension of each set (see `twonn_dimension`)."""
    real, fake = _prepare(real, fake)
    return {"dimension_real": twonn_dimension(real), "dimension_fake": twonn_dimension(fake)}
