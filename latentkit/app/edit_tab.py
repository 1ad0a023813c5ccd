"""The Edit tab: pick a face, move sliders along directions, undo/redo, export, save/load the latent.

Hot path: each slider has its own `.change` listener taking only (session, that slider's value):
gradio's page sends every input of an event with each request, and with all sliders as inputs the
browser alone spent 30-60 ms per move. The handler stores the value in the session and renders
(one edit + one generator call at the model's resolution; the page upscales the picture), with
trigger_mode "always_last" so while one render runs only the newest position waits. `.release`
and the "hold" boxes commit the session to the undo history and refresh the edit list and the CLI
command. Every other handler reads the face from the session, not from the sliders.

For API clients `/edit` takes every slider and box at once (a hidden button's event).
"""

from __future__ import annotations

import json
import textwrap
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gradio as gr
import numpy as np

from latentkit.app.core import EditorApp, guarded, random_seeds
from latentkit.app.media import verify_summary
from latentkit.app.state import (
    GROUPS,
    SLIDER_MAX,
    UI_MAX_SEED,
    Session,
    Snapshot,
    check_seed,
    check_value,
    check_values,
    cli_command,
    describe,
    snapshot,
)
from latentkit.app.upload_face import project_upload
from latentkit.app.widgets import check_size, checked_upload, export_panel
from latentkit.errors import LatentkitError
from latentkit.images import INPUT_SUFFIXES

_LIVE = threading.Lock()  # slider events of one session may run side by side: no lost updates


@dataclass
class EditControls:
    """The Edit tab's components that other tabs read (the current edit) or update (custom slots)."""

    state: gr.State
    image: gr.Image
    seed: gr.Number
    psi: gr.Slider
    mode: gr.Radio
    sliders: list[gr.Slider]
    holds: list[gr.Checkbox]
    rows: list[gr.Row]
    groups: dict[str, gr.Accordion]
    summary: gr.Markdown
    command: gr.Code
    latent_text: gr.Textbox
    undo: gr.Button
    redo: gr.Button

    @property
    def knobs(self) -> list[gr.components.Component]:
        """Slider values then hold boxes, the inputs of the `/edit` API endpoint after the state."""
        return [*self.sliders, *self.holds]

    @property
    def full(self) -> list[gr.components.Component]:
        """What a full refresh (`view`) updates, in order."""
        return [
            self.image,
            self.seed,
            self.psi,
            self.mode,
            *self.sliders,
            *self.holds,
            self.summary,
            self.command,
            self.latent_text,
            self.undo,
            self.redo,
        ]


def set_slot(s: Session, i: int, value: float | None = None, hold: bool | None = None) -> Snapshot:
    """Put slider i at `value` and/or its hold box at `hold` in the shown snapshot; returns it."""
    with _LIVE:
        snap = s.now
        if value is not None:
            snap = snap.replace(values=(*snap.values[:i], value, *snap.values[i + 1 :]))
        if hold is not None:
            snap = snap.replace(holds=(*snap.holds[:i], hold, *snap.holds[i + 1 :]))
        s.now = snap
    return snap


def texts(app: EditorApp, s: Session) -> list[Any]:
    """Edit list, CLI command and latent text of the session's current snapshot."""
    z, edits, held = app.edited(s, s.now)
    outside = app.not_in_bundle(edits)
    extra = ""
    if outside:
        extra = f"{', '.join(outside)} is saved in {app.user_file_shown}, not in the bundle's directions.json"
    numbers = textwrap.fill(", ".join(f"{v:.4f}" for v in z), 100)
    latent = f"norm {np.linalg.norm(z):.3f}, {len(z)} values:\n[{numbers}]"
    return [
        describe(edits, held, s.now.mode, app.attributes),
        cli_command(
            app.model_path, s.now, edits, held, extra, str(app.user_file) if outside else None, app.attributes
        ),
        latent,
        gr.update(interactive=bool(s.history)),
        gr.update(interactive=bool(s.future)),
    ]


def view(app: EditorApp, s: Session) -> list[Any]:
    """Every `EditControls.full` value for the session's current snapshot."""
    snap = s.now
    z, _, _ = app.edited(s, snap)
    seed = snap.seed  # None empties the box: the face came from a file
    summary, command, latent, undo, redo = texts(app, s)
    return [
        app.preview(z),
        seed,
        snap.psi,
        snap.mode,
        *snap.values,
        *snap.holds,
        summary,
        command,
        latent,
        undo,
        redo,
    ]


def anchors_for(app: EditorApp, s: Session, z: np.ndarray, mode: str) -> tuple[float, ...]:
    """Slider positions meaning "no edit": 0, or in absolute mode each direction's distance of z."""
    if mode == "relative":
        return (0.0,) * app.n
    editor = app.editor(s)
    return tuple(
        0.0 if n is None else float(np.clip(round(float(editor.distance(z, n)), 1), -SLIDER_MAX, SLIDER_MAX))
        for n in app.names(s)
    )


def new_base(
    app: EditorApp,
    s: Session,
    z: np.ndarray,
    seed: int | None,
    psi: float,
    source: str,
    projection: str | None = None,
) -> None:
    """Start editing latent z: sliders back to "no edit" (mode and hold boxes kept), committed.

    `projection`: JSON text of the projection record when z was projected from an uploaded image.
    """
    s.commit()  # the slider moves so far become an undo step of their own
    snap = snapshot(z, app.n, seed, psi, source).replace(projection=projection)
    anchors = anchors_for(app, s, z, s.now.mode)
    s.commit(snap.replace(mode=s.now.mode, holds=s.now.holds, anchors=anchors, values=anchors))


def source_of(seed: int, psi: float) -> str:
    return f"seed {seed}" + (f" (psi {psi:g})" if psi != 1.0 else "")


def build_edit_tab(app: EditorApp, state: gr.State) -> EditControls:
    """Lay out the Edit tab and wire its events; returns the components other tabs need."""
    gr.Markdown(
        "**1. Pick a face**: type a seed and press Enter, or press *Random face*.  "
        "**2. Move the sliders**: the picture follows.  **3. Export** a signed, watermarked PNG."
    )
    with gr.Row(equal_height=False):
        with gr.Column(scale=5, min_width=340):
            with gr.Row():
                seed = gr.Number(0, label="Seed", precision=0, minimum=0, maximum=UI_MAX_SEED, scale=3)
                roll = gr.Button("Random face", scale=2, elem_id="random")
            face_upload = gr.File(
                label="…or upload a face: it is projected into the model (a few seconds), then edit it",
                file_types=list(INPUT_SUFFIXES),
                type="filepath",
                height=90,
                elem_id="face_upload",
            )
            psi = gr.Slider(
                0.0, 1.0, 1.0, step=0.05, label="Truncation ψ", info="1 = none; lower = more typical faces"
            )
            image = gr.Image(
                label="Current face (preview; exports are signed and watermarked)",
                elem_id="face",
                height=420,
                format="png",
                interactive=False,
                buttons=["fullscreen"],
            )
            with gr.Row():
                undo = gr.Button("↶ Undo", interactive=False, size="sm", elem_id="undo")
                redo = gr.Button("↷ Redo", interactive=False, size="sm", elem_id="redo")
                reset = gr.Button("Reset sliders", size="sm", elem_id="reset")
            summary = gr.Markdown("No edits yet: move a slider.", elem_id="summary")
        with gr.Column(scale=4, min_width=340):
            mode = gr.Radio(
                ["relative", "absolute"],
                value="relative",
                label="Mode",
                info="relative: move each attribute by the slider · absolute: set its distance to the "
                "boundary (0 = undecided)",
            )
            gr.Markdown(
                "**hold** keeps an attribute fixed while you move the others. Every attribute starts "
                "held, so each slider moves its own; untick one to let it follow."
            )
            sliders, holds, rows, groups = [], [], [], {}
            for group, title in GROUPS.items():
                members = [i for i, slot in enumerate(app.slots) if slot.group == group]
                named = [i for i in members if app.slots[i].name is not None]
                opened = group == "attributes" or not any(
                    app.slots[i].group == "attributes" for i in range(app.n)
                )
                with gr.Accordion(title, open=opened, visible=bool(named)) as acc:
                    groups[group] = acc
                    for i in members:
                        name = app.slots[i].name
                        with gr.Row(visible=name is not None, equal_height=True) as row:
                            sliders.append(
                                gr.Slider(
                                    -SLIDER_MAX,
                                    SLIDER_MAX,
                                    0.0,
                                    step=0.1,
                                    label=name or "custom",
                                    scale=5,
                                    elem_classes="direction",
                                )
                            )
                            holds.append(
                                gr.Checkbox(app.default_holds[i], label="hold", scale=1, min_width=70)
                            )
                        rows.append(row)
            if not any(slot.name for slot in app.slots):
                gr.Markdown("_No directions yet: make one in the **Custom direction** tab._")
    gr.Markdown("**3. Export** this face as a signed, watermarked PNG (manifest + C2PA signature).")
    size, export, export_file, export_report = export_panel("Export signed PNG", "export")
    with gr.Accordion("Recipe and latent: reproduce this face from the command line", open=False):
        command = gr.Code(label="CLI command", language="shell", interactive=False, elem_id="command")
        latent_text = gr.Textbox(label="Edited latent z", lines=3, max_lines=6, buttons=["copy"])
        with gr.Row():
            with gr.Column():
                save = gr.Button("Save latent (.npy)")
                latent_file = gr.File(label="Latent file", elem_classes="download")
            upload = gr.File(
                label="Load a latent (.npy or .json)",
                file_types=[".npy", ".json"],
                type="filepath",
                height=110,
            )
    c = EditControls(
        state, image, seed, psi, mode, sliders, holds, rows, groups, summary, command, latent_text, undo, redo
    )
    _wire(app, c, roll, reset, size, export, export_file, export_report, save, latent_file, upload)
    _wire_face_upload(app, c, face_upload)
    return c


def _wire_face_upload(app: EditorApp, c: EditControls, face_upload: gr.File) -> None:
    """Project an uploaded image (with a progress bar) and load its latent as the face to edit."""

    @guarded
    def project_face(s: Session, path, progress=gr.Progress()):  # noqa: B008
        if not path:
            return gr.skip()
        progress(0, desc="projecting")
        z, record, note = project_upload(app, path, lambda i, n: progress((i, n), desc="projecting"))
        new_base(app, s, z, None, 1.0, Path(path).name, projection=record)
        gr.Info(note)
        return view(app, s)

    heavy = {"concurrency_id": "heavy", "concurrency_limit": 1}
    face_upload.upload(project_face, [c.state, face_upload], c.full, api_name="project_face", **heavy)


def _wire(
    app, c: EditControls, roll, reset, size, export, export_file, export_report, save, latent_file, upload
):
    st, full = c.state, c.full
    fast = {"show_progress": "hidden", "concurrency_id": "render", "concurrency_limit": 2}
    heavy = {"concurrency_id": "heavy", "concurrency_limit": 1}
    quiet = {"api_visibility": "private", "trigger_mode": "always_last", **fast}

    def slider_moved(i: int):
        @guarded
        def render(s: Session, value):
            """The hot path: store slider i's value, edit, render; the image only."""
            snap = set_slot(s, i, value=check_value(value, app.names(s)[i] or f"slider {i + 1}"))
            return app.preview(app.edited(s, snap)[0])

        return render

    def slider_released(i: int):
        @guarded
        def commit(s: Session, value):
            """The drag is over: its final value (sent again: events may overtake) becomes an undo step."""
            set_slot(s, i, value=check_value(value, app.names(s)[i] or f"slider {i + 1}"))
            s.commit()
            return texts(app, s)

        return commit

    def hold_ticked(i: int):
        @guarded
        def toggle(s: Session, hold):
            snap = set_slot(s, i, hold=bool(hold))
            s.commit()
            return [app.preview(app.edited(s, snap)[0]), *texts(app, s)]

        return toggle

    @guarded
    def edit_all(s: Session, *knob_values):
        """API: set every slider and hold box at once, then render."""
        values = check_values(knob_values[: app.n], app.n)
        holds = tuple(bool(h) for h in knob_values[app.n : 2 * app.n])
        with _LIVE:
            s.now = s.now.replace(values=values, holds=holds)
        return app.preview(app.edited(s, s.now)[0])

    @guarded
    def commit(s: Session):
        s.commit()
        return texts(app, s)

    @guarded
    def set_seed(s: Session, seed, psi):
        if seed is None:  # an empty box (after loading a latent file): nothing to do
            return gr.skip()
        seed, psi = check_seed(seed), float(psi)
        if s.now.seed == seed and s.now.psi == psi:
            return gr.skip()
        new_base(app, s, app.editor().sample(seed, psi), seed, psi, source_of(seed, psi))
        return view(app, s)

    @guarded
    def roll_seed(s: Session, psi):
        seed, psi = random_seeds(1)[0], float(psi)
        new_base(app, s, app.editor().sample(seed, psi), seed, psi, source_of(seed, psi))
        return view(app, s)

    @guarded
    def set_psi(s: Session, psi):
        if s.now.seed is None:
            gr.Warning("Truncation applies to seeds; this latent was loaded from a file, so it is unchanged.")
            return gr.skip()
        return set_seed(s, s.now.seed, psi)

    @guarded
    def set_mode(s: Session, mode):
        if mode not in ("relative", "absolute"):
            raise LatentkitError(f"mode {mode!r}: choose relative or absolute")
        s.commit()
        anchors = anchors_for(app, s, s.now.latent, mode)
        s.commit(s.now.replace(mode=mode, anchors=anchors, values=anchors))
        return view(app, s)

    @guarded
    def reset_sliders(s: Session):
        s.commit()
        s.commit(s.now.replace(values=s.now.anchors, holds=app.default_holds))
        return view(app, s)

    @guarded
    def undo(s: Session):
        if not s.undo():
            gr.Info("Nothing to undo.")
        return view(app, s)

    @guarded
    def redo(s: Session):
        if not s.redo():
            gr.Info("Nothing to redo.")
        return view(app, s)

    @guarded
    def load_latent(s: Session, path):
        if not path:
            return gr.skip()
        z = app.editor(s).read_latents(checked_upload(path, (".npy", ".json")))
        if len(z) > 1:
            gr.Warning(f"{Path(path).name} holds {len(z)} latents; editing the first.")
        new_base(app, s, z[0], None, 1.0, Path(path).name)
        return view(app, s)

    @guarded
    def save_latent(s: Session):
        s.commit()
        z, _, _ = app.edited(s, s.now)
        editor = app.editor(s)
        name = "latent.npy" if editor.space == "z" else "latent.json"  # a .npy cannot say it holds w
        return str(editor.write_latents(app.fresh_folder() / name, z))

    @guarded
    def export_png(s: Session, size):
        size = check_size(size)
        s.commit()
        snap = s.now
        z, edits, held = app.edited(s, snap)
        stem = f"seed{snap.seed:04d}" if snap.seed is not None else "latent"
        name = f"{stem}-edited.png" if edits else f"{stem}.png"
        projection = json.loads(snap.projection) if snap.projection else None
        path = app.export(
            z,
            app.fresh_folder(),
            name,
            size,
            seed=snap.seed,
            edits=app.record(s, snap, edits, held),
            projection=projection,
        )
        return str(path), verify_summary(path)[1]

    text_outputs = [c.summary, c.command, c.latent_text, c.undo, c.redo]
    for i, (slider, hold) in enumerate(zip(c.sliders, c.holds, strict=True)):
        slider.change(slider_moved(i), [st, slider], [c.image], api_name=f"move_{i}", **quiet)
        slider.release(slider_released(i), [st, slider], text_outputs, api_name=f"release_{i}", **quiet)
        hold.input(hold_ticked(i), [st, hold], [c.image, *text_outputs], api_name=f"hold_{i}", **quiet)
    hidden = gr.Button(visible=False)  # carries the API's all-at-once endpoints; the page never clicks it
    hidden.click(edit_all, [st, *c.knobs], [c.image], api_name="edit", **fast)
    hidden.click(commit, [st], text_outputs, api_name="commit", **fast)
    gr.on([c.seed.submit, c.seed.blur], set_seed, [st, c.seed, c.psi], full, api_name="seed", **fast)
    roll.click(roll_seed, [st, c.psi], full, api_name="random", **fast)
    c.psi.release(set_psi, [st, c.psi], full, api_name="psi", **fast)
    c.mode.input(set_mode, [st, c.mode], full, api_name="mode", **fast)
    reset.click(reset_sliders, [st], full, api_name="reset", **fast)
    c.undo.click(undo, [st], full, api_name="undo", **fast)
    c.redo.click(redo, [st], full, api_name="redo", **fast)
    upload.upload(load_latent, [st, upload], full, api_name="load_latent", **fast)
    save.click(save_latent, [st], [latent_file], api_name="save_latent", **heavy)
    export.click(export_png, [st, size], [export_file, export_report], api_name="export", **heavy)
