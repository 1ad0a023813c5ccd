"""Holding directions fixed: InterFaceGAN's conditional manipulation, in plain numpy.

`hold_fixed(direction, held)` removes from a direction its projection onto the held directions, so
moving along it leaves their distances unchanged (Shen et al. 2020, `project_boundary`). It lives apart
from the finders (`latentkit.latent.finders`, scikit-learn estimators) so that editing, which needs it,
does not import scikit-learn.
"""

from __future__ import annotations

import warnings

import numpy as np

from latentkit.errors import LatentkitError


def hold_fixed(direction: np.ndarray, held: np.ndarray | list[np.ndarray]) -> np.ndarray:
    """Remove from `direction` (D,) its component in the span of `held` (K, D); return it unit-norm.

    Moving along the result leaves every held direction's distance unchanged (InterFaceGAN's
    conditional manipulation). One or two held directions use InterFaceGAN's closed form
    (`project_boundary`), more use least squares; all compute the same orthogonal projection.
    """
    n = np.asarray(direction, dtype=np.float64)
    c = np.asarray(held, dtype=np.float64).reshape(-1, len(n))
    c = c / np.linalg.norm(c, axis=1, keepdims=True)
    if len(c) == 0:
        return n / np.linalg.norm(n)
    if len(c) == 1:
        r = n - (n @ c[0]) * c[0]
    elif len(c) == 2 and abs(c[0] @ c[1]) < 1 - 1e-6:
        c1, c2, cos = c[0], c[1], c[0] @ c[1]
        r = n - (n @ c1 - (n @ c2) * cos) / (1 - cos**2) * c1 - (n @ c2 - (n @ c1) * cos) / (1 - cos**2) * c2
    else:
        coef, *_ = np.linalg.lstsq(c.T, n, rcond=None)
        r = n - c.T @ coef
    norm = np.linalg.norm(r)
    if norm < 1e-6 * np.linalg.norm(n):
        raise LatentkitError("hold: the direction lies in the span of the held directions; nothing is left")
    return r / norm


def condition(direction: np.ndarray, others: np.ndarray | list[np.ndarray]) -> np.ndarray:
    """Deprecated name of `hold_fixed` (removed in the next release)."""
    warnings.warn("condition() is now hold_fixed()", DeprecationWarning, stacklevel=2)
    return hold_fixed(direction, others)
