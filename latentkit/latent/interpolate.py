"""Paths through latent space: lerp, slerp, multi-keyframe paths and the truncation trick.

Pure numpy functions. For Gaussian z in D dimensions almost all mass sits near the sphere of radius
sqrt(D), and two independent latents are nearly orthogonal, so the straight line between them dips
to radius ~sqrt(D / 2) in the middle, where the generator saw no training latents. Spherical
interpolation (Shoemake 1985; White 2016, arXiv:1609.04468) follows the arc instead and keeps the
norm, which is why it is the default.
"""

from __future__ import annotations

import numpy as np

from latentkit.errors import LatentkitError

METHODS = ("slerp", "lerp")


def default_method(space: str) -> str:
    """slerp for Gaussian z (it keeps the norm), lerp in W and W+, whose points are not Gaussian and
    whose mean w_avg is no origin to keep a norm from (StyleGAN interpolates w linearly)."""
    return "slerp" if space == "z" else "lerp"


def _pair(z0: np.ndarray, z1: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    z0, z1 = np.asarray(z0, dtype=np.float64), np.asarray(z1, dtype=np.float64)
    if z0.shape != z1.shape or z0.ndim != 1:
        raise LatentkitError(f"interpolate: endpoints must both be (D,), got {z0.shape} and {z1.shape}")
    return z0, z1


def _ts(t: float | np.ndarray) -> tuple[np.ndarray, bool]:
    """t as a (T, 1) column, and whether it was a scalar."""
    t_arr = np.asarray(t, dtype=np.float64)
    return t_arr.reshape(-1, 1), t_arr.ndim == 0


def lerp(z0: np.ndarray, z1: np.ndarray, t: float | np.ndarray) -> np.ndarray:
    """Linear interpolation (1 - t) z0 + t z1.

    z0, z1: (D,); t: a float or (T,) array. Returns (D,) for a float t, else (T, D); float32.
    """
    z0, z1 = _pair(z0, z1)
    t_col, scalar = _ts(t)
    out = ((1 - t_col) * z0 + t_col * z1).astype(np.float32)
    return out[0] if scalar else out


def angle(z0: np.ndarray, z1: np.ndarray) -> float:
    """Angle between z0 and z1 in radians, in [0, pi], accurate near 0 and pi.

    arccos of the cosine loses half the digits near parallel vectors; 2 atan2(|u0 - u1|, |u0 + u1|)
    of the unit vectors does not (Kahan).
    """
    u0, u1 = z0 / np.linalg.norm(z0), z1 / np.linalg.norm(z1)
    return float(2 * np.arctan2(np.linalg.norm(u0 - u1), np.linalg.norm(u0 + u1)))


def slerp(z0: np.ndarray, z1: np.ndarray, t: float | np.ndarray) -> np.ndarray:
    """Spherical interpolation: sin((1 - t) w) / sin w * z0 + sin(t w) / sin w * z1, w = angle(z0, z1).

    z0, z1: (D,) non-zero; t: a float or (T,) array. Returns (D,) for a float t, else (T, D); float32.
    t = 0 and t = 1 give z0 and z1 exactly (up to float32 rounding). The norm moves smoothly from
    |z0| to |z1|. Parallel endpoints (w below 1e-7) fall back to `lerp`, which is then exact;
    opposite endpoints (w = pi) have no unique arc and raise `LatentkitError`.
    """
    z0, z1 = _pair(z0, z1)
    if not (np.linalg.norm(z0) > 0 and np.linalg.norm(z1) > 0):
        raise LatentkitError("slerp: endpoints must be non-zero (use lerp for the zero vector)")
    w = angle(z0, z1)
    if w < 1e-7:
        return lerp(z0, z1, t)
    if np.pi - w < 1e-7:
        raise LatentkitError("slerp: the endpoints point in opposite directions; the arc is not unique")
    t_col, scalar = _ts(t)
    out = (np.sin((1 - t_col) * w) * z0 + np.sin(t_col * w) * z1) / np.sin(w)
    # sin(w) rounding can leave t = 0 or 1 one ulp off the endpoint; pin them exactly.
    out[t_col[:, 0] == 0] = z0
    out[t_col[:, 0] == 1] = z1
    out = out.astype(np.float32)
    return out[0] if scalar else out


def interpolate(z0: np.ndarray, z1: np.ndarray, t: float | np.ndarray, method: str = "slerp") -> np.ndarray:
    """`slerp` or `lerp` by name; shapes as theirs."""
    if method not in METHODS:
        raise LatentkitError(f"interpolation method {method!r}: choose {' or '.join(METHODS)}")
    return slerp(z0, z1, t) if method == "slerp" else lerp(z0, z1, t)


def keyframe_path(
    keyframes: np.ndarray, frames: int, method: str = "slerp", loop: bool = False
) -> tuple[np.ndarray, list[tuple[int, float]]]:
    """A path through keyframes (K, D) (or w+ keyframes (K, L, D), interpolated as flat vectors),
    K >= 2, with `frames` steps per transition.

    Returns (path (M, D) or (M, L, D) float32, [(segment, t)] per row) where M = (K - 1) * frames + 1,
    or K * frames with `loop` (back to the first keyframe, which is not repeated at the end).
    Row i * frames is keyframe i exactly.
    """
    keys = np.asarray(keyframes, dtype=np.float32)
    if keys.ndim == 3:
        path, where = keyframe_path(keys.reshape(len(keys), -1), frames, method, loop)
        return path.reshape(len(path), *keys.shape[1:]), where
    if keys.ndim != 2 or len(keys) < 2:
        raise LatentkitError(f"interpolate: need at least 2 keyframes (K, D), got shape {keys.shape}")
    if frames < 1:
        raise LatentkitError(f"interpolate: frames per transition must be >= 1, got {frames}")
    if loop:
        keys = np.concatenate([keys, keys[:1]])
    ts = np.arange(frames) / frames
    rows, where = [], []
    for seg in range(len(keys) - 1):
        rows.append(interpolate(keys[seg], keys[seg + 1], ts, method))
        where += [(seg, float(t)) for t in ts]
    if not loop:
        rows.append(keys[-1:])
        where.append((len(keys) - 2, 1.0))
    return np.concatenate(rows).astype(np.float32), where


def truncate(z: np.ndarray, psi: float, mean: np.ndarray | float = 0.0) -> np.ndarray:
    """The truncation trick: mean + psi (z - mean), z (..., D); psi = 1 changes nothing, 0 gives the mean.

    For a Gaussian prior the mean is 0, so this scales z by psi: more typical, less varied samples
    (Brock et al. 2019; Karras et al. 2019 apply it in W). psi must lie in [0, 1].
    """
    if not 0.0 <= psi <= 1.0:
        raise LatentkitError(f"truncation psi {psi}: must be between 0 and 1")
    z = np.asarray(z, dtype=np.float32)
    return (mean + np.float32(psi) * (z - mean)).astype(np.float32)
