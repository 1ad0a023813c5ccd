"""`EditorApp`: the model, its directions and the app's own folders, shared by every session.

The tab modules (`edit_tab`, `interpolate_tab`, ...) lay out components and call these methods;
`guarded` turns errors into messages in the page. Everything here uses latentkit's public API:
`load_bundle`, `Editor`, `load_directions` / `save_directions`, `export_image` (via `Editor.export`)
and `verify_image`.
"""

from __future__ import annotations

import atexit
import contextlib
import copy
import functools
import html
import logging
import os
import re
import secrets
import shutil
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from latentkit.app.state import UI_MAX_SEED, Session, Snapshot, edits_of, make_slots, snapshot
from latentkit.errors import LatentkitError
from latentkit.latent import Editor, load_directions
from latentkit.latent.directions import attribute_names
from latentkit.models import load_bundle

log = logging.getLogger("latentkit.app")
KEEP_SECONDS = 3600  # exports stay downloadable this long, then make room
THUMB = 96  # side of gallery thumbnails, px


def guarded(fn: Callable) -> Callable:
    """Run an event handler; user errors become a gr.Error message in the page, never a crash.

    `LatentkitError` is the user's to fix and shown as is; anything else is logged with its
    traceback and shown as one line.
    """
    import gradio as gr

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except gr.Error:
            raise
        except LatentkitError as e:  # the page renders messages as HTML; they may quote user input
            raise gr.Error(html.escape(str(e), quote=False), print_exception=False) from None
        except Exception as e:
            log.exception("editor: %s failed", fn.__name__)
            message = f"unexpected {type(e).__name__}: {e} (the server log has details)"
            raise gr.Error(html.escape(message, quote=False)) from None

    return wrapper


def user_directions_file(bundle) -> Path:
    """Where the app saves directions fitted in the Custom tab: beside the signing keys.

    <latentkit home>/directions/<bundle name>-<weights sha256[:12]>.json, the home being
    `latentkit.provenance.keys_dir()`'s parent ($LATENTKIT_HOME or ~/.config/latentkit).
    """
    from latentkit.provenance import keys_dir

    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", bundle.name)[:64] or "model"
    return keys_dir().parent / "directions" / f"{safe}-{bundle.weights_sha256[:12]}.json"


class EditorApp:
    """The shared, read-mostly part of the editor. Per-tab state lives in a `Session`.

    Args:
        model: bundle folder (or a run folder holding bundle/).
        directions_file: where custom directions are saved (default `user_directions_file`).
        workdir: the app's own temp folder (default: a new one, removed at exit); exports go to
            workdir/exports and are the only files the app serves besides gradio's cache.
    """

    def __init__(
        self, model: str | Path, directions_file: str | Path | None = None, workdir: Path | None = None
    ):
        from latentkit.provenance import load_identity

        self.bundle = load_bundle(model)
        if not self.bundle.config.makes_images:
            raise LatentkitError(
                f"{model}: model {self.bundle.name!r} makes 2-d points; the editor needs images"
            )
        self.model_path = str(self.bundle.path)
        self.res = self.bundle.config.resolution
        self.dim = self.bundle.config.latent_dim
        self.notes: list[str] = []
        self.base_names, self.directions = self._load_directions(directions_file)
        self.slots = make_slots(self.directions)
        self.n = len(self.slots)
        # Every attribute starts held: in an entangled generator that is what makes a slider move one
        # attribute (see Editor: hold=["all"]). Held variants, PCA/SeFa and custom directions do not.
        self.attributes = attribute_names(self.directions)  # user directions are kind "custom"
        self.default_holds = tuple(slot.name in self.attributes for slot in self.slots)
        if workdir is None:
            workdir = Path(tempfile.mkdtemp(prefix="latentkit-editor-"))
            atexit.register(shutil.rmtree, workdir, True)
        self.workdir = Path(workdir)
        self.exports = self.workdir / "exports"
        self.exports.mkdir(parents=True, exist_ok=True)
        self.identity = load_identity()  # created on first use, like the CLI
        start = snapshot(self.editor().sample(0), self.n, 0, 1.0, "seed 0", self.default_holds)
        self._template = Session(now=start)

    def _load_directions(self, directions_file: str | Path | None) -> tuple[set[str], dict[str, Any]]:
        """(names in the bundle's directions.json, bundle + user directions); problems become notes."""
        from latentkit.latent.directions import directions_path

        self.user_file = Path(directions_file) if directions_file else user_directions_file(self.bundle)
        base: dict[str, Any] = {}
        if directions_path(self.bundle).is_file():
            try:
                base = load_directions(self.bundle)
            except LatentkitError as e:
                self.notes.append(f"Directions not loaded: {e}")
        else:
            self.notes.append(
                "This model has no directions yet: fit some with `latentkit directions fit`, "
                "or make one in the **Custom direction** tab."
            )
        user: dict[str, Any] = {}
        if self.user_file.is_file():
            try:
                user = load_directions(self.bundle, self.user_file)
            except LatentkitError as e:
                self.notes.append(f"Your saved custom directions were not loaded: {e}")
        for d in user.values():
            d.meta = {**d.meta, "kind": "custom"}
        return set(base), {**{n: d for n, d in user.items() if n not in base}, **base}

    def saved_custom_names(self) -> set[str]:
        """Names in the user's custom directions file now (other sessions may have added some)."""
        if not self.user_file.is_file():
            return set()
        return set(load_directions(self.bundle, self.user_file))

    # --- sessions and edits --------------------------------------------------------------------

    def new_session(self) -> Session:
        """A fresh session: seed 0, no edits (gradio deep-copies the initial State value too)."""
        return copy.deepcopy(self._template)

    def names(self, s: Session) -> list[str | None]:
        """The direction of each slot in this session (free slots filled by custom directions)."""
        return [
            slot.name if slot.name is not None else (s.custom[i].name if i in s.custom else None)
            for i, slot in enumerate(self.slots)
        ]

    def editor(self, s: Session | None = None) -> Editor:
        """An `Editor` over the shared bundle with the directions `s` can see (cheap: no copies)."""
        if s is None or not s.custom:
            return Editor(self.bundle, self.directions)
        return Editor(self.bundle, {**self.directions, **{d.name: d for d in s.custom.values()}})

    def edited(self, s: Session, snap: Snapshot) -> tuple[np.ndarray, dict[str, float], list[str]]:
        """(edited latent (D,) float32, edits, held directions) of `snap` in session `s`."""
        edits, held = edits_of(self.names(s), snap)
        z = snap.latent
        if edits:
            z = self.editor(s).edit(z, edits, held, snap.mode)
        return z, edits, held

    def preview(self, z: np.ndarray) -> np.ndarray:
        """On-screen pixels of z (D,) at the model's resolution: (res, res, 3) uint8.

        The page upscales it (nearest neighbour, CSS), which keeps the hot path to one generator call.
        """
        return self.editor().render(z, self.res)

    def thumb(self, z: np.ndarray) -> np.ndarray:
        from latentkit.app.media import upscale

        return upscale(self.preview(z), THUMB)

    def record(self, s: Session, snap: Snapshot, edits: dict[str, float], held: list[str]) -> list[dict]:
        """The manifest's edit list, with the truncation first when the seed's latent was truncated."""
        editor = self.editor(s)
        record = editor.edit_record(edits, held, snap.mode)
        if snap.seed is not None and snap.psi != 1.0:
            mean = "zero" if editor.space == "z" else "w_avg"  # truncation pulls toward this centre
            record.insert(0, {"truncation": {"psi": snap.psi, "mean": mean}})
        return record

    @property
    def user_file_shown(self) -> str:
        """The user directions file for people: ~/... rather than the home folder spelled out."""
        home = str(Path.home())
        path = str(self.user_file)
        return "~" + path[len(home) :] if path.startswith(home + os.sep) else path

    def not_in_bundle(self, edits: dict[str, float]) -> list[str]:
        """Edited directions that `latentkit edit` (reading BUNDLE/directions.json) cannot see."""
        return [n for n in edits if n not in self.base_names]

    # --- files ---------------------------------------------------------------------------------

    def fresh_folder(self) -> Path:
        """A new folder under workdir/exports for one request; folders older than KEEP_SECONDS go."""
        now = time.time()
        for old in self.exports.iterdir():
            with contextlib.suppress(FileNotFoundError):  # another request may be tidying too
                if now - old.stat().st_mtime > KEEP_SECONDS:
                    shutil.rmtree(old, ignore_errors=True)
        folder = self.exports / uuid.uuid4().hex
        folder.mkdir()
        return folder

    def export(self, z: np.ndarray, folder: Path, name: str, size: int, **record: Any) -> Path:
        """Write one signed, watermarked image through `export_image`; returns its path."""
        size = int(size)
        return self.editor().export(z, folder, name, size=size, identity=self.identity, **record).path


def random_seeds(n: int) -> list[int]:
    """n distinct random seeds in the UI's range."""
    seeds: list[int] = []
    while len(seeds) < n:
        seed = secrets.randbelow(UI_MAX_SEED + 1)
        if seed not in seeds:
            seeds.append(seed)
    return seeds
