"""One editor session as plain data: the face being edited, the slider slots and the undo history.

No gradio here. The UI (`latentkit.app.editor`) lays out components and calls `EditorApp`
(`latentkit.app.handlers`), which keeps a `Session` per browser tab in a `gr.State`.

A slider *slot* is one row of the Edit tab (slider + "hold fixed" box). Slots are fixed when the
app is built: one per direction of the bundle and of the user's directions file, then a few free
ones that directions fitted in the Custom tab fill during a session.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
import shlex
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from latentkit.errors import LatentkitError
from latentkit.latent.directions import HOLD_ALL, check_direction_name

SLIDER_MAX = 3.0  # InterFaceGAN's editing range, in z units
UI_MAX_SEED = 2**32 - 1  # browsers hold numbers as doubles: exact only up to 2**53, so stay well below
FREE_SLOTS = 6  # custom directions one session can add as sliders
HISTORY = 100  # undo steps kept
GROUPS = {"attributes": "Attributes", "unsupervised": "Unsupervised (PCA / SeFa)", "custom": "Custom"}


@dataclass(frozen=True)
class Slot:
    """One slider row: the direction it moves (None: a free custom slot) and its group."""

    name: str | None
    group: str


def group_of(name: str, meta: dict[str, Any]) -> str:
    """'attributes', 'unsupervised' (GANSpace PCA, SeFa) or 'custom' (fitted in the app)."""
    kind = meta.get("kind")
    if kind in ("pca", "sefa") or re.fullmatch(r"(pca|sefa)\d+", name):
        return "unsupervised"
    return "custom" if kind == "custom" else "attributes"


def make_slots(directions: dict[str, Any], free: int = FREE_SLOTS) -> list[Slot]:
    """Slots for `directions` (name -> Direction), grouped in GROUPS order, then `free` custom ones."""
    slots = [Slot(n, group_of(n, d.meta)) for n, d in directions.items()]
    order = list(GROUPS)
    slots.sort(key=lambda s: order.index(s.group))  # stable: keeps the file's order within a group
    return slots + [Slot(None, "custom")] * free


@dataclass(frozen=True)
class Snapshot:
    """Everything the Edit tab shows; the undo history is a list of these.

    Attributes:
        z: the base latent (before edits) as float32 bytes, so snapshots compare and hash cheaply.
        seed, psi: where z came from (seed None: an uploaded or composed latent).
        source: "seed 3" or the uploaded file's name, for people and the CLI command.
        mode: "relative" or "absolute".
        values, holds: the slider positions and "hold fixed" boxes, one per slot.
        anchors: per slot, the position that means "no edit": 0 in relative mode, the base latent's
            signed distance (rounded to the slider step) in absolute mode.
        projection: JSON text of the manifest's `projection` record when z was projected from an
            uploaded image (`source` is then the image's file name), else None.
    """

    z: bytes
    seed: int | None
    psi: float
    source: str
    mode: str
    values: tuple[float, ...]
    holds: tuple[bool, ...]
    anchors: tuple[float, ...]
    projection: str | None = None

    @property
    def latent(self) -> np.ndarray:
        """The base latent (D,) float32 (a writable copy: torch warns about read-only buffers)."""
        return np.frombuffer(self.z, dtype=np.float32).copy()

    def replace(self, **changes: Any) -> Snapshot:
        return dataclasses.replace(self, **changes)


def snapshot(
    z: np.ndarray,
    n_slots: int,
    seed: int | None,
    psi: float,
    source: str,
    holds: tuple[bool, ...] | None = None,
) -> Snapshot:
    """A fresh relative-mode snapshot of latent z (D,) with every slider at 0 (hold boxes: `holds`,
    default none ticked)."""
    zeros = (0.0,) * n_slots
    holds = (False,) * n_slots if holds is None else holds
    z32 = np.ascontiguousarray(z, dtype=np.float32)
    return Snapshot(z32.tobytes(), seed, float(psi), source, "relative", zeros, holds, zeros)


def hold_words(held: list[str], attributes: Sequence[str]) -> list[str]:
    """`held` as `latentkit edit --hold` reads it: "all" in place of every attribute direction when all
    of them are held, then the other held names."""
    if attributes and set(attributes) <= set(held):
        return [HOLD_ALL, *(n for n in held if n not in attributes)]
    return list(held)


@dataclass
class Keyframe:
    """An Interpolate-tab keyframe: a latent (D,), a caption, and how it was made (for the manifest)."""

    label: str
    z: np.ndarray
    record: dict[str, Any]


@dataclass
class Session:
    """The state of one browser tab. Handlers mutate it in place (gradio keeps the object).

    `now` is what the page shows, updated on every slider move; `saved` is the newest undo step.
    `commit` turns `now` into an undo step; slider releases, hold boxes and every other action
    commit, so a drag is one step however many frames it rendered.
    """

    now: Snapshot
    saved: Snapshot | None = None
    history: list[Snapshot] = field(default_factory=list)
    future: list[Snapshot] = field(default_factory=list)
    custom: dict[int, Any] = field(default_factory=dict)  # slot index -> Direction fitted here
    keyframes: list[Keyframe] = field(default_factory=list)
    grid_seeds: list[int] = field(default_factory=list)  # Custom tab samples
    grid_files: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.saved is None:
            self.saved = self.now

    def commit(self, snap: Snapshot | None = None) -> bool:
        """Make `snap` (default: the shown `now`) the newest undo step; False if nothing changed."""
        if snap is not None:
            self.now = snap
        if self.now == self.saved:
            return False
        self.history = [*self.history, self.saved][-HISTORY:]
        self.future = []
        self.saved = self.now
        return True

    def undo(self) -> bool:
        self.commit()
        if not self.history:
            return False
        self.future = [self.saved, *self.future]
        self.saved = self.now = self.history[-1]
        self.history = self.history[:-1]
        return True

    def redo(self) -> bool:
        self.commit()
        if not self.future:
            return False
        self.history = [*self.history, self.saved]
        self.saved = self.now = self.future[0]
        self.future = self.future[1:]
        return True


# --- reading the sliders -------------------------------------------------------------------------


def check_value(value: Any, what: str) -> float:
    """A slider value as a float in [-SLIDER_MAX, SLIDER_MAX], else a `LatentkitError` naming `what`."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise LatentkitError(f"{what}: {value!r} is not a number") from None
    if not math.isfinite(v) or abs(v) > SLIDER_MAX + 1e-9:
        raise LatentkitError(f"{what}: {v} is outside -{SLIDER_MAX:g}..{SLIDER_MAX:g}")
    return v


def check_values(values: Any, n: int) -> tuple[float, ...]:
    """n slider values, each checked by `check_value`."""
    values = tuple(values)
    if len(values) != n:
        raise LatentkitError(f"expected {n} slider values, got {len(values)}")
    return tuple(check_value(v, f"slider {i + 1}") for i, v in enumerate(values))


def check_seed(seed: Any) -> int:
    """A seed typed into the UI as an int in 0..UI_MAX_SEED, else a `LatentkitError`."""
    try:
        value = float(seed)
    except (TypeError, ValueError):
        raise LatentkitError(f"seed {seed!r}: type a whole number") from None
    if not value.is_integer() or not 0 <= value <= UI_MAX_SEED:
        raise LatentkitError(f"seed {seed!r}: must be a whole number from 0 to {UI_MAX_SEED}")
    return int(value)


def edits_of(names: list[str | None], snap: Snapshot) -> tuple[dict[str, float], list[str]]:
    """({direction: strength} for every slider away from its anchor, [directions held fixed])."""
    edits = {
        n: round(v, 4)
        for n, v, a in zip(names, snap.values, snap.anchors, strict=True)
        if n is not None and abs(v - a) > 1e-6
    }
    held = [n for n, h in zip(names, snap.holds, strict=True) if n is not None and h]
    return edits, held


def describe(edits: dict[str, float], held: list[str], mode: str, attributes: Sequence[str] = ()) -> str:
    """The edit list in words: 'smile +1.5, age -1.0 (relative) · holding glasses fixed' ("every other
    attribute" when all of `attributes` are held)."""
    if not edits:
        text = "No edits yet: move a slider."
    else:
        verb = "set to" if mode == "absolute" else "moved by"
        text = f"{mode.capitalize()} ({verb}): " + ", ".join(f"**{n}** {s:+.1f}" for n, s in edits.items())
    words = hold_words(held, attributes)
    if words[:1] == [HOLD_ALL]:
        words[0] = "every other attribute"
    if words:
        text += " · holding " + ", ".join(words) + " fixed"
    return text


def cli_command(
    model: str,
    snap: Snapshot,
    edits: dict[str, float],
    held: list[str],
    extra: str = "",
    directions_file: str | None = None,
    attributes: Sequence[str] = (),
) -> str:
    """The `latentkit edit` command that exports this face, as shell text with comments.

    `extra` is a note shown first; `directions_file` (the user's saved custom directions, when an
    edit uses one) is passed with --directions; `--hold all` stands for every one of `attributes`.
    """
    base = f"latentkit edit --model {shlex.quote(model)}"
    if directions_file:
        base += f" --directions {shlex.quote(directions_file)}"
    projected = []
    if snap.seed is not None:
        base += f" --seeds {snap.seed}" + (f" --psi {snap.psi:g}" if snap.psi != 1.0 else "")
    elif snap.projection is not None:
        space = json.loads(snap.projection).get("space", "z")  # a .npy holds z only; w goes in a .json
        latent = shlex.quote(snap.source.rsplit(".", 1)[0] + (".npy" if space == "z" else ".json"))
        image = shlex.quote(snap.source)
        flag = "" if space == "z" else f" --space {space}"
        projected = [f"latentkit project {image} --model {shlex.quote(model)}{flag} --out {latent}"]
        base += f" --latent {latent}"
    else:
        base += f" --latent {shlex.quote(snap.source)}"
    # Names were checked when loaded; quoting as well means no file can put code in the recipe.
    flags = "".join(f" --edit {shlex.quote(f'{n}={s:g}')}" for n, s in edits.items())
    if held and edits:
        flags += f" --hold {shlex.quote(','.join(hold_words(held, attributes)))}"
    if edits and snap.mode != "relative":
        flags += f" --mode {snap.mode}"
    lines = [
        f"# this face: {snap.source}" + (" with the edits below" if edits else ""),
        *projected,
        base + flags + " --out edited",
    ]
    lines += [
        "# or from the latent saved with 'Save latent (.npy)' (edits already applied):",
        f"latentkit edit --model {shlex.quote(model)} --latent latent.npy --out edited",
    ]
    if extra:
        lines.insert(0, f"# note: {extra}")
    return "\n".join(lines)


def check_name(name: Any) -> str:
    """A new direction's name from the text box (see `check_direction_name`)."""
    return check_direction_name(str(name or "").strip())
