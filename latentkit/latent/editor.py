"""Editing latents along named directions, and the one way to save and load latents.

    editor = Editor("runs/faces64")                       # a bundle (or run) folder, or a Bundle
    z = editor.sample(seed=3, psi=0.7)                    # (D,) float32
    z2 = editor.edit(z, {"smile": 1.5, "age": -1.0}, hold=["glasses"])
    editor.export(z2, "out", "face.png", seed=3, edits=editor.edit_record({"smile": 1.5, ...}))

The editor works in one latent space (`editor.space`): W for style-based generators, where
attributes are far more linearly separable, else Z (`latentkit.models.latents`). `sample` maps a
seed's z into it; edits, renders and exports take latents of that space, and a w+ latent (one w per
layer) moves along a w direction at every layer alike.

Relative mode adds strength x unit direction: the signed distance to that attribute's boundary
changes by `strength` (z units; a Gaussian z has norm ~sqrt(D), and -3..3 is InterFaceGAN's range).
Absolute mode *sets* the signed distance to `strength`, as InterFaceGAN's `linear_interpolate`
does, with 0 the fitted decision boundary. With `hold`, each edit moves along its direction with the
held directions' components removed (`latentkit.latent.hold.hold_fixed`), so their distances stay put
and, being the same length, the edited distance changes by strength x cos(direction, held direction)
(InterFaceGAN's conditional manipulation; faces64: cos 0.67 for smile holding age and glasses).
`hold=["all"]` holds every attribute direction (fitted to a predictor) but the edited one: in a
generator whose attributes are entangled this is what makes a slider move one attribute (faces64:
+3 smile changes skin tone by 0.20 holding age and glasses, by 0.06 holding all).
"""

from __future__ import annotations

import io
import math
import os
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from latentkit.errors import LatentkitError
from latentkit.io import read_json, write_bytes, write_json
from latentkit.latent.directions import (
    Direction,
    attribute_names,
    expand_hold,
    get_direction,
    load_directions,
)
from latentkit.latent.hold import hold_fixed
from latentkit.latent.interpolate import truncate
from latentkit.latent.sampling import sample_latent
from latentkit.models.latents import SPACES, check_space, edit_space, latent_shape, map_to_w, truncate_w
from latentkit.models.latents import check_latents as check_space_latents

MODES = ("relative", "absolute")
SANE_STRENGTH = 10.0
LATENT_FORMAT = "latentkit-latents"


class Editor:
    """A model bundle plus its directions: sample, edit, render and export latents.

    Args:
        bundle: a loaded `Bundle`, or a bundle / run folder to load.
        directions: name -> `Direction`; default the bundle's directions.json, read on first use.
        device: where to load the generator when `bundle` is a path.
        space: the latents it takes and returns: "z", "w" or "w+" (default: "w" for style-based
            generators, else "z").
    """

    def __init__(
        self,
        bundle,
        directions: Mapping[str, Direction] | None = None,
        device: str = "cpu",
        space: str | None = None,
    ):
        if isinstance(bundle, str | os.PathLike):
            from latentkit.models import load_bundle

            bundle = load_bundle(bundle, device)
        self.bundle = bundle
        self._directions = dict(directions) if directions is not None else None
        self.space = check_space(bundle.generator, space or edit_space(bundle.generator), "editor")

    @property
    def latent_shape(self) -> tuple[int, ...]:
        """Shape of one latent of the editor's space: (D,), or (num_ws, D) for w+."""
        return latent_shape(self.bundle.generator, self.space)

    @property
    def latent_dim(self) -> int:
        """Size of one latent vector of the editor's space (of each layer's w, for w+)."""
        return self.latent_shape[-1]

    @property
    def vector_space(self) -> str:
        """The space its directions live in: "w" for w and w+ latents, else "z"."""
        return "z" if self.space == "z" else "w"

    @property
    def directions(self) -> dict[str, Direction]:
        """name -> Direction (loaded from the bundle's directions.json the first time)."""
        if self._directions is None:
            self._directions = load_directions(self.bundle)
        return self._directions

    def sample(self, seed: int, psi: float = 1.0) -> np.ndarray:
        """The latent of `seed` in the editor's space, truncated by `psi`, float32 of `latent_shape`.

        A seed always draws z (`sample_latent`); in W it is mapped, w = mapping(z), and truncated
        toward the generator's w_avg as StyleGAN does (in Z, `truncate` pulls z toward 0); w+ repeats
        that w at every layer.
        """
        return self.from_z(sample_latent(seed, self.bundle.config.latent_dim), psi)

    def from_z(self, z: np.ndarray, psi: float = 1.0) -> np.ndarray:
        """z (latent_dim,) or (N, latent_dim) -> the same latents in the editor's space, truncated by psi."""
        z = np.asarray(z, dtype=np.float32)
        if self.space == "z":
            return truncate(z, psi)
        G = self.bundle.generator
        w = truncate_w(G, map_to_w(G, z.reshape(-1, z.shape[-1])), psi)
        if self.space == "w+":
            w = np.repeat(w[:, None, :], G.num_ws, axis=1)
        return w.reshape(*z.shape[:-1], *self.latent_shape).astype(np.float32)

    @property
    def attributes(self) -> list[str]:
        """Names of the directions fitted to a predictor's attributes, in file order: what
        `hold=["all"]` holds (`latentkit.latent.directions.attribute_names`)."""
        return attribute_names(self.directions)

    def held(self, hold: Sequence[str], name: str | None = None) -> list[str]:
        """The directions `hold` names ("all" expanded; with `name`, less its own attribute's), each
        checked against the editor's space (`latentkit.latent.directions.expand_hold`)."""
        if not hold:
            return []  # and no directions file needed: an edit with nothing held reads none
        names = expand_hold(self.directions, hold, name)
        for n in names:
            self._direction(n)
        return names

    def direction(
        self, name: str, hold: Sequence[str] = (), *, conditional: Sequence[str] | None = None
    ) -> np.ndarray:
        """Unit vector (D,) of direction `name`, orthogonal to the `hold` directions (`held`)."""
        d = self._direction(name)
        held = [self._direction(h).vector for h in self.held(_hold(hold, conditional), name)]
        return hold_fixed(d.vector, held) if held else d.vector

    def _direction(self, name: str) -> Direction:
        """Direction `name`, after checking it lives in the space the editor's latents move in."""
        d = get_direction(self.directions, name)
        if d.space != self.vector_space:
            raise LatentkitError(
                f"direction {name!r} was fitted in {d.space.upper()}; this editor edits "
                f"{self.space} latents (fit directions in {self.vector_space.upper()}, or open the "
                f"editor with space={d.space!r})"
            )
        return d

    def check(self, x: np.ndarray, source: str = "latent") -> np.ndarray:
        """x as one latent (or N) of the editor's space, float32; else a `LatentkitError`."""
        return check_space_latents(x, self.bundle.generator, self.space, source)

    def distance(self, z: np.ndarray, name: str) -> np.ndarray:
        """Signed distance of latents (one or N) to direction `name`'s boundary, in its strength units
        (`Direction.scale`; plain z units in Z): () or (N,). For w+, of each latent's mean w."""
        x = self.check(z)
        if self.space == "w+":
            x = x.mean(axis=-2)
        d = self._direction(name)
        return d.distance(x) / d.scale

    def edit(
        self,
        z: np.ndarray,
        edits: Mapping[str, float],
        hold: Sequence[str] = (),
        mode: str = "relative",
        *,
        conditional: Sequence[str] | None = None,
    ) -> np.ndarray:
        """Move z (D,) or (N, D) along the named directions; returns the same shape, float32.

        hold: directions whose signed distances stay fixed (each edit direction loses its component
            in their span); `conditional` is its deprecated old name.
        relative: z + sum_i strength_i * scale_i * n_i, n_i the unit direction (with `hold` held
            fixed), scale_i its strength unit (`Direction.scale`: 1 in Z, the std of sampled w along
            it in W, so +3 is three standard deviations in either space).
        absolute: the z + sum_j a_j n_j whose signed distance to every edited boundary i equals
            strength_i * scale_i, solved jointly, so setting smile and age together does not undo
            either.
        Strengths beyond +-10 warn (far outside where the generator has seen latents).
        """
        hold = _hold(hold, conditional)
        if mode not in MODES:
            raise LatentkitError(f"edit mode {mode!r}: choose relative or absolute")
        x = self.check(z)
        names, strengths = list(edits), np.array([_strength(n, s) for n, s in edits.items()])
        if not names:
            return x.copy()
        if self.space == "w+":  # every layer moves alike; distances are of the mean w over layers
            plus = x.mean(axis=-2)
            return (x + (self._edit_vectors(plus, names, strengths, hold, mode) - plus)[..., None, :]).astype(
                np.float32
            )
        return self._edit_vectors(x, names, strengths, hold, mode)

    def _edit_vectors(
        self, z: np.ndarray, names: list[str], strengths: np.ndarray, hold: list[str], mode: str
    ) -> np.ndarray:
        """`edit` for vectors (D,) or (N, D) of the directions' space."""
        moves = np.stack([self.direction(n, hold) for n in names])  # (k, D)
        strengths = strengths * np.array([self._direction(n).scale for n in names])  # latent units
        if mode == "relative":
            alphas = np.broadcast_to(strengths, (*z.shape[:-1], len(names)))
        else:
            normals = np.stack([self._direction(n).vector for n in names])
            intercepts = np.array([self._direction(n).intercept for n in names])
            gain = normals @ moves.T  # gain[i, j]: distance i gained per unit step along move j
            if np.linalg.cond(gain) > 1e6:
                raise LatentkitError(
                    f"absolute edit of {', '.join(names)}: these directions are (nearly) parallel; "
                    "set them one at a time"
                )
            gap = strengths - (z.astype(np.float64) @ normals.T + intercepts)  # (..., k)
            alphas = np.linalg.solve(gain, gap.reshape(-1, len(names)).T).T.reshape(gap.shape)
        return (z + alphas @ moves).astype(np.float32)

    def edit_record(
        self,
        edits: Mapping[str, float],
        hold: Sequence[str] = (),
        mode: str = "relative",
        *,
        conditional: Sequence[str] | None = None,
    ) -> list[dict[str, Any]]:
        """The manifest's `edits` list for an `edit` call: one entry per direction.

        Each entry: {"direction", "strength", "mode", "hold": the directions it held (`held`: "all"
        written out), "method"}.
        (Manifests written before "hold" name that list "conditioned_on".)
        """
        hold = _hold(hold, conditional)
        record = []
        for name, strength in edits.items():
            d = self._direction(name)
            record.append(
                {
                    "direction": name,
                    "strength": float(strength),
                    "mode": mode,
                    "hold": self.held(hold, name),
                    "method": d.meta.get("method", d.meta.get("kind")),
                    "space": d.space,
                }
            )
        return record

    def render(self, z: np.ndarray, size: int = 256) -> np.ndarray:
        """Pixels of one latent (D,): (size, size, 3) uint8, unwatermarked, for on-screen previews.

        Files for users go through `export` (watermark, manifest, signature).
        """
        from latentkit.models.render import render

        x = self.check(z)
        return render(self.bundle, x.reshape(self.latent_shape), size, self.space)

    def read_latents(self, path: str | os.PathLike) -> np.ndarray:
        """Latents from a file (`save_latents`), as (N, *latent_shape) of the editor's space.

        A file says its space (.json "space"; a .npy or an older .json holds z). z latents are
        mapped into W for a W editor (a seed's z, as `sample` does, without truncation); w latents
        become w+ by repeating them per layer; anything else is one clear error.
        """
        stored = latents_space(path)
        if stored == self.space or (stored == "z" and self.space != "z"):
            shape = self.latent_shape if stored == self.space else (self.bundle.config.latent_dim,)
            x = load_latents(path, shape, space=stored)
            return x if stored == self.space else self.from_z(x)
        if (stored, self.space) == ("w", "w+"):
            x = load_latents(path, (self.latent_dim,), space="w")
            return np.repeat(x[:, None, :], self.latent_shape[0], axis=1)
        raise LatentkitError(f"{path}: holds {stored} latents; this editor takes {self.space} (or z) latents")

    def write_latents(self, path: str | os.PathLike, x: np.ndarray) -> Path:
        """Write latents of the editor's space to `path` (.json records the space; .npy only for z)."""
        return save_latents(path, self.check(x), space=self.space)

    def export(self, z: np.ndarray, folder: str | os.PathLike, name: str, **kwargs: Any):
        """`latentkit.provenance.export_image(self.bundle, z, folder, name, space=self.space, **kwargs)`."""
        from latentkit.provenance.export import export_image

        return export_image(self.bundle, z, folder, name, space=self.space, **kwargs)


def _hold(hold: Sequence[str], conditional: Sequence[str] | None) -> list[str]:
    """The held directions, from `hold` or the deprecated `conditional=` keyword (one release)."""
    if conditional is not None:
        warnings.warn("the conditional= keyword is now hold=", DeprecationWarning, stacklevel=3)
        if hold:
            raise LatentkitError("pass hold=[...] or the old conditional=[...], not both")
        hold = conditional
    if isinstance(hold, str):
        raise LatentkitError(f"hold={hold!r}: pass a list of direction names, e.g. hold=[{hold!r}]")
    return list(hold)


def _strength(name: str, value: Any) -> float:
    try:
        s = float(value)
    except (TypeError, ValueError):
        raise LatentkitError(f"edit {name}={value!r}: strength must be a number") from None
    if not math.isfinite(s):
        raise LatentkitError(f"edit {name}={value!r}: strength must be finite")
    if abs(s) > SANE_STRENGTH:
        warnings.warn(
            f"edit {name}={s:g}: beyond +-{SANE_STRENGTH:g} the latent leaves the region the generator "
            "was trained on; expect artefacts",
            UserWarning,
            stacklevel=3,
        )
    return s


# --- latents on disk -----------------------------------------------------------------------------


def check_latents(z: Any, dim: int, source: str) -> np.ndarray:
    """z as float32 (D,) or (N, D) with D == dim and finite values, else `LatentkitError` naming `source`."""
    try:
        z = np.asarray(z, dtype=np.float32)
    except (TypeError, ValueError):
        raise LatentkitError(f"{source}: not a numeric array") from None
    if z.ndim not in (1, 2) or z.shape[-1] != dim or z.size == 0:
        raise LatentkitError(f"{source}: shape {z.shape}, the model needs ({dim},) or (N, {dim})")
    if not np.isfinite(z).all():
        raise LatentkitError(f"{source}: contains NaN or infinity")
    return z


def save_latents(path: str | os.PathLike, z: np.ndarray, space: str = "z") -> Path:
    """Write latents of `space` as .npy (float32, z only: the file cannot say its space) or .json
    ({"format", "space", "latent_dim", "latents"}; w+ adds "layers")."""
    path = Path(path)
    z = np.asarray(z, dtype=np.float32)
    if space not in SPACES:
        raise LatentkitError(f"{path}: space {space!r} is not one of {', '.join(SPACES)}")
    if path.suffix == ".npy" and space != "z":
        raise LatentkitError(f"{path}: save {space} latents as .json (a .npy file cannot record its space)")
    if path.suffix == ".npy":
        buf = io.BytesIO()
        np.lib.format.write_array(buf, z, allow_pickle=False)  # what np.save writes
        write_bytes(path, buf.getvalue())
    elif path.suffix == ".json":
        one = z.shape[-2:] if space == "w+" else z.shape[-1:]
        rows = z.reshape(-1, *one)
        # float(float32) is exact in a double and json round-trips doubles, so this is lossless.
        doc = {"format": LATENT_FORMAT, "space": space, "latent_dim": int(z.shape[-1])}
        if space == "w+":
            doc["layers"] = int(one[0])
        write_json(path, {**doc, "latents": rows.tolist()})
    else:
        raise LatentkitError(f"{path}: latents are saved as .npy or .json")
    return path


def latents_space(path: str | os.PathLike) -> str:
    """The space a latents file holds: a .json's "space" (validated), else "z" (.npy, older .json)."""
    path = Path(path)
    if path.suffix != ".json":
        return "z"
    return _doc_space(read_json(path), path)


def _doc_space(doc: Any, path: Path) -> str:
    """The validated "space" of a latents JSON document ("z" when it has none)."""
    space = doc.get("space", "z") if isinstance(doc, dict) else "z"
    if space not in SPACES:
        raise LatentkitError(f"{path}: space {str(space)[:20]!r} is not one of {', '.join(SPACES)}")
    return space


def load_latents(path: str | os.PathLike, dim: int | tuple[int, ...], space: str = "z") -> np.ndarray:
    """Read latents written by `save_latents` (or any float .npy / JSON list): (N, *shape) float32,
    shape = (dim,) or a tuple such as (num_ws, D) for w+.

    .npy files are read with allow_pickle=False; JSON may be a list of numbers, a list of lists, or
    an object with a "latents" list. A .json that records another space than `space`, wrong
    dimensions, NaN or a malformed file -> `LatentkitError`.
    """
    path = Path(path)
    shape = (dim,) if isinstance(dim, int) else tuple(dim)
    if path.suffix == ".npy" and space != "z":
        raise LatentkitError(f"{path}: holds z latents, expected {space}")
    if path.suffix == ".npy":
        try:
            z = np.load(path, allow_pickle=False)
        except FileNotFoundError:
            raise LatentkitError(f"{path}: file not found") from None
        except (ValueError, OSError, EOFError) as e:
            raise LatentkitError(f"{path}: not a plain numeric .npy file ({e})") from None
        if z.dtype.kind not in "iuf":  # complex would silently lose its imaginary part
            raise LatentkitError(f"{path}: dtype {z.dtype} is not a real number type")
    elif path.suffix == ".json":
        doc = read_json(path)  # read once: its space and its latents
        held = _doc_space(doc, path)
        if held != space:
            raise LatentkitError(f"{path}: holds {held} latents, expected {space}")
        z = doc.get("latents") if isinstance(doc, dict) else doc
        if not isinstance(z, list):
            raise LatentkitError(f"{path}: expected a list of latents (or an object with 'latents')")
        try:
            z = np.asarray(z)  # JSON numbers give an int or float array; strings, nulls, bools do not
        except (TypeError, ValueError):
            z = None
        if z is None or z.dtype.kind not in "iuf":
            raise LatentkitError(f"{path}: latents must be lists of numbers of equal length")
    else:
        raise LatentkitError(f"{path}: latents must be a .npy or .json file")
    if len(shape) > 1:
        if z.shape[-len(shape) :] != shape or z.ndim not in (len(shape), len(shape) + 1) or not z.size:
            raise LatentkitError(
                f"{path}: shape {z.shape}, the model needs {shape} or (N, *{shape}) ({space})"
            )
        check_latents(z.reshape(-1, shape[-1]), shape[-1], str(path))  # dtype, finite
        return z.astype(np.float32).reshape(-1, *shape)
    return check_latents(z, shape[0], str(path)).reshape(-1, shape[0])


def parse_edit(text: str) -> tuple[str, float]:
    """'smile=1.5' -> ("smile", 1.5), for --edit flags."""
    name, sep, value = text.partition("=")
    if not sep or not name.strip():
        raise LatentkitError(f"--edit {text!r}: expected NAME=STRENGTH, e.g. smile=1.5")
    try:
        return name.strip(), float(value)
    except ValueError:
        raise LatentkitError(f"--edit {text!r}: strength {value!r} is not a number") from None


def parse_sweep(text: str) -> tuple[str, np.ndarray]:
    """'smile=-3:3:7' -> ("smile", array of 7 strengths from -3 to 3), for --sweep."""
    name, sep, spec = text.partition("=")
    parts = spec.split(":")
    try:
        if not sep or not name.strip() or len(parts) != 3:
            raise ValueError
        lo, hi, n = float(parts[0]), float(parts[1]), int(parts[2])
    except ValueError:
        raise LatentkitError(f"--sweep {text!r}: expected NAME=START:STOP:COUNT, e.g. smile=-3:3:7") from None
    if not (math.isfinite(lo) and math.isfinite(hi)) or not 1 <= n <= 101:
        raise LatentkitError(f"--sweep {text!r}: finite bounds and 1 to 101 steps, please")
    return name.strip(), np.linspace(lo, hi, n)
