"""Editing latents along named directions, and the one way to save and load latents.

    editor = Editor("runs/faces64")                       # a bundle (or run) folder, or a Bundle
    z = editor.sample(seed=3, psi=0.7)                    # (D,) float32
    z2 = editor.edit(z, {"smile": 1.5, "age": -1.0}, hold=["glasses"])
    editor.export(z2, "out", "face.png", seed=3, edits=editor.edit_record({"smile": 1.5, ...}))

Relative mode adds strength x unit direction: the signed distance to that attribute's boundary
changes by `strength` (z units; a Gaussian z has norm ~sqrt(D), and -3..3 is InterFaceGAN's range).
Absolute mode *sets* the signed distance to `strength`, as InterFaceGAN's `linear_interpolate`
does, with 0 the fitted decision boundary. With `hold`, each edit moves along its direction with the
held directions' components removed (`finders.hold_fixed`), so their distances stay put.
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
from latentkit.latent.directions import Direction, get_direction, hold_fixed, load_directions
from latentkit.latent.interpolate import truncate
from latentkit.latent.sampling import sample_latent

MODES = ("relative", "absolute")
SANE_STRENGTH = 10.0
LATENT_FORMAT = "latentkit-latents"


class Editor:
    """A model bundle plus its directions: sample, edit, render and export latents.

    Args:
        bundle: a loaded `Bundle`, or a bundle / run folder to load.
        directions: name -> `Direction`; default the bundle's directions.json, read on first use.
        device: where to load the generator when `bundle` is a path.
    """

    def __init__(self, bundle, directions: Mapping[str, Direction] | None = None, device: str = "cpu"):
        if isinstance(bundle, str | os.PathLike):
            from latentkit.models import load_bundle

            bundle = load_bundle(bundle, device)
        self.bundle = bundle
        self._directions = dict(directions) if directions is not None else None

    @property
    def latent_dim(self) -> int:
        return self.bundle.config.latent_dim

    @property
    def directions(self) -> dict[str, Direction]:
        """name -> Direction (loaded from the bundle's directions.json the first time)."""
        if self._directions is None:
            self._directions = load_directions(self.bundle)
        return self._directions

    def sample(self, seed: int, psi: float = 1.0) -> np.ndarray:
        """The latent of `seed` (as `latentkit generate` draws it), truncated by `psi`: (D,) float32."""
        return truncate(sample_latent(seed, self.latent_dim), psi)

    def direction(
        self, name: str, hold: Sequence[str] = (), *, conditional: Sequence[str] | None = None
    ) -> np.ndarray:
        """Unit vector (D,) of direction `name`, orthogonal to the `hold` directions (other than `name`)."""
        hold = _hold(hold, conditional)
        d = get_direction(self.directions, name)
        held = [get_direction(self.directions, h).vector for h in hold if h != name]
        return hold_fixed(d.vector, held) if held else d.vector

    def distance(self, z: np.ndarray, name: str) -> np.ndarray:
        """Signed distance of z (D,) or (N, D) to direction `name`'s boundary: () or (N,)."""
        return get_direction(self.directions, name).distance(check_latents(z, self.latent_dim, "latent"))

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
        relative: z + sum_i strength_i * n_i, n_i the unit direction (with `hold` held fixed).
        absolute: the z + sum_j a_j n_j whose signed distance to every edited boundary i equals
            strength_i, solved jointly, so setting smile and age together does not undo either.
        Strengths beyond +-10 warn (far outside where the generator has seen latents).
        """
        hold = _hold(hold, conditional)
        if mode not in MODES:
            raise LatentkitError(f"edit mode {mode!r}: choose relative or absolute")
        z = check_latents(z, self.latent_dim, "latent")
        names, strengths = list(edits), np.array([_strength(n, s) for n, s in edits.items()])
        if not names:
            return z.copy()
        moves = np.stack([self.direction(n, hold) for n in names])  # (k, D)
        if mode == "relative":
            alphas = np.broadcast_to(strengths, (*z.shape[:-1], len(names)))
        else:
            normals = np.stack([get_direction(self.directions, n).vector for n in names])
            intercepts = np.array([get_direction(self.directions, n).intercept for n in names])
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

        Each entry: {"direction", "strength", "mode", "hold": the other held directions, "method"}.
        (Manifests written before "hold" name that list "conditioned_on".)
        """
        hold = _hold(hold, conditional)
        record = []
        for name, strength in edits.items():
            d = get_direction(self.directions, name)
            record.append(
                {
                    "direction": name,
                    "strength": float(strength),
                    "mode": mode,
                    "hold": [h for h in hold if h != name],
                    "method": d.meta.get("method", d.meta.get("kind")),
                }
            )
        return record

    def render(self, z: np.ndarray, size: int = 256) -> np.ndarray:
        """Pixels of one latent (D,): (size, size, 3) uint8, unwatermarked, for on-screen previews.

        Files for users go through `export` (watermark, manifest, signature).
        """
        from latentkit.models.render import render

        return render(self.bundle, check_latents(z, self.latent_dim, "latent").reshape(-1), size)

    def export(self, z: np.ndarray, folder: str | os.PathLike, name: str, **kwargs: Any):
        """`latentkit.provenance.export_image(self.bundle, z, folder, name, **kwargs)`: an ExportResult."""
        from latentkit.provenance.export import export_image

        return export_image(self.bundle, z, folder, name, **kwargs)


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


def save_latents(path: str | os.PathLike, z: np.ndarray) -> Path:
    """Write latents (D,) or (N, D) as .npy (float32) or .json ({"format", "latent_dim", "latents"})."""
    path = Path(path)
    z = np.asarray(z, dtype=np.float32)
    if path.suffix == ".npy":
        buf = io.BytesIO()
        np.lib.format.write_array(buf, z, allow_pickle=False)  # what np.save writes
        write_bytes(path, buf.getvalue())
    elif path.suffix == ".json":
        rows = z.reshape(-1, z.shape[-1])
        # float(float32) is exact in a double and json round-trips doubles, so this is lossless.
        doc = {"format": LATENT_FORMAT, "latent_dim": int(z.shape[-1]), "latents": rows.tolist()}
        write_json(path, doc)
    else:
        raise LatentkitError(f"{path}: latents are saved as .npy or .json")
    return path


def load_latents(path: str | os.PathLike, dim: int) -> np.ndarray:
    """Read latents written by `save_latents` (or any float .npy / JSON list): (N, dim) float32.

    .npy files are read with allow_pickle=False; JSON may be a list of numbers, a list of lists, or
    an object with a "latents" list. Wrong dimension, NaN or a malformed file -> `LatentkitError`.
    """
    path = Path(path)
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
        doc = read_json(path)
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
    return check_latents(z, dim, str(path)).reshape(-1, dim)


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
