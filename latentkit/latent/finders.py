"""Finding directions in z: supervised finders (scikit-learn estimators), holding directions fixed,
and unsupervised finders for a DCGAN generator. `latentkit.latent.directions` turns their results
into named, stored `Direction`s.

Every finder is a `sklearn.base.BaseEstimator`: `__init__` only stores hyper-parameters, so `clone`,
`get_params` / `set_params`, `GridSearchCV` and `Pipeline` work. Supervised finders take
`fit(X, y)` with X the latents z (N, D) and y the attribute scores (N,), return self, and keep their
learned state in names ending in `_`:

    direction_   (D,) float64 unit vector; moving z along it raises the attribute
    intercept_   float, so that  distance(z) = z @ direction_ + intercept_  is the signed distance
                 to the decision boundary (InterFaceGAN drops it; we keep it so "set smile to 0"
                 means the boundary, not the origin)
    validation_  held-out accuracy (classifiers) or R^2 (Ridge) on a 30% split

- `SVMDirection`: the InterFaceGAN protocol (Shen et al. 2020, arXiv:2005.09635): sort by score,
  keep the top and bottom `ratio` of the samples as positives and negatives, 70/30 split, linear SVM.
- `LogisticDirection`: logistic regression on all samples, labelled by a threshold (default: median).
- `RidgeDirection`: ridge regression of the score on z, for continuous attributes.
- `GradientDirection`: the mean of the per-sample unit gradients of the score with respect to the
  latent, i.e. the direction a small step along which raises the attribute on most samples (the
  first-order solution of GANalyze's objective, Goetschalckx et al. 2019, arXiv:1906.10112). A
  classifier's normal predicts the attribute; this one is the direction that *changes* it, which
  differs when the generator encodes the attribute nonlinearly (measured in W: docs/directions.md).
  Its fit also takes the gradients: `fit(X, y, gradients=G)`.

`hold_fixed(direction, held)` removes from a direction its projection onto the held directions, so
moving along it leaves their distances unchanged (InterFaceGAN's conditional manipulation,
`project_boundary`).

Unsupervised, for a DCGAN generator:
- `GANSpacePCA`: PCA of the first block's activations, regressed back to z (Härkönen et al. 2020).
- `SeFa`: eigenvectors of A^T A, A the first layer's weight as a matrix (Shen & Zhou 2021).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from sklearn.base import BaseEstimator
from sklearn.decomposition import PCA
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.metrics import r2_score
from sklearn.svm import SVC, LinearSVC

from latentkit.errors import LatentkitError
from latentkit.latent.hold import condition, hold_fixed  # noqa: F401  (their home is hold.py)

METHODS = ("svm", "svc", "logistic", "ridge", "gradient")


# --- supervised finders --------------------------------------------------------------------------


def _check_xy(z: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    z, scores = np.asarray(z, dtype=np.float64), np.asarray(scores, dtype=np.float64).reshape(-1)
    if z.ndim != 2 or len(z) != len(scores):
        raise LatentkitError(f"fit: z must be (N, D) and scores (N,), got {z.shape} and {scores.shape}")
    if not (np.isfinite(z).all() and np.isfinite(scores).all()):
        raise LatentkitError("fit: z or scores contain NaN or infinity")
    return z, scores


def _split(n: int, val_fraction: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """A random (train, validation) split of range(n); validation gets round(n * val_fraction)."""
    order = rng.permutation(n)
    n_val = round(n * val_fraction)
    return order[n_val:], order[:n_val]


def _tails(
    scores: np.ndarray, ratio: float, val_fraction: float, seed: int, who: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """InterFaceGAN's samples: the top and bottom `ratio` of N by score, positives first.

    Returns (chosen sample indices (2k,), labels (2k,) 1 then 0, train and validation positions into
    `chosen`); an error naming `who` when fewer than 4 samples fall on each side.
    """
    k = int(len(scores) * ratio)
    if not 0 < ratio <= 0.5 or k < 4:
        raise LatentkitError(f"{who}: ratio {ratio} of {len(scores)} samples leaves {k} per side (need >= 4)")
    order = np.argsort(scores, kind="stable")
    chosen = np.concatenate([order[-k:], order[:k]])  # positives first, as in InterFaceGAN
    labels = np.concatenate([np.ones(k), np.zeros(k)])
    train, val = _split(2 * k, val_fraction, np.random.default_rng(seed))
    return chosen, labels, train, val


def _unit(w: np.ndarray, b: float) -> tuple[np.ndarray, float]:
    """(w, b) of a linear function w @ z + b -> (w / |w|, b / |w|): distances in z units."""
    norm = float(np.linalg.norm(w))
    if norm == 0 or not np.isfinite(norm):
        raise LatentkitError("fit: the scores do not depend linearly on z (zero normal)")
    return w / norm, b / norm


class _LinearDirection(BaseEstimator):
    """Shared learned state and `distance` of the three supervised finders."""

    direction_: np.ndarray
    intercept_: float
    validation_: float
    metric_: str
    needs_gradients = False  # GradientDirection's fit also takes d score / d z

    def distance(self, z: np.ndarray) -> np.ndarray:
        """Signed distance to the boundary: z (N, D) -> (N,), in z units (positive = more attribute)."""
        return np.asarray(z, dtype=np.float64) @ self.direction_ + self.intercept_

    def info(self) -> dict[str, Any]:
        """JSON-able fit record: method, hyper-parameters, metric, validation score, sample counts."""
        return {
            "method": self.method,
            **self.get_params(),
            "metric": self.metric_,
            "validation": round(float(self.validation_), 6) if np.isfinite(self.validation_) else None,
            "n_samples": int(self.n_samples_),
            "n_fit": int(self.n_fit_),
        }


class SVMDirection(_LinearDirection):
    """InterFaceGAN's boundary: a linear SVM between the top and bottom `ratio` of samples by score.

    Args:
        ratio: share of the N samples taken from each end (0.02: the top 2% and bottom 2%).
        val_fraction: share of the chosen samples held out to measure accuracy (InterFaceGAN: 0.3).
        solver: "linearsvc" (liblinear, fast) or "svc" (libsvm `SVC(kernel="linear")`, the original).
        C: SVM regularisation.
        seed: seed of the train/validation split.
    """

    def __init__(
        self,
        ratio: float = 0.02,
        val_fraction: float = 0.3,
        solver: str = "linearsvc",
        C: float = 1.0,
        seed: int = 0,
    ) -> None:
        self.ratio, self.val_fraction, self.solver, self.C, self.seed = ratio, val_fraction, solver, C, seed

    @property
    def method(self) -> str:
        return "svm" if self.solver == "linearsvc" else "svc"

    def fit(self, X: np.ndarray, y: np.ndarray) -> SVMDirection:
        """X: z (N, D), y: scores (N,) -> self, with direction_ pointing from low to high scores."""
        z, scores = _check_xy(X, y)
        if self.solver not in ("linearsvc", "svc"):
            raise LatentkitError(f"SVMDirection: solver {self.solver!r} is not 'linearsvc' or 'svc'")
        chosen, labels, train, val = _tails(scores, self.ratio, self.val_fraction, self.seed, "SVMDirection")
        if self.solver == "linearsvc":
            clf = LinearSVC(C=self.C, dual="auto", max_iter=10_000, random_state=self.seed)
        else:
            clf = SVC(kernel="linear", C=self.C)
        clf.fit(z[chosen[train]], labels[train])
        self.direction_, self.intercept_ = _unit(clf.coef_.reshape(-1), float(clf.intercept_[0]))
        self.validation_ = clf.score(z[chosen[val]], labels[val]) if len(val) else float("nan")
        self.metric_, self.n_samples_, self.n_fit_ = "accuracy", len(z), len(train)
        return self

    def score(self, X: np.ndarray, y: np.ndarray) -> float:
        """Accuracy of the boundary on the top and bottom `ratio` (>= 1 each) of X: z (N, D) ranked by y."""
        z, scores = _check_xy(X, y)
        k = max(1, int(len(z) * self.ratio))
        order = np.argsort(scores, kind="stable")
        d = self.distance(z)
        return float(np.concatenate([d[order[-k:]] > 0, d[order[:k]] <= 0]).mean())


class LogisticDirection(_LinearDirection):
    """Logistic regression on all samples, labelled `score > threshold` (None: the median score).

    Args:
        threshold: score separating positives from negatives; 0.5 suits binary probabilities.
        val_fraction: share of samples held out to measure accuracy.
        C: inverse regularisation strength.
        seed: seed of the train/validation split.
    """

    method = "logistic"

    def __init__(
        self, threshold: float | None = None, val_fraction: float = 0.3, C: float = 1.0, seed: int = 0
    ) -> None:
        self.threshold, self.val_fraction, self.C, self.seed = threshold, val_fraction, C, seed

    def _labels(self, scores: np.ndarray) -> np.ndarray:
        return (scores > self.threshold_).astype(np.float64)

    def fit(self, X: np.ndarray, y: np.ndarray) -> LogisticDirection:
        """X: z (N, D), y: scores (N,) -> self."""
        z, scores = _check_xy(X, y)
        self.threshold_ = float(np.median(scores)) if self.threshold is None else float(self.threshold)
        labels = self._labels(scores)
        train, val = _split(len(z), self.val_fraction, np.random.default_rng(self.seed))
        if len(np.unique(labels[train])) < 2:
            raise LatentkitError(f"LogisticDirection: every score is on one side of {self.threshold_:g}")
        clf = LogisticRegression(C=self.C, max_iter=1000).fit(z[train], labels[train])
        self.direction_, self.intercept_ = _unit(clf.coef_.reshape(-1), float(clf.intercept_[0]))
        self.validation_ = clf.score(z[val], labels[val]) if len(val) else float("nan")
        self.metric_, self.n_samples_, self.n_fit_ = "accuracy", len(z), len(train)
        return self

    def score(self, X: np.ndarray, y: np.ndarray) -> float:
        """Accuracy of `distance(X) > 0` against `y > threshold_` (X: z (N, D), y: scores (N,))."""
        z, scores = _check_xy(X, y)
        return float(np.mean((self.distance(z) > 0) == (self._labels(scores) > 0)))


class RidgeDirection(_LinearDirection):
    """Ridge regression score ~ w @ z + b, for continuous attributes.

    The boundary is the level set of the mean score (`center_`), and `slope_` = |w| is the score
    change per unit of z along `direction_`, so score ~ center_ + slope_ * distance(z).
    """

    method = "ridge"

    def __init__(self, alpha: float = 1.0, val_fraction: float = 0.3, seed: int = 0) -> None:
        self.alpha, self.val_fraction, self.seed = alpha, val_fraction, seed

    def fit(self, X: np.ndarray, y: np.ndarray) -> RidgeDirection:
        """X: z (N, D), y: scores (N,) -> self."""
        z, scores = _check_xy(X, y)
        train, val = _split(len(z), self.val_fraction, np.random.default_rng(self.seed))
        reg = Ridge(alpha=self.alpha).fit(z[train], scores[train])
        self.center_ = float(scores[train].mean())
        self.slope_ = float(np.linalg.norm(reg.coef_))
        self.direction_, self.intercept_ = _unit(reg.coef_, float(reg.intercept_) - self.center_)
        self.validation_ = self.score(z[val], scores[val]) if len(val) > 1 else float("nan")
        self.metric_, self.n_samples_, self.n_fit_ = "r2", len(z), len(train)
        return self

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Predicted score of X: z (N, D) -> (N,)."""
        return self.center_ + self.slope_ * self.distance(X)

    def score(self, X: np.ndarray, y: np.ndarray) -> float:
        """R^2 of the predicted scores of X: z (N, D) against y: scores (N,)."""
        z, scores = _check_xy(X, y)
        return float(r2_score(scores, self.predict(z)))


def make_finder(method: str, ratio: float = 0.02, seed: int = 0) -> _LinearDirection:
    """A supervised finder by name: "svm" (LinearSVC), "svc" (SVC linear), "logistic", "ridge" or
    "gradient" (whose `fit` also needs the score gradients, `needs_gradients`)."""
    if method in ("svm", "svc"):
        return SVMDirection(ratio=ratio, solver="linearsvc" if method == "svm" else "svc", seed=seed)
    if method == "logistic":
        return LogisticDirection(seed=seed)
    if method == "ridge":
        return RidgeDirection(seed=seed)
    if method == "gradient":
        return GradientDirection(ratio=ratio, seed=seed)
    raise LatentkitError(f"direction method {method!r}: choose one of {', '.join(METHODS)}")


class GradientDirection(_LinearDirection):
    """The mean unit gradient of the score: direction_ = normalise(mean_i g_i / |g_i|), g_i = d score_i/d z_i.

    Moving every latent a small step along it raises the score on the samples whose gradients agree
    with the mean; `coherence_` = |mean_i g_i / |g_i||, in [0, 1], says how many do (1: every sample's
    gradient points the same way; about 1/sqrt(N) for unrelated gradients). The boundary and the
    validation follow the InterFaceGAN protocol of `SVMDirection` on the same vector: the top and
    bottom `ratio` of the samples by score, 70/30 split; the intercept puts the boundary halfway
    between the two training groups' mean distances, and validation_ is the held-out accuracy of
    `distance > 0`.

    Args:
        ratio: share of the N samples taken from each end for the boundary and its accuracy.
        val_fraction: share of those held out to measure accuracy.
        seed: seed of the train/validation split.
    """

    method = "gradient"
    needs_gradients = True

    def __init__(self, ratio: float = 0.02, val_fraction: float = 0.3, seed: int = 0) -> None:
        self.ratio, self.val_fraction, self.seed = ratio, val_fraction, seed

    def fit(self, X: np.ndarray, y: np.ndarray, gradients: np.ndarray | None = None) -> GradientDirection:
        """X: z (N, D), y: scores (N,), gradients: d score / d z of (some of) the samples (M, D) -> self."""
        z, scores = _check_xy(X, y)
        if gradients is None:
            raise LatentkitError("GradientDirection.fit needs the score gradients (gradients=...)")
        g = np.asarray(gradients, dtype=np.float64)
        if g.ndim != 2 or g.shape[1] != z.shape[1] or len(g) == 0 or not np.isfinite(g).all():
            raise LatentkitError(
                f"GradientDirection: gradients must be finite (M, {z.shape[1]}), got {g.shape}"
            )
        norms = np.linalg.norm(g, axis=1, keepdims=True)
        g = g[norms[:, 0] > 0] / norms[norms[:, 0] > 0]
        if len(g) == 0:
            raise LatentkitError("fit: the score does not depend on the latent (every gradient is zero)")
        mean = g.mean(axis=0)
        self.coherence_ = float(np.linalg.norm(mean))
        self.direction_, _ = _unit(mean, 0.0)
        chosen, labels, train, val = _tails(
            scores, self.ratio, self.val_fraction, self.seed, "GradientDirection"
        )
        d = z[chosen] @ self.direction_
        pos, neg = d[train][labels[train] == 1], d[train][labels[train] == 0]
        if len(pos) == 0 or len(neg) == 0:
            raise LatentkitError("GradientDirection: the training split lost one end; use more samples")
        self.intercept_ = -float(pos.mean() + neg.mean()) / 2
        hit = (d[val] + self.intercept_ > 0) == (labels[val] == 1)
        self.validation_ = float(hit.mean()) if len(val) else float("nan")
        self.metric_, self.n_samples_, self.n_fit_, self.n_gradients_ = "accuracy", len(z), len(train), len(g)
        return self

    score = SVMDirection.score  # accuracy on the top and bottom `ratio`, as for the SVM

    def info(self) -> dict[str, Any]:
        coherence = round(self.coherence_, 6)
        return {**super().info(), "coherence": coherence, "n_gradients": int(self.n_gradients_)}


# --- unsupervised finders ------------------------------------------------------------------------


def _sign_fix(components: np.ndarray) -> np.ndarray:
    """Flip each row so its largest-magnitude entry is positive (PCA/eigen signs are arbitrary)."""
    idx = np.abs(components).argmax(axis=1)
    return components * np.sign(components[np.arange(len(components)), idx])[:, None]


class GANSpacePCA(BaseEstimator):
    """GANSpace: PCA of generator activations, each component mapped back to a direction in z.

    `fit(X, y)`, X the latents z (N, D) and y their activations (N, F...): PCA on the activations;
    the PCA coordinates (N, k) are regressed onto z by least squares, z ~ coords @ B, and the rows
    of B, normalised, are the directions.
    Learned: `components_` (k, D) unit rows, `explained_variance_ratio_` (k,).
    """

    def __init__(self, n_components: int = 10, seed: int = 0) -> None:
        self.n_components, self.seed = n_components, seed

    def fit(self, X: np.ndarray, y: np.ndarray) -> GANSpacePCA:
        z = np.asarray(X, dtype=np.float64)
        acts = np.asarray(y, dtype=np.float64).reshape(len(z), -1)
        k = min(self.n_components, z.shape[1], len(z) - 1, acts.shape[1])
        pca = PCA(n_components=k, random_state=self.seed).fit(acts)
        coords = pca.transform(acts)
        basis, *_ = np.linalg.lstsq(coords, z - z.mean(axis=0), rcond=None)
        self.components_ = _sign_fix(basis / np.linalg.norm(basis, axis=1, keepdims=True))
        self.explained_variance_ratio_ = pca.explained_variance_ratio_
        return self


class SeFa(BaseEstimator):
    """SeFa: the top eigenvectors of A^T A for the first layer's linear map A (F, D).

    `fit(X)` takes X, the DCGAN projection weight (latent_dim, C0, 4, 4); A = X.flatten(1).T.
    Learned: `components_` (k, D) unit rows, `eigenvalues_` (k,), largest first.
    """

    def __init__(self, n_components: int = 10) -> None:
        self.n_components = n_components

    def fit(self, X: np.ndarray | torch.Tensor, y: None = None) -> SeFa:
        w = torch.as_tensor(X).detach().double().cpu().numpy()
        a = w.reshape(w.shape[0], -1).T  # (F, D): every 4x4 output position is linear in z
        values, vectors = np.linalg.eigh(a.T @ a)  # ascending
        k = min(self.n_components, len(values))
        self.eigenvalues_ = values[::-1][:k]
        self.components_ = _sign_fix(vectors[:, ::-1][:, :k].T)
        return self
