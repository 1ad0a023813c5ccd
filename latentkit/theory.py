"""The GAN game on discrete distributions, exactly (Goodfellow et al. 2014, arXiv:1406.2661, Sec. 4).

For a fixed generator distribution p_g, the discriminator maximising

    V(D, G) = E_{x~p_data} log D(x) + E_{x~p_g} log(1 - D(x))

is D*(x) = p_data(x) / (p_data(x) + p_g(x)), and at that optimum

    V(D*, G) = -log 4 + 2 JS(p_data || p_g),

so the generator's best reply minimises the Jensen-Shannon divergence, reaching -log 4 only at
p_g = p_data. These pure numpy (float64) functions make that checkable on small exact examples; the
tests compute V from its definition and compare it with the formula. All logs are natural (nats).
"""

from __future__ import annotations

import numpy as np


def _as_distribution(p: np.ndarray, name: str) -> np.ndarray:
    """`p` as a 1-D float64 array of non-negative values summing to 1 (within 1e-9)."""
    p = np.asarray(p, dtype=np.float64)
    if p.ndim != 1:
        raise ValueError(f"{name}: expected a 1-D array, got shape {p.shape}")
    if np.any(p < 0) or not np.isfinite(p).all():
        raise ValueError(f"{name}: probabilities must be finite and >= 0")
    if abs(p.sum() - 1.0) > 1e-9:
        raise ValueError(f"{name}: probabilities sum to {p.sum():.12g}, expected 1")
    return p


def _pair(p: np.ndarray, q: np.ndarray, names: tuple[str, str] = ("p", "q")) -> tuple[np.ndarray, np.ndarray]:
    p, q = _as_distribution(p, names[0]), _as_distribution(q, names[1])
    if p.shape != q.shape:
        raise ValueError(f"{names[0]} and {names[1]} have different lengths: {len(p)} vs {len(q)}")
    return p, q


def optimal_discriminator(p_data: np.ndarray, p_g: np.ndarray) -> np.ndarray:
    """D*(x) = p_data(x) / (p_data(x) + p_g(x)), shape (K,).

    Where both probabilities are 0 any D is optimal (those points weigh nothing in V); we return 0.5
    there, the value D* takes wherever the two distributions agree.
    """
    p_data, p_g = _pair(p_data, p_g, ("p_data", "p_g"))
    total = p_data + p_g
    return np.divide(p_data, total, out=np.full_like(total, 0.5), where=total > 0)


def kl(p: np.ndarray, q: np.ndarray) -> float:
    """KL(p || q) = sum_x p(x) log(p(x) / q(x)) in nats; inf if q(x) = 0 < p(x) anywhere.

    Terms with p(x) = 0 are 0 (the limit of t log t as t -> 0).
    """
    p, q = _pair(p, q)
    support = p > 0
    if np.any(q[support] == 0):
        return float("inf")
    return float(np.sum(p[support] * np.log(p[support] / q[support])))


def js(p: np.ndarray, q: np.ndarray) -> float:
    """Jensen-Shannon divergence in nats: (KL(p || m) + KL(q || m)) / 2 with m = (p + q) / 2.

    Symmetric, finite, and in [0, log 2]; 0 only when p == q.
    """
    p, q = _pair(p, q)
    m = 0.5 * (p + q)  # m > 0 wherever p or q is, so both KLs are finite
    return 0.5 * kl(p, m) + 0.5 * kl(q, m)


def value_at_optimum(p_data: np.ndarray, p_g: np.ndarray) -> float:
    """V(D*, G) = E_{p_data} log D* + E_{p_g} log(1 - D*), computed from that definition.

    Equals -log 4 + 2 JS(p_data || p_g) (Goodfellow et al. 2014, Theorem 1); the formula is
    deliberately not used here so that tests can check one against the other.
    """
    p_data, p_g = _pair(p_data, p_g, ("p_data", "p_g"))
    d = optimal_discriminator(p_data, p_g)
    # Only points with positive weight contribute; there log D* (resp. log(1 - D*)) is finite,
    # because p_data(x) > 0 implies D*(x) > 0 and p_g(x) > 0 implies D*(x) < 1.
    real, fake = p_data > 0, p_g > 0
    return float(np.sum(p_data[real] * np.log(d[real])) + np.sum(p_g[fake] * np.log1p(-d[fake])))
