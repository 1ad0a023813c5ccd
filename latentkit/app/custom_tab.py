"""The Custom direction tab: label a grid of samples, fit a logistic-regression direction, use it.

The user marks faces that have a new attribute (positive) and faces that do not (negative);
`LogisticDirection` fits a boundary between their latents (InterFaceGAN with hand labels), the
direction is saved to the user's directions file, and a free slider of the Edit tab takes it.
"""

from __future__ import annotations

from typing import Any

import gradio as gr
import numpy as np
from PIL import Image

from latentkit.app.core import EditorApp, guarded, random_seeds
from latentkit.app.edit_tab import EditControls, anchors_for
from latentkit.app.state import Session, check_name
from latentkit.errors import LatentkitError
from latentkit.latent import LogisticDirection, save_directions
from latentkit.latent.directions import from_finder, sampled_scale
from latentkit.viz import save_figure

GRID = 32
MIN_PER_SIDE = 3
CHOICES = [str(i) for i in range(1, GRID + 1)]

MAX_SAVED = 64  # custom directions kept in one user file, across every session


def grid_gallery(s: Session, pos: list[str], neg: list[str]) -> list[tuple[str, str]]:
    """The grid's images with captions "7  + has it" / "7  − not" for marked ones."""
    marks = {**dict.fromkeys(pos, "  + has it"), **dict.fromkeys(neg, "  − not")}
    return [(f, f"{i + 1}{marks.get(str(i + 1), '')}") for i, f in enumerate(s.grid_files)]


def toggle(index: int, pos: list[str], neg: list[str]) -> tuple[list[str], list[str]]:
    """Cycle image `index` (0-based): unmarked -> positive -> negative -> unmarked."""
    key = str(index + 1)
    if key in pos:
        return [p for p in pos if p != key], sorted([*neg, key], key=int)
    if key in neg:
        return pos, [n for n in neg if n != key]
    return sorted([*pos, key], key=int), neg


def fit_custom(app: EditorApp, s: Session, name: str, pos: list[str], neg: list[str]):
    """Fit direction `name` on the grid's labelled latents; returns (Direction, fitted finder)."""
    if not s.grid_seeds:
        raise LatentkitError("custom direction: show the faces first ('Show 32 new faces')")
    p, n = [int(x) - 1 for x in pos], [int(x) - 1 for x in neg]
    if any(not 0 <= i < len(s.grid_seeds) for i in p + n):
        raise LatentkitError(f"custom direction: image numbers must be 1 to {len(s.grid_seeds)}")
    if set(p) & set(n):
        raise LatentkitError(f"custom direction: image {sorted(set(p) & set(n))[0] + 1} is marked both ways")
    if len(p) < MIN_PER_SIDE or len(n) < MIN_PER_SIDE:
        raise LatentkitError(
            f"custom direction: mark at least {MIN_PER_SIDE} faces each way (now {len(p)} +, {len(n)} −)"
        )
    editor = app.editor()
    z = np.stack([editor.sample(s.grid_seeds[i]) for i in p + n])
    labels = np.array([1.0] * len(p) + [0.0] * len(n))
    finder = LogisticDirection(threshold=0.5, val_fraction=0.25).fit(z, labels)
    meta = {
        "kind": "custom",
        "labelled": {"positive": len(p), "negative": len(n)},
        "seeds": [s.grid_seeds[i] for i in p + n],
    }
    if editor.vector_space == "w":
        meta["scale"] = sampled_scale(app.bundle, "w", finder.direction_)
    return from_finder(name, finder, editor.vector_space, **meta), finder, z, labels


def build_custom_tab(app: EditorApp, c: EditControls, tab: gr.Tab) -> None:
    gr.Markdown(
        "Teach the editor a new attribute. **1.** Name it. **2.** Click faces that have it (+); click "
        "again for faces that clearly do not (−); a third click clears. Mark at least "
        f"{MIN_PER_SIDE} of each. **3.** Fit: a logistic regression finds the direction, which becomes a "
        f"slider in the Edit tab (group *Custom*) and is saved to `{app.user_file_shown}`."
    )
    with gr.Row():
        name = gr.Textbox(
            label="New attribute name", placeholder="e.g. beard", scale=3, elem_id="custom_name"
        )
        new = gr.Button("Show 32 new faces", scale=1, elem_id="custom_new")
        fit = gr.Button("Fit direction", variant="primary", scale=1, elem_id="custom_fit")
    status = gr.Markdown(elem_id="custom_status")
    gallery = gr.Gallery(
        label="Click to mark",
        format="png",
        columns=8,
        allow_preview=False,
        elem_id="grid",
        buttons=[],
    )
    with gr.Row():
        pos = gr.CheckboxGroup(CHOICES, label="Has it (+)", elem_id="pos")
        neg = gr.CheckboxGroup(CHOICES, label="Does not (−)", elem_id="neg")

    st = c.state
    free = [i for i, slot in enumerate(app.slots) if slot.name is None]
    heavy = {"concurrency_id": "heavy", "concurrency_limit": 1}

    @guarded
    def on_new(s: Session):
        s.grid_seeds = random_seeds(GRID)
        folder, editor = app.fresh_folder(), app.editor()
        s.grid_files = []
        for i, seed in enumerate(s.grid_seeds):
            path = folder / f"{i + 1:02d}.png"
            save_figure(path, Image.fromarray(app.thumb(editor.sample(seed))))  # a screen thumbnail
            s.grid_files.append(str(path))
        return grid_gallery(s, [], []), [], []

    @guarded
    def on_open(s: Session):
        return on_new(s) if not s.grid_files else gr.skip()

    @guarded
    def on_select(s: Session, p, n, evt: gr.SelectData):
        p, n = toggle(int(evt.index), list(p or []), list(n or []))
        return grid_gallery(s, p, n), p, n

    @guarded
    def on_marks(s: Session, p, n):
        return grid_gallery(s, list(p or []), list(n or []))

    @guarded
    def on_fit(s: Session, text, p, n):
        label = check_name(text)
        if label in app.directions:
            raise LatentkitError(f"direction {label!r} already exists; choose another name")
        taken = {d.name: i for i, d in s.custom.items()}
        check_free_name(label, app.saved_custom_names(), set(taken))
        direction, finder, z, labels = fit_custom(app, s, label, list(p or []), list(n or []))
        slot = taken.get(label, next((i for i in free if i not in s.custom), None))
        if slot is None:
            raise LatentkitError(
                f"this session already added {len(free)} directions; reload the page for more"
            )
        save_directions(app.bundle, {label: direction}, path=app.user_file, merge=True)
        s.custom = {**s.custom, slot: direction}
        if s.now.mode == "absolute":  # its "no edit" position is the face's distance, like the others
            anchor = anchors_for(app, s, s.now.latent, "absolute")[slot]
            s.now = s.now.replace(
                values=_put(s.now.values, slot, anchor), anchors=_put(s.now.anchors, slot, anchor)
            )
        fit_acc = finder.score(z, labels)
        held_out = f"{finder.validation_:.2f}" if np.isfinite(finder.validation_) else "n/a"
        text = (
            f"Fitted **{label}** on {len(labels)} labelled faces: accuracy {fit_acc:.2f} on them, "
            f"{held_out} on the {len(labels) - finder.n_fit_} held out (few labels: a rough check). "
            f"Saved to `{app.user_file_shown}`; its slider is in the Edit tab under *Custom*."
        )
        return [text, *slot_updates(app, s, free), gr.Accordion(visible=True, open=True)]

    new.click(on_new, [st], [gallery, pos, neg], api_name="custom_samples", **heavy)
    tab.select(on_open, [st], [gallery, pos, neg], api_visibility="private", **heavy)
    gallery.select(
        on_select, [st, pos, neg], [gallery, pos, neg], show_progress="hidden", api_visibility="private"
    )
    gr.on(
        [pos.input, neg.input],
        on_marks,
        [st, pos, neg],
        [gallery],
        show_progress="hidden",
        api_visibility="private",
    )
    outputs = [status, *[c.rows[i] for i in free], *[c.sliders[i] for i in free], c.groups["custom"]]
    fit.click(on_fit, [st, name, pos, neg], outputs, api_name="custom_fit", **heavy)


def check_free_name(name: str, saved: set[str], mine: set[str]) -> None:
    """Refuse a name another session already saved (it would silently replace theirs: their recipes
    would render another face), and a new name once the file holds `MAX_SAVED` directions."""
    if name in saved and name not in mine:
        raise LatentkitError(f"a custom direction {name!r} is already saved; choose another name")
    if name not in saved and len(saved) >= MAX_SAVED:
        raise LatentkitError(f"the custom directions file is full ({MAX_SAVED}); remove some from it first")


def slot_updates(app: EditorApp, s: Session, free: list[int]) -> list[Any]:
    """Row visibility, then slider label and position, of every free slot in this session."""
    rows = [gr.Row(visible=i in s.custom) for i in free]
    sliders = [
        gr.Slider(label=s.custom[i].name, value=s.now.values[i]) if i in s.custom else gr.skip() for i in free
    ]
    return rows + sliders


def _put(values: tuple, index: int, x: Any) -> tuple:
    return tuple(x if j == index else v for j, v in enumerate(values))
