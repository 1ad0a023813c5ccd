"""Named directions in latent space: records, the bundle's directions.json, and the fitting pipeline.

A `Direction` (name, unit vector, intercept, fit record) is stored in the bundle's `directions.json`
by `save_directions`, tied to the generator's weights by their SHA-256; `load_directions` refuses
a file made for other weights. `fit_directions` is the whole InterFaceGAN pipeline: sample z, render
in batches, score with the attribute predictor, fit each attribute with a finder from
`latentkit.latent.finders` (scikit-learn, imported by the fits only), and add unsupervised PCA / SeFa
directions.
`held_variant` stores a direction with others held fixed as a named one ("age_hold_glasses").

Directions live in one latent space, recorded in the file: "z", or "w" for a style-based generator
(`latentkit.models.latents`), where InterFaceGAN's protocol runs on w = mapping(z) (the same
images, scored the same way); a w direction also moves a w+ latent, every layer alike.
"""

from __future__ import annotations

import contextlib
import copy
import math
import os
import re
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from latentkit.errors import LatentkitError
from latentkit.io import read_json, write_json
from latentkit.latent.hold import hold_fixed
from latentkit.models.latents import check_space, edit_space, map_to_w, synthesize

if TYPE_CHECKING:
    from latentkit.latent.finders import _LinearDirection

FORMAT = "latentkit-directions"
VERSION = 1
NAME_RE = re.compile(r"[A-Za-z][A-Za-z0-9_-]{0,63}")
DIRECTIONS_FILE = "directions.json"
HOLD_ALL = "all"  # in a hold list: every attribute direction but the edited one; no direction takes it
HELD = "held"  # the `kind` of a stored variant with other directions held fixed (`held_variant`)

# --- direction records and directions.json -------------------------------------------------------


@dataclass
class Direction:
    """A named unit direction in z or w.

    Attributes:
        name: e.g. "smile", "pca0", "sefa3".
        vector: (D,) float64 unit vector.
        intercept: distance(z) = z @ vector + intercept (0 for unsupervised directions).
        meta: JSON-able record: kind ("supervised", "pca", "sefa", "held", "custom"), method,
            validation, N, ...; held variants also name their "base" and the "hold" list.
        space: the latent space of `vector`, "z" or "w".

    Strengths and distances shown to people are in units of `scale`, the standard deviation of
    sampled latents' projections on `vector` (meta "scale"): 1 for z, whose projections on any unit
    vector are N(0, 1), so "+3" means three standard deviations in Z and in W alike.
    """

    name: str
    vector: np.ndarray
    intercept: float = 0.0
    meta: dict[str, Any] = field(default_factory=dict)
    space: str = "z"

    @property
    def scale(self) -> float:
        """Latent units per unit of strength: the std of sampled latents along `vector` (1 in Z)."""
        return float(self.meta.get("scale", 1.0))

    def distance(self, z: np.ndarray) -> np.ndarray:
        """Signed distance of z (..., D) -> (...)."""
        return np.asarray(z, dtype=np.float64) @ self.vector + self.intercept


def from_finder(name: str, finder: _LinearDirection, space: str = "z", **meta: Any) -> Direction:
    """A `Direction` in `space` from a fitted supervised finder, its fit record merged with `meta`
    (which should hold the "scale" of a w direction, `latent_scale`)."""
    from latentkit.latent.finders import RidgeDirection  # scikit-learn, imported when a fit needs it

    extra = {"center": finder.center_, "slope": finder.slope_} if isinstance(finder, RidgeDirection) else {}
    meta = {"kind": "supervised", **finder.info(), **extra, **meta}
    return Direction(name, finder.direction_, float(finder.intercept_), meta, space)


def attribute_names(directions: dict[str, Direction]) -> list[str]:
    """Names of the directions fitted to a predictor's attributes (kind "supervised"), in order."""
    return [n for n, d in directions.items() if d.meta.get("kind") == "supervised"]


def expand_hold(
    directions: dict[str, Direction], hold: Sequence[str], edited: str | None = None
) -> list[str]:
    """The directions a hold list names, "all" expanded to `attribute_names`, duplicates dropped; with
    `edited`, less the directions of its attribute (itself, its base, its held variants), which an
    edit of it cannot hold. Unknown names are a `LatentkitError` listing the known ones."""

    def attribute(name: str) -> str:
        return get_direction(directions, name).meta.get("base", name)

    out: list[str] = []
    for h in hold:
        for n in attribute_names(directions) if h == HOLD_ALL else [h]:
            get_direction(directions, n)
            if n not in out and (edited is None or attribute(n) != attribute(edited)):
                out.append(n)
    return out


def held_variant(directions: dict[str, Direction], base: str, hold: Sequence[str]) -> Direction:
    """Direction `base` with the `hold` directions held fixed, stored as "base_hold_h1_h2"
    ("base_hold_all" for hold=["all"]: every other attribute, listed in its meta).

    Its vector is `hold_fixed(base, hold)` (unit, orthogonal to every held direction); its intercept
    is 0, so absolute mode measures along the vector itself. The same edit as
    `Editor.edit(..., hold=[...])` in relative mode, kept as a named slider (e.g. "age_hold_glasses").
    Meta: {"kind": "held", "base": base, "hold": [...], "validation": the base's}.
    """
    d = get_direction(directions, base)
    words = list(hold)
    hold = expand_hold(directions, words, base)
    if not hold:
        raise LatentkitError(f"held variant of {base!r}: name at least one other direction to hold fixed")
    vector = hold_fixed(d.vector, [get_direction(directions, h).vector for h in hold])
    meta = {"kind": HELD, "base": d.name, "hold": hold, "validation": d.meta.get("validation")}
    if "scale" in d.meta:
        meta["scale"] = d.meta["scale"]  # strengths keep the base's units
    return Direction(held_name(d.name, words), vector, 0.0, meta, d.space)


def held_name(base: str, hold: Sequence[str]) -> str:
    """Name of `base` with `hold` fixed: ("age", ["smile", "glasses"]) -> "age_hold_smile_glasses"."""
    return f"{base}_hold_{'_'.join(hold)}"


def parse_held_variant(spec: str) -> tuple[str, list[str]]:
    """'age:smile,glasses' -> ("age", ["smile", "glasses"]): a held variant to store, as the CLI writes it."""
    base, sep, rest = spec.partition(":")
    hold = [h.strip() for h in rest.split(",") if h.strip()]
    if not sep or not base.strip() or not hold:
        raise LatentkitError(f"held variant {spec!r}: expected BASE:HOLD[,HOLD...], e.g. age:glasses")
    return base.strip(), hold


def conditional_variant(directions: dict[str, Direction], spec: str) -> Direction:
    """Deprecated (removed next release): `held_variant`'s old record, "base_given_...", kind "conditional".

    Kept unchanged for callers of the old name; `save_directions` stores its meta with the new keys.
    """
    warnings.warn("conditional_variant() is now held_variant()", DeprecationWarning, stacklevel=2)
    try:
        base, hold = parse_held_variant(spec)
    except LatentkitError:
        raise LatentkitError(
            f"--conditional {spec!r}: expected BASE:COND[,COND...], e.g. age:glasses"
        ) from None
    d = held_variant(directions, base, hold)
    meta = {
        "kind": "conditional",
        "base": d.meta["base"],
        "conditioned_on": hold,
        "validation": d.meta["validation"],
    }
    return Direction(f"{base}_given_{'_'.join(hold)}", d.vector, 0.0, meta, d.space)


def migrate_meta(meta: dict[str, Any]) -> dict[str, Any]:
    """`meta` with the pre-"hold" keys renamed: kind "conditional" -> "held", "conditioned_on" -> "hold"."""
    out = {("hold" if k == "conditioned_on" else k): v for k, v in meta.items()}
    if out.get("kind") == "conditional":
        out["kind"] = HELD
    return out


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
    name; a file made for other weights is replaced whole (its vectors mean nothing for these). A
    file that exists but cannot be read as directions (malformed JSON, a bad entry, another kind of
    file) is never replaced: that is a `LatentkitError` and nothing is written.
    """
    path = Path(path) if path is not None else directions_path(bundle)
    combined: dict[str, Direction] = {}
    if merge and path.exists():
        combined = _mergeable(bundle, path)
    combined.update(directions)
    spaces = {d.space for d in combined.values()}
    if len(spaces) > 1:
        raise LatentkitError(
            f"{path}: one directions file holds one latent space, not {' and '.join(sorted(spaces))} "
            "(a file made in the other space is replaced only with merge=False / a new --out)"
        )
    space = spaces.pop() if spaces else edit_space(bundle.generator)
    dim = _space_dim(bundle, space, path)
    for d in combined.values():
        check_direction_name(d.name)
        _check_vector(d.name, np.asarray(d.vector), dim, path, space)
    write_json(
        path,
        {
            "format": FORMAT,
            "version": VERSION,
            "model": {"name": bundle.name, "weights_sha256": bundle.weights_sha256},
            "space": space,
            "latent_dim": dim,
            "directions": {
                d.name: {
                    "vector": [float(x) for x in d.vector],
                    "intercept": float(d.intercept),
                    **migrate_meta(d.meta),
                }
                for d in combined.values()
            },
        },
    )
    return path


def _mergeable(bundle, path: Path) -> dict[str, Direction]:
    """The directions of an existing file to merge into: none if it is for other weights; an error
    if it cannot be read (so a typo in a hand-edited file never costs its other directions)."""
    try:
        doc = read_json(path)
        model = doc.get("model") if isinstance(doc, dict) and doc.get("format") == FORMAT else None
        if isinstance(model, dict) and model.get("weights_sha256") != bundle.weights_sha256:
            return {}  # another model's directions: replaced whole
        return load_directions(bundle, path)
    except LatentkitError as e:
        raise LatentkitError(f"{e}; it was left as it is and nothing was written") from None


def load_directions(bundle, path: str | os.PathLike | None = None) -> dict[str, Direction]:
    """Read `path` (default <bundle>/directions.json): name -> `Direction`.

    Raises `LatentkitError` naming the file when it is missing, malformed, made for another model
    (weights SHA-256 differs) or holds a vector of the wrong dimension, with NaN, or not unit-norm.
    Files written before "hold" (kind "conditional", "conditioned_on") are read as kind "held", "hold".
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
    space = doc.get("space", "z")  # files written before spaces hold z directions
    if space not in ("z", "w"):
        raise LatentkitError(f"{path}: space {str(space)[:20]!r} is not z or w")
    dim = _space_dim(bundle, space, path)
    out = {}
    for name, entry in entries.items():
        check_direction_name(name, f"{path}: direction name")
        if not isinstance(entry, dict) or not isinstance(entry.get("vector"), list):
            raise LatentkitError(f"{path}: direction {name!r} has no 'vector' list")
        try:
            vector = np.asarray(entry["vector"], dtype=np.float64)
            intercept = float(entry.get("intercept", 0.0))
        except (TypeError, ValueError):
            raise LatentkitError(f"{path}: direction {name!r}: vector or intercept is not numeric") from None
        _check_vector(name, vector, dim, path, space)
        if not np.isfinite(intercept):
            raise LatentkitError(f"{path}: direction {name!r} has a non-finite intercept")
        meta = migrate_meta({k: v for k, v in entry.items() if k not in ("vector", "intercept")})
        scale = meta.get("scale", 1.0)
        if isinstance(scale, bool) or not isinstance(scale, int | float) or not 0 < scale < 1e6:
            raise LatentkitError(
                f"{path}: direction {name!r} has scale {str(scale)[:20]!r}, not a positive number"
            )
        out[name] = Direction(name, vector, intercept, meta, space)
    return out


def latent_scale(latents: np.ndarray, vector: np.ndarray) -> float:
    """The std of `latents` (N, D) projected on `vector` (D,): a direction's strength unit."""
    return float(np.std(np.asarray(latents, np.float64) @ np.asarray(vector, np.float64)))


def sampled_scale(bundle, space: str, vector: np.ndarray, samples: int = 4096, seed: int = 12_345) -> float:
    """`latent_scale` of `vector` over `samples` fresh latents of `space` (1.0 for z, by definition)."""
    if space == "z":
        return 1.0
    return latent_scale(
        map_to_w(bundle.generator, draw_latents(samples, bundle.config.latent_dim, seed)), vector
    )


def _space_dim(bundle, space: str, path: Path) -> int:
    """Size of a direction vector in `space` for `bundle`; an error if the model has no such space."""
    check_space(bundle.generator, space, str(path))
    return bundle.generator.w_dim if space == "w" else bundle.config.latent_dim


def check_direction_name(name: Any, where: str = "direction name") -> str:
    """`name` if it is a valid direction name (a letter, then up to 63 letters, digits, _ or -), else a
    `LatentkitError` naming `where`. Names reach file names, shell recipes and reports, so nothing
    else (no '=', ',', spaces, quotes or control characters) is allowed."""
    if not isinstance(name, str) or not NAME_RE.fullmatch(name):
        raise LatentkitError(
            f"{where} {name!r}: must start with a letter, then up to 63 letters, digits, _ or -"
        )
    if name == HOLD_ALL:
        raise LatentkitError(f"{where} {name!r} is reserved (--hold all holds every attribute); pick another")
    return name


def _check_vector(name: str, vector: np.ndarray, dim: int, path: Path, space: str = "z") -> None:
    if vector.shape != (dim,):
        raise LatentkitError(
            f"{path}: direction {name!r} has {vector.size} values, the model's {space} has {dim}"
        )
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
    if not bundle.config.makes_images:
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
    space: str = "z",
) -> tuple[dict[str, np.ndarray], np.ndarray | None]:
    """Render latents of `space` (z (N, D) by default) with the bundle's generator in batches and score
    the images with the predictor.

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
            latents = torch.from_numpy(np.ascontiguousarray(z[s : s + batch], dtype=np.float32)).to(device)
            x = synthesize(gen, latents, space)
            for name, value in predictor.predict(x).items():
                if name in kinds:
                    if kinds[name] == "binary" and binary_as == "logit":
                        value = torch.logit(value.double(), eps=1e-7)
                    parts[name].append(value.double().cpu().numpy())
            if features:
                feats.append(predictor.features(x).cpu().numpy())
    scores = {name: np.concatenate(p) if p else np.empty(0) for name, p in parts.items()}
    return scores, (np.concatenate(feats) if features else None)


def score_gradients(
    bundle, predictor, x: np.ndarray, names: Sequence[str], space: str = "z", batch: int = 64
) -> dict[str, np.ndarray]:
    """d score / d latent of every latent in x (N, D) of `space` ("z" or "w"): name -> (N, D) float64.

    Scores as `score_latents` ranks them: logits for binary attributes, label units for continuous
    ones. Each sample's score depends only on its own latent (the generator and predictor run in eval
    mode), so one backward pass of the batch's summed score gives every sample's gradient.
    """
    gen = bundle.generator
    param = next(gen.parameters())
    out: dict[str, list[np.ndarray]] = {name: [] for name in names}
    with _frozen_eval(gen, predictor):
        for s in range(0, len(x), batch):
            lat = torch.as_tensor(x[s : s + batch], dtype=param.dtype, device=param.device)
            lat.requires_grad_(True)
            scores = predictor.scores(synthesize(gen, lat, space))
            for i, name in enumerate(names):
                (g,) = torch.autograd.grad(scores[name].sum(), lat, retain_graph=i < len(names) - 1)
                out[name].append(g.double().cpu().numpy())
    return {name: np.concatenate(parts) for name, parts in out.items()}


@contextlib.contextmanager
def _frozen_eval(*modules: torch.nn.Module):
    """Eval mode and no parameter gradients for `modules` inside the block; both restored after."""
    state = [(m.training, [(p, p.requires_grad) for p in m.parameters()]) for m in modules]
    for m in modules:
        m.eval().requires_grad_(False)
    try:
        yield
    finally:
        for m, (training, params) in zip(modules, state, strict=True):
            m.train(training)
            for p, flag in params:
                p.requires_grad_(flag)


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


MIN_FIT_SAMPLES = 100  # below this a 2% tail holds too few samples to fit on


def _check_fit_options(attributes: Sequence[str], samples: int, ratio: float, pca: int, sefa: int) -> None:
    """One line for each option of `fit_directions` that cannot give a meaningful fit."""
    if attributes and samples < MIN_FIT_SAMPLES:
        raise LatentkitError(f"samples={samples}: fit on at least {MIN_FIT_SAMPLES} latents")
    if not (math.isfinite(ratio) and 0 < ratio <= 0.5):
        raise LatentkitError(f"ratio={ratio}: the share taken from each end must be in (0, 0.5]")
    for name, value in (("pca", pca), ("sefa", sefa)):
        if value < 0:
            raise LatentkitError(f"{name}={value}: the number of directions must be >= 0")


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
    space: str | None = None,
    gradient_samples: int = 1024,
) -> dict[str, Direction]:
    """Fit a direction per attribute (and optionally `pca` GANSpace and `sefa` SeFa directions).

    Supervised: draw `samples` z with `seed`, render them in batches of `batch`, score them with
    `predictor` (a FeatureNet), fit `method` ("svm", "svc", "logistic", "ridge" or "gradient": the
    mean unit gradient of the score over the first `gradient_samples` latents) per attribute on the
    latents of `space` ("z", or "w" = mapping(z); default the model's edit space, w for style-based
    generators). Unsupervised: GANSpace PCA (in Z on `pca_samples` z's first-block
    activations, in W on w itself, as GANSpace does for StyleGAN); SeFa on the first layer's weights
    (Z) or on every style affine (W). Returns name -> Direction (attribute names, then pca0..,
    sefa0..); nothing is written.
    """
    from latentkit.latent.finders import GANSpacePCA, SeFa, make_finder  # scikit-learn: only for fits

    _check_fit_options(attributes, samples, ratio, pca, sefa)
    if gradient_samples < 1:
        raise LatentkitError(f"gradient_samples={gradient_samples}: average at least 1 gradient")
    make_finder(method, ratio, seed)  # validate the method name before any work
    space = check_space(bundle.generator, space or edit_space(bundle.generator), "directions fit")
    if space == "w+":
        raise LatentkitError("directions fit: fit in z or w (a w direction moves every layer of w+)")
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
        x = map_to_w(bundle.generator, z) if space == "w" else z
        grads = {}
        if make_finder(method, ratio, seed).needs_gradients:
            n_grad = min(len(x), gradient_samples)
            grads = score_gradients(bundle, predictor, x[:n_grad], list(attributes), space, batch)
        for name in attributes:
            extra = {"gradients": grads[name]} if grads else {}
            finder = make_finder(method, ratio, seed).fit(x, scores[name], **extra)
            scale = {"scale": latent_scale(x, finder.direction_)} if space == "w" else {}
            out[name] = from_finder(
                name,
                finder,
                space,
                **scale,
                attribute=name,
                samples_seed=seed,
                score_mean=float(scores[name].mean()),
                score_std=float(scores[name].std()),
                predictor=predictor_meta or {},
            )
    if pca:
        zp = draw_latents(min(pca_samples, max(samples, 2 * pca)), dim, seed + 1)
        if space == "w":
            wp = map_to_w(bundle.generator, zp)
            est = GANSpacePCA(pca, seed).fit(wp, wp)
        elif bundle.config.makes_images and hasattr(bundle.generator, "net"):
            est = GANSpacePCA(pca, seed).fit(zp, first_block_activations(bundle.generator, zp))
        else:
            raise LatentkitError(f"model {bundle.name!r}: GANSpace directions in z need a DCGAN generator")
        for i, (v, ev) in enumerate(zip(est.components_, est.explained_variance_ratio_, strict=True)):
            meta = {"kind": "pca", "explained_variance_ratio": float(ev), "n_samples": len(zp)}
            if space == "w":
                meta["scale"] = latent_scale(wp, v)
            out[f"pca{i}"] = Direction(f"pca{i}", v, 0.0, {**meta, "samples_seed": seed + 1}, space)
    if sefa:
        if space == "w":
            weight = bundle.generator.style_weights().T  # (D, channels): SeFa's A^T
        elif hasattr(bundle.generator, "first_layer_weight"):
            weight = bundle.generator.first_layer_weight()
        else:
            raise LatentkitError(f"model {bundle.name!r}: SeFa directions in z need a Z-only generator")
        est = SeFa(sefa).fit(weight)
        for i, (v, ev) in enumerate(zip(est.components_, est.eigenvalues_, strict=True)):
            meta = {"kind": "sefa", "eigenvalue": float(ev)}
            if space == "w":
                meta["scale"] = sampled_scale(bundle, space, v)
            out[f"sefa{i}"] = Direction(f"sefa{i}", v, 0.0, meta, space)
    return out
