"""Directions in latent space: fitted from attribute scores (InterFaceGAN) or found unsupervised.

Supervised finders follow scikit-learn's estimator API: `__init__` stores hyper-parameters,
`fit(z, scores)` returns self, and the learned state ends in `_`:

    direction_   (D,) float64 unit vector; moving z along it raises the attribute
    intercept_   float, so that  distance(z) = z @ direction_ + intercept_  is the signed distance
                 to the decision boundary (InterFaceGAN drops it; we keep it so "set smile to 0"
                 means the boundary, not the origin)
    validation_  held-out accuracy (classifiers) or R^2 (Ridge) on a 30% split

- `SVMDirection`: the InterFaceGAN protocol (Shen et al. 2020, arXiv:2005.09635): sort by score,
  keep the top and bottom `ratio` of the samples as positives and negatives, 70/30 split, linear SVM.
- `LogisticDirection`: logistic regression on all samples, labelled by a threshold (default: median).
- `RidgeDirection`: ridge regression of the score on z, for continuous attributes.

Unsupervised, for a DCGAN generator:
- `GANSpacePCA`: PCA of the first block's activations, regressed back to z (Härkönen et al. 2020).
- `SeFa`: eigenvectors of A^T A, A the first layer's weight as a matrix (Shen & Zhou 2021).

`condition(direction, others)` removes the projections onto other directions (InterFaceGAN's
conditional manipulation). A named `Direction` (vector, intercept, fit record) is stored in the
bundle's `directions.json` by `save_directions`, tied to the generator's weights by their SHA-256;
`load_directions` refuses a file made for other weights. `fit_directions` is the whole pipeline:
sample z, render in batches, score with the attribute predictor, fit each attribute.
"""

from __future__ import annotations

import copy
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from sklearn.decomposition import PCA
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.metrics import r2_score
from sklearn.svm import SVC, LinearSVC

from latentkit.errors import LatentkitError
from latentkit.io import read_json, write_json

FORMAT = "latentkit-directions"
VERSION = 1
DIRECTIONS_FILE = "directions.json"
METHODS = ("svm", "svc", "logistic", "ridge")


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


def _unit(w: np.ndarray, b: float) -> tuple[np.ndarray, float]:
    """(w, b) of a linear function w @ z + b -> (w / |w|, b / |w|): distances in z units."""
    norm = float(np.linalg.norm(w))
    if norm == 0 or not np.isfinite(norm):
        raise LatentkitError("fit: the scores do not depend linearly on z (zero normal)")
    return w / norm, b / norm


class _LinearDirection:
    """Shared learned state and `distance` of the three supervised finders."""

    direction_: np.ndarray
    intercept_: float
    validation_: float
    metric_: str

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

    def get_params(self) -> dict[str, Any]:
        keys = ("ratio", "val_fraction", "solver", "C", "seed")
        return {k: getattr(self, k) for k in keys}

    def fit(self, z: np.ndarray, scores: np.ndarray) -> SVMDirection:
        """z: (N, D), scores: (N,) -> self, with direction_ pointing from low to high scores."""
        z, scores = _check_xy(z, scores)
        if self.solver not in ("linearsvc", "svc"):
            raise LatentkitError(f"SVMDirection: solver {self.solver!r} is not 'linearsvc' or 'svc'")
        k = int(len(z) * self.ratio)
        if not 0 < self.ratio <= 0.5 or k < 4:
            raise LatentkitError(
                f"SVMDirection: ratio {self.ratio} of {len(z)} samples leaves {k} per side (need >= 4)"
            )
        order = np.argsort(scores, kind="stable")
        chosen = np.concatenate([order[-k:], order[:k]])  # positives first, as in InterFaceGAN
        labels = np.concatenate([np.ones(k), np.zeros(k)])
        train, val = _split(2 * k, self.val_fraction, np.random.default_rng(self.seed))
        if self.solver == "linearsvc":
            clf = LinearSVC(C=self.C, dual="auto", max_iter=10_000, random_state=self.seed)
        else:
            clf = SVC(kernel="linear", C=self.C)
        clf.fit(z[chosen[train]], labels[train])
        self.direction_, self.intercept_ = _unit(clf.coef_.reshape(-1), float(clf.intercept_[0]))
        self.validation_ = clf.score(z[chosen[val]], labels[val]) if len(val) else float("nan")
        self.metric_, self.n_samples_, self.n_fit_ = "accuracy", len(z), len(train)
        return self

    def score(self, z: np.ndarray, scores: np.ndarray) -> float:
        """Accuracy of the boundary on the top/bottom `ratio` of (z, scores)."""
        z, scores = _check_xy(z, scores)
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

    def get_params(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in ("threshold", "val_fraction", "C", "seed")}

    def _labels(self, scores: np.ndarray) -> np.ndarray:
        return (scores > self.threshold_).astype(np.float64)

    def fit(self, z: np.ndarray, scores: np.ndarray) -> LogisticDirection:
        """z: (N, D), scores: (N,) -> self."""
        z, scores = _check_xy(z, scores)
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

    def score(self, z: np.ndarray, scores: np.ndarray) -> float:
        """Accuracy of `distance(z) > 0` against `scores > threshold_`."""
        z, scores = _check_xy(z, scores)
        return float(np.mean((self.distance(z) > 0) == (self._labels(scores) > 0)))


class RidgeDirection(_LinearDirection):
    """Ridge regression score ~ w @ z + b, for continuous attributes.

    The boundary is the level set of the mean score (`center_`), and `slope_` = |w| is the score
    change per unit of z along `direction_`, so score ~ center_ + slope_ * distance(z).
    """

    method = "ridge"

    def __init__(self, alpha: float = 1.0, val_fraction: float = 0.3, seed: int = 0) -> None:
        self.alpha, self.val_fraction, self.seed = alpha, val_fraction, seed

    def get_params(self) -> dict[str, Any]:
        return {"alpha": self.alpha, "val_fraction": self.val_fraction, "seed": self.seed}

    def fit(self, z: np.ndarray, scores: np.ndarray) -> RidgeDirection:
        """z: (N, D), scores: (N,) -> self."""
        z, scores = _check_xy(z, scores)
        train, val = _split(len(z), self.val_fraction, np.random.default_rng(self.seed))
        reg = Ridge(alpha=self.alpha).fit(z[train], scores[train])
        self.center_ = float(scores[train].mean())
        self.slope_ = float(np.linalg.norm(reg.coef_))
        self.direction_, self.intercept_ = _unit(reg.coef_, float(reg.intercept_) - self.center_)
        self.validation_ = self.score(z[val], scores[val]) if len(val) > 1 else float("nan")
        self.metric_, self.n_samples_, self.n_fit_ = "r2", len(z), len(train)
        return self

    def predict(self, z: np.ndarray) -> np.ndarray:
        """Predicted score of z (N, D) -> (N,)."""
        return self.center_ + self.slope_ * self.distance(z)

    def score(self, z: np.ndarray, scores: np.ndarray) -> float:
        """R^2 of the predicted scores."""
        z, scores = _check_xy(z, scores)
        return float(r2_score(scores, self.predict(z)))


def make_finder(method: str, ratio: float = 0.02, seed: int = 0) -> _LinearDirection:
    """A supervised finder by name: "svm" (LinearSVC), "svc" (SVC linear), "logistic" or "ridge"."""
    if method in ("svm", "svc"):
        return SVMDirection(ratio=ratio, solver="linearsvc" if method == "svm" else "svc", seed=seed)
    if method == "logistic":
        return LogisticDirection(seed=seed)
    if method == "ridge":
        return RidgeDirection(seed=seed)
    raise LatentkitError(f"direction method {method!r}: choose one of {', '.join(METHODS)}")


# --- conditioning --------------------------------------------------------------------------------


def condition(direction: np.ndarray, others: np.ndarray | list[np.ndarray]) -> np.ndarray:
    """Remove from `direction` (D,) its component in the span of `others` (K, D); return it unit-norm.

    Moving along the result leaves every `others` distance unchanged (InterFaceGAN's conditional
    manipulation). One or two conditions use InterFaceGAN's closed form (`project_boundary`), more
    use least squares; all compute the same orthogonal projection.
    """
    n = np.asarray(direction, dtype=np.float64)
    c = np.asarray(others, dtype=np.float64).reshape(-1, len(n))
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
        raise LatentkitError("condition: the direction lies in the span of its conditions; nothing is left")
    return r / norm


# --- unsupervised finders ------------------------------------------------------------------------


def _sign_fix(components: np.ndarray) -> np.ndarray:
    """Flip each row so its largest-magnitude entry is positive (PCA/eigen signs are arbitrary)."""
    idx = np.abs(components).argmax(axis=1)
    return components * np.sign(components[np.arange(len(components)), idx])[:, None]


class GANSpacePCA:
    """GANSpace: PCA of generator activations, each component mapped back to a direction in z.

    `fit(z, activations)`: PCA on activations (N, F); the PCA coordinates (N, k) are regressed onto
    z (N, D) by least squares, z ~ coords @ B, and the rows of B, normalised, are the directions.
    Learned: `components_` (k, D) unit rows, `explained_variance_ratio_` (k,).
    """

    def __init__(self, n_components: int = 10, seed: int = 0) -> None:
        self.n_components, self.seed = n_components, seed

    def fit(self, z: np.ndarray, activations: np.ndarray) -> GANSpacePCA:
        z = np.asarray(z, dtype=np.float64)
        acts = np.asarray(activations, dtype=np.float64).reshape(len(z), -1)
        k = min(self.n_components, z.shape[1], len(z) - 1, acts.shape[1])
        pca = PCA(n_components=k, random_state=self.seed).fit(acts)
        coords = pca.transform(acts)
        basis, *_ = np.linalg.lstsq(coords, z - z.mean(axis=0), rcond=None)
        self.components_ = _sign_fix(basis / np.linalg.norm(basis, axis=1, keepdims=True))
        self.explained_variance_ratio_ = pca.explained_variance_ratio_
        return self


class SeFa:
    """SeFa: the top eigenvectors of A^T A for the first layer's linear map A (F, D).

    `fit(weight)` takes the DCGAN projection weight (latent_dim, C0, 4, 4), A = weight.flatten(1).T.
    Learned: `components_` (k, D) unit rows, `eigenvalues_` (k,), largest first.
    """

    def __init__(self, n_components: int = 10) -> None:
        self.n_components = n_components

    def fit(self, weight: np.ndarray | torch.Tensor) -> SeFa:
        w = torch.as_tensor(weight).detach().double().cpu().numpy()
        a = w.reshape(w.shape[0], -1).T  # (F, D): every 4x4 output position is linear in z
        values, vectors = np.linalg.eigh(a.T @ a)  # ascending
        k = min(self.n_components, len(values))
        self.eigenvalues_ = values[::-1][:k]
        self.components_ = _sign_fix(vectors[:, ::-1][:, :k].T)
        return self


# --- direction records and directions.json -------------------------------------------------------


@dataclass
class Direction:
    """A named unit direction in z.

    Attributes:
        name: e.g. "smile", "pca0", "sefa3".
        vector: (D,) float64 unit vector.
        intercept: distance(z) = z @ vector + intercept (0 for unsupervised directions).
        meta: JSON-able record: kind ("supervised", "pca", "sefa"), method, validation, N, ...
    """

    name: str
    vector: np.ndarray
    intercept: float = 0.0
    meta: dict[str, Any] = field(default_factory=dict)

    def distance(self, z: np.ndarray) -> np.ndarray:
        """Signed distance of z (..., D) -> (...)."""
        return np.asarray(z, dtype=np.float64) @ self.vector + self.intercept


def from_finder(name: str, finder: _LinearDirection, **meta: Any) -> Direction:
    """A `Direction` from a fitted supervised finder, its fit record merged with `meta`."""
    extra = {"center": finder.center_, "slope": finder.slope_} if isinstance(finder, RidgeDirection) else {}
    meta = {"kind": "supervised", **finder.info(), **extra, **meta}
    return Direction(name, finder.direction_, float(finder.intercept_), meta)


def conditional_variant(directions: dict[str, Direction], spec: str) -> Direction:
    """A stored conditional direction from "base:cond1,cond2", named "base_given_cond1_cond2".

    Its vector is `condition(base, conds)` (unit, orthogonal to every condition); its intercept is
    0, so absolute mode measures along the vector itself. The same edit as relative mode with
    `conditional=[...]`, kept as a named slider (e.g. "age_given_glasses").
    """
    base, sep, rest = spec.partition(":")
    conds = [c.strip() for c in rest.split(",") if c.strip()]
    if not sep or not base.strip() or not conds:
        raise LatentkitError(f"--conditional {spec!r}: expected BASE:COND[,COND...], e.g. age:glasses")
    d = get_direction(directions, base.strip())
    others = [get_direction(directions, c).vector for c in conds]
    name = f"{d.name}_given_{'_'.join(conds)}"
    meta = {
        "kind": "conditional",
        "base": d.name,
        "conditioned_on": conds,
        "validation": d.meta.get("validation"),
    }
    return Direction(name, condition(d.vector, others), 0.0, meta)


def get_direction(directions: dict[str, Direction], name: str) -> Direction:
    """`directions[name]`, or a `LatentkitError` listing the known names."""
    if name not in directions:
        known = ", ".join(directions) or "none (run `latentkit directions fit`)"
        raise LatentkitError(f"unknown direction {name!r}; known directions: {known}")
    return directions[name]


def directions_path(bundle) -> Path:
    """Where a bundle's directions live: <bundle>/directions.json."""
    return Path(bundle.path) / DIRECTIONS_FILE


def save_directions(
    bundle, directions: dict[str, Direction], path: str | os.PathLike | None = None, merge: bool = True
) -> Path:
    """Write `directions` to `path` (default <bundle>/directions.json), tied to the bundle's weights.

    With `merge`, directions already in the file for the same weights are kept unless replaced by
    name; a file made for other weights is replaced whole (its vectors mean nothing for these).
    """
    path = Path(path) if path is not None else directions_path(bundle)
    combined: dict[str, Direction] = {}
    if merge and path.is_file():
        try:
            combined = load_directions(bundle, path)
        except LatentkitError:
            combined = {}
    combined.update(directions)
    for d in combined.values():
        _check_vector(d.name, np.asarray(d.vector), bundle.config.latent_dim, path)
    write_json(
        path,
        {
            "format": FORMAT,
            "version": VERSION,
            "model": {"name": bundle.name, "weights_sha256": bundle.weights_sha256},
            "latent_dim": bundle.config.latent_dim,
            "directions": {
                d.name: {"vector": [float(x) for x in d.vector], "intercept": float(d.intercept), **d.meta}
                for d in combined.values()
            },
        },
    )
    return path


def load_directions(bundle, path: str | os.PathLike | None = None) -> dict[str, Direction]:
    """Read `path` (default <bundle>/directions.json): name -> `Direction`.

    Raises `LatentkitError` naming the file when it is missing, malformed, made for another model
    (weights SHA-256 differs) or holds a vector of the wrong dimension, with NaN, or not unit-norm.
    """
    path = Path(path) if path is not None else directions_path(bundle)
    if not path.is_file():
        raise LatentkitError(
            f"{path}: no directions file; run `latentkit directions fit --model {bundle.path}` first"
        )
    doc = read_json(path)
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise LatentkitError(f"{path}: not a latentkit directions file (format is not {FORMAT!r})")
    if doc.get("version") != VERSION:
        raise LatentkitError(f"{path}: version {doc.get('version')!r} is not supported (reads {VERSION})")
    sha = doc["model"].get("weights_sha256") if isinstance(doc.get("model"), dict) else None
    if sha != bundle.weights_sha256:
        raise LatentkitError(
            f"{path}: made for another model (weights sha256 {str(sha)[:12]}…, this model "
            f"{bundle.weights_sha256[:12]}…); refit with `latentkit directions fit`"
        )
    entries = doc.get("directions")
    if not isinstance(entries, dict):
        raise LatentkitError(f"{path}: 'directions' must be an object of name -> direction")
    out = {}
    for name, entry in entries.items():
        if not isinstance(entry, dict) or not isinstance(entry.get("vector"), list):
            raise LatentkitError(f"{path}: direction {name!r} has no 'vector' list")
        try:
            vector = np.asarray(entry["vector"], dtype=np.float64)
            intercept = float(entry.get("intercept", 0.0))
        except (TypeError, ValueError):
            raise LatentkitError(f"{path}: direction {name!r}: vector or intercept is not numeric") from None
        _check_vector(name, vector, bundle.config.latent_dim, path)
        if not np.isfinite(intercept):
            raise LatentkitError(f"{path}: direction {name!r} has a non-finite intercept")
        meta = {k: v for k, v in entry.items() if k not in ("vector", "intercept")}
        out[name] = Direction(name, vector, intercept, meta)
    return out


def _check_vector(name: str, vector: np.ndarray, dim: int, path: Path) -> None:
    if vector.shape != (dim,):
        raise LatentkitError(f"{path}: direction {name!r} has {vector.size} values, the model's z has {dim}")
    if not np.isfinite(vector).all():
        raise LatentkitError(f"{path}: direction {name!r} contains NaN or infinity")
    if abs(np.linalg.norm(vector) - 1) > 1e-4:
        raise LatentkitError(f"{path}: direction {name!r} has norm {np.linalg.norm(vector):.4g}, not 1")


# --- the fitting pipeline: sample z, generate, score, fit ----------------------------------------


def draw_latents(n: int, dim: int, seed: int) -> np.ndarray:
    """n latents z ~ N(0, I), (n, dim) float32, from one seeded torch CPU generator."""
    g = torch.Generator().manual_seed(int(seed))
    return torch.randn(n, dim, generator=g, dtype=torch.float32).numpy()


def check_predictor(bundle, predictor, attributes: list[str]) -> None:
    """Raise `LatentkitError` if the predictor cannot score `attributes` on the bundle's images."""
    if bundle.config.kind != "dcgan":
        raise LatentkitError(f"model {bundle.name!r} makes {bundle.config.kind} points, not images")
    if predictor.channels != bundle.config.channels:
        raise LatentkitError(
            f"predictor reads {predictor.channels}-channel images, model {bundle.name!r} makes "
            f"{bundle.config.channels}-channel ones"
        )
    kinds = {a.name: a.kind for a in predictor.attributes}
    for name in attributes:
        if name not in kinds:
            raise LatentkitError(f"predictor has no attribute {name!r} (it predicts {', '.join(kinds)})")
        if kinds[name] == "categorical":
            raise LatentkitError(f"attribute {name!r} is categorical; directions need binary or continuous")


def score_latents(
    bundle,
    predictor,
    z: np.ndarray,
    batch: int = 64,
    binary_as: str = "logit",
    features: bool = False,
    progress: bool = False,
) -> tuple[dict[str, np.ndarray], np.ndarray | None]:
    """Render z (N, D) with the bundle's generator in batches and score the images with the predictor.

    Returns (name -> (N,) float64 scores of every non-categorical attribute, features (N, F) or None).
    Binary scores are logits with `binary_as="logit"` (they keep ordering the saturated ends, where
    probabilities are all 1.0), probabilities with "probability". Continuous ones are in label units.
    """
    from tqdm.auto import tqdm

    # Channels-last convolutions are ~30% faster on CPU. Copies, so the bundle's own generator keeps
    # the layout `render` uses and exports stay bit-identical to `latentkit reproduce`.
    gen = copy.deepcopy(bundle.generator).to(memory_format=torch.channels_last)
    predictor = copy.deepcopy(predictor).to(memory_format=torch.channels_last)
    device = next(gen.parameters()).device
    kinds = {a.name: a.kind for a in predictor.attributes if a.kind != "categorical"}
    parts: dict[str, list[np.ndarray]] = {name: [] for name in kinds}
    feats: list[np.ndarray] = []
    starts = range(0, len(z), batch)
    with torch.inference_mode():
        for s in tqdm(starts, desc="render + score", disable=not progress, leave=False, unit="batch"):
            x = gen(torch.from_numpy(np.ascontiguousarray(z[s : s + batch], dtype=np.float32)).to(device))
            for name, value in predictor.predict(x).items():
                if name in kinds:
                    if kinds[name] == "binary" and binary_as == "logit":
                        value = torch.logit(value.double(), eps=1e-7)
                    parts[name].append(value.double().cpu().numpy())
            if features:
                feats.append(predictor.features(x).cpu().numpy())
    scores = {name: np.concatenate(p) if p else np.empty(0) for name, p in parts.items()}
    return scores, (np.concatenate(feats) if features else None)


def first_block_activations(generator, z: np.ndarray, batch: int = 512) -> np.ndarray:
    """Activations of a DCGAN generator's first block (projection, norm, ReLU): (N, C0 * 16) float32."""
    layers = []
    for module in generator.net:
        layers.append(module)
        if isinstance(module, torch.nn.ReLU):
            break
    block = torch.nn.Sequential(*layers)
    device = next(generator.parameters()).device
    out = []
    with torch.inference_mode():
        for s in range(0, len(z), batch):
            zb = torch.from_numpy(np.ascontiguousarray(z[s : s + batch], dtype=np.float32)).to(device)
            out.append(block(zb[:, :, None, None]).flatten(1).cpu().numpy())
    return np.concatenate(out)


def fit_directions(
    bundle,
    predictor=None,
    attributes: list[str] = (),
    samples: int = 20_000,
    seed: int = 0,
    batch: int = 64,
    method: str = "svm",
    ratio: float = 0.02,
    pca: int = 0,
    sefa: int = 0,
    pca_samples: int = 4096,
    predictor_meta: dict[str, Any] | None = None,
    progress: bool = True,
) -> dict[str, Direction]:
    """Fit a direction per attribute (and optionally `pca` GANSpace and `sefa` SeFa directions).

    Supervised: draw `samples` z with `seed`, render them in batches of `batch`, score them with
    `predictor` (a FeatureNet), fit `method` ("svm", "svc", "logistic" or "ridge") per attribute.
    Unsupervised: GANSpace PCA on `pca_samples` z's first-block activations; SeFa on the weights.
    Returns name -> Direction (attribute names, then pca0.., sefa0..); nothing is written.
    """
    make_finder(method, ratio, seed)  # validate the method name before any work
    out: dict[str, Direction] = {}
    dim = bundle.config.latent_dim
    if attributes:
        if predictor is None:
            raise LatentkitError("fit_directions: fitting attribute directions needs a predictor")
        check_predictor(bundle, predictor, list(attributes))
        if samples < 10:
            raise LatentkitError(f"--samples {samples}: need at least 10")
        z = draw_latents(samples, dim, seed)
        scores, _ = score_latents(bundle, predictor, z, batch, progress=progress)
        for name in attributes:
            finder = make_finder(method, ratio, seed).fit(z, scores[name])
            out[name] = from_finder(
                name,
                finder,
                attribute=name,
                samples_seed=seed,
                score_mean=float(scores[name].mean()),
                score_std=float(scores[name].std()),
                predictor=predictor_meta or {},
            )
    if pca:
        if bundle.config.kind != "dcgan":
            raise LatentkitError(f"model {bundle.name!r}: GANSpace directions need a DCGAN generator")
        zp = draw_latents(min(pca_samples, max(samples, 2 * pca)), dim, seed + 1)
        est = GANSpacePCA(pca, seed).fit(zp, first_block_activations(bundle.generator, zp))
        for i, (v, ev) in enumerate(zip(est.components_, est.explained_variance_ratio_, strict=True)):
            meta = {"kind": "pca", "explained_variance_ratio": float(ev), "n_samples": len(zp)}
            out[f"pca{i}"] = Direction(f"pca{i}", v, 0.0, {**meta, "samples_seed": seed + 1})
    if sefa:
        if not hasattr(bundle.generator, "first_layer_weight"):
            raise LatentkitError(f"model {bundle.name!r}: SeFa directions need a DCGAN generator")
        est = SeFa(sefa).fit(bundle.generator.first_layer_weight())
        for i, (v, ev) in enumerate(zip(est.components_, est.eigenvalues_, strict=True)):
            out[f"sefa{i}"] = Direction(f"sefa{i}", v, 0.0, {"kind": "sefa", "eigenvalue": float(ev)})
    return out
