"""How disentangled is a latent space? Linear separability, direction cosines, attribute dependency.

    sep = linear_separability(z, {"smile": s, "glasses": p}, binary=["glasses"])
    sep.entropy        # {"smile": 0.31, "glasses": 0.12}  H(Y|X) in bits, per attribute
    sep.score          # 2 ** 0.43 = 1.35 (lower is better; 1 = every attribute linearly separable)
    separability_by_space({"z": z, "w": w}, scores, binary=["glasses"])   # the same, per space
    names, cos = direction_cosines({"smile": n_smile, "age": n_age})      # (K,), (K, K)
    attribute_dependency(base, {1.0: edited1, 2.0: edited2}, "smile")      # StyleSpace's AD

Everything works on arrays of latents and attribute scores, so it needs no generator: the caller
samples, renders and scores (latentkit.latent.report does it for `directions report`).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass

import numpy as np

from latentkit.errors import LatentkitError


@dataclass(frozen=True)
class Separability:
    """Linear separability of one latent space: per-attribute H(Y|X) in bits and their 2 ** sum."""

    entropy: dict[str, float]  # attribute -> H(Y | X) in bits, 0 (separable) .. 1 (not at all)
    score: float  # 2 ** sum(entropy.values()): 1 .. 2 ** len(entropy), lower is better
    kept: int  # samples kept per attribute (the most confident half)


@dataclass(frozen=True)
class Dependency:
    """Attribute dependency of one edit (Wu et al. 2021), lists aligned with `strengths`."""

    target: str
    strengths: list[float]  # edit strengths (latent units)
    target_change: list[float]  # mean (edited - base) of the target, in its own stds (signed)
    ad: dict[str, list[float]]  # other attribute -> mean |edited - base| in its own stds
    per_target_std: dict[str, list[float | None]]  # ad / |target_change| (None if the target did not move)


def _labels_and_confidence(scores: np.ndarray, binary: bool) -> tuple[np.ndarray, np.ndarray]:
    """Class (0/1) and the classifier's confidence in it, per sample.

    Binary attributes are probabilities: class p > 0.5, confidence max(p, 1 - p) (StyleGAN's
    max of the softmax). Continuous ones are binarised at their median, confidence |s - median|.
    """
    if binary:
        return (scores > 0.5).astype(np.int64), np.maximum(scores, 1 - scores)
    median = np.median(scores)
    return (scores > median).astype(np.int64), np.abs(scores - median)


def _conditional_entropy_bits(x: np.ndarray, y: np.ndarray) -> float:
    """H(Y | X) in bits of two 0/1 arrays, from their joint frequencies (NVlabs' conditional_entropy)."""
    joint = np.array([[np.mean((x == i) & (y == j)) for j in (0, 1)] for i in (0, 1)])
    px = joint.sum(axis=1, keepdims=True)
    nz = joint > 0
    # H(Y|X) = -sum p(x, y) log2 p(y | x); clip the tiny negative float error as they do
    return max(0.0, float(-(joint[nz] * np.log2((joint / np.where(px > 0, px, 1))[nz])).sum()))


def _check_pair(latents: np.ndarray, scores: np.ndarray, name: str) -> tuple[np.ndarray, np.ndarray]:
    latents, scores = np.asarray(latents, dtype=np.float64), np.asarray(scores, dtype=np.float64)
    if latents.ndim != 2 or scores.shape != (len(latents),):
        raise LatentkitError(
            f"separability: scores {name!r} must be ({len(latents)},) for latents (N, D), "
            f"got {scores.shape} for {latents.shape}"
        )
    if not (np.isfinite(latents).all() and np.isfinite(scores).all()):
        raise LatentkitError(f"separability: latents or scores {name!r} contain NaN or inf")
    return latents, scores


def svm_conditional_entropy(
    latents: np.ndarray, scores: np.ndarray, binary: bool = False, keep: float = 0.5, name: str = "scores"
) -> float:
    """H(Y | X) in bits for one attribute: StyleGAN's linear-separability term (Karras et al. 2019).

    latents: (N, D); scores: (N,) probabilities (binary) or values (continuous, binarised at the
    median). Keeps the `keep` fraction of samples the classifier is most confident about, fits
    sklearn's LinearSVC (default C = 1) on those latents to predict Y = the class, and measures
    H(Y | X) with X = the SVM's predicted class on the same kept samples, as NVlabs'
    metrics/linear_separability.py does. 0 = a hyperplane separates the classes, 1 = no better than
    a coin.
    """
    from sklearn.svm import LinearSVC  # sklearn is slow to import; only needed here

    latents, scores = _check_pair(latents, scores, name)
    y, confidence = _labels_and_confidence(scores, binary)
    n_keep = int(len(y) * keep)
    if n_keep < 2:
        raise LatentkitError(f"separability: {name!r} keeps {n_keep} of {len(y)} samples; give more samples")
    kept = np.argsort(-confidence, kind="stable")[:n_keep]
    x_kept, y_kept = latents[kept], y[kept]
    if len(np.unique(y_kept)) < 2:  # one class: H(Y) = 0, so H(Y|X) = 0 whatever X is
        return 0.0
    svm = LinearSVC(random_state=0).fit(x_kept, y_kept)
    return _conditional_entropy_bits(svm.predict(x_kept), y_kept)


def linear_separability(
    latents: np.ndarray, scores: Mapping[str, np.ndarray], binary: Collection[str] = (), keep: float = 0.5
) -> Separability:
    """StyleGAN's linear separability of `latents` (N, D) for the attributes `scores` (name -> (N,)).

    score = 2 ** sum_i H(Y_i | X_i), with H in bits (`svm_conditional_entropy`). The paper (Karras
    et al. 2019, sec. 4.2) writes exp(sum_i H(Y_i | X_i)); their code measures H in bits and reports
    2 ** sum, which is the same number as exp of the entropies in nats. Names in `binary` are
    probabilities (class p > 0.5); the rest are continuous, binarised at their median. Lower is
    better: 1 when every attribute is linearly separable, 2 per attribute when none is. (StyleGAN:
    200k samples, 100k kept, 40 CelebA attributes; FFHQ Z 165.0, W 3.74.)
    """
    if not scores:
        raise LatentkitError("separability: no attribute scores given")
    unknown = set(binary) - set(scores)
    if unknown:
        raise LatentkitError(f"separability: binary attribute {sorted(unknown)[0]!r} has no scores")
    entropy = {
        name: svm_conditional_entropy(latents, s, name in binary, keep, name) for name, s in scores.items()
    }
    return Separability(entropy, float(2.0 ** sum(entropy.values())), int(len(latents) * keep))


def separability_by_space(
    spaces: Mapping[str, np.ndarray],
    scores: Mapping[str, np.ndarray],
    binary: Collection[str] = (),
    keep: float = 0.5,
) -> dict[str, Separability]:
    """`linear_separability` of the same N samples in each space: {"z": z (N, D), "w": w (N, D')}.

    The row i of every space must be the same sample (w_i = mapping(z_i)), scored once by `scores`.
    For W+ pass one layer's w (StyleGAN uses the last layer's).
    """
    lengths = {name: len(x) for name, x in spaces.items()}
    if len(set(lengths.values())) > 1:
        raise LatentkitError(f"separability: spaces hold different numbers of samples {lengths}")
    return {name: linear_separability(x, scores, binary, keep) for name, x in spaces.items()}


def direction_cosines(vectors: Mapping[str, np.ndarray]) -> tuple[list[str], np.ndarray]:
    """Names and the (K, K) matrix of cosines between the directions `vectors` (name -> (D,))."""
    names = list(vectors)
    if not names:
        return [], np.zeros((0, 0))
    m = np.stack([np.asarray(vectors[n], dtype=np.float64).ravel() for n in names])
    norms = np.linalg.norm(m, axis=1)
    if not np.all(norms > 0):
        raise LatentkitError(f"direction_cosines: direction {names[int(np.argmin(norms))]!r} is zero")
    unit = m / norms[:, None]
    return names, np.clip(unit @ unit.T, -1.0, 1.0)


def attribute_dependency(
    base: Mapping[str, np.ndarray], edited: Mapping[float, Mapping[str, np.ndarray]], target: str
) -> Dependency:
    """StyleSpace's attribute dependency (Wu et al. 2021, sec. 5.1) of an edit along `target`.

    base: attribute -> (N,) scores of the unedited samples; edited: strength -> attribute -> (N,)
    scores of the same samples edited by that strength. With sigma_a the std of a over `base`
    (1 if it is constant), per strength:

        target_change = mean_n (edited_t - base_t) / sigma_t             (the paper's x-axis)
        ad[a]         = mean_n |edited_a - base_a| / sigma_a  for a != t  (the paper's AD_a)
        per_target_std[a] = ad[a] / |target_change|  (side effect per std the target moved)

    0 = the other attributes stay put. Wu et al. use classifier logits; here the scores are in
    whatever units the caller passes (latentkit: label units, probabilities for binary attributes).
    """
    if target not in base:
        raise LatentkitError(f"attribute_dependency: no base scores for the target {target!r}")
    base = {a: np.asarray(v, dtype=np.float64) for a, v in base.items()}
    sigma = {a: float(v.std()) or 1.0 for a, v in base.items()}
    others = [a for a in base if a != target]
    strengths = sorted(edited)
    out = Dependency(
        target, [float(s) for s in strengths], [], {a: [] for a in others}, {a: [] for a in others}
    )
    for s in strengths:
        missing = [a for a in base if a not in edited[s]]
        if missing:
            raise LatentkitError(f"attribute_dependency: strength {s:g} has no scores for {missing[0]!r}")
        after = {a: np.asarray(edited[s][a], dtype=np.float64) for a in base}
        wrong = [a for a in base if after[a].shape != base[a].shape]
        if wrong:
            raise LatentkitError(
                f"attribute_dependency: strength {s:g}, {wrong[0]!r}: edited scores must match the "
                f"base scores' shape {base[wrong[0]].shape}"
            )
        delta = {a: after[a] - base[a] for a in base}
        moved = float(delta[target].mean() / sigma[target])
        out.target_change.append(moved)
        for a in others:
            ad = float(np.abs(delta[a]).mean() / sigma[a])
            out.ad[a].append(ad)
            out.per_target_std[a].append(ad / abs(moved) if moved else None)
    return out
