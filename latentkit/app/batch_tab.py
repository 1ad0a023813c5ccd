"""The Batch tab: the Edit tab's current edit applied to a list of seeds; gallery; zip of exports."""

from __future__ import annotations

import gradio as gr
import numpy as np

from latentkit.app.core import EditorApp, guarded, random_seeds
from latentkit.app.edit_tab import EditControls
from latentkit.app.media import side_by_side, verify_summary, write_zip
from latentkit.app.state import UI_MAX_SEED, Session, describe
from latentkit.app.widgets import check_size, export_panel
from latentkit.errors import LatentkitError
from latentkit.latent import parse_seeds

MAX_BATCH = 64


def batch_seeds(text: str) -> list[int]:
    """Seeds typed in the Batch tab ("0-7", "3,7,11"), at most MAX_BATCH of them."""
    seeds = parse_seeds(str(text or ""))
    if len(seeds) > MAX_BATCH:
        raise LatentkitError(f"seeds {text!r}: {len(seeds)} seeds; the app does at most {MAX_BATCH} at once")
    if any(s > UI_MAX_SEED for s in seeds):
        raise LatentkitError(f"seeds {text!r}: the app takes seeds up to {UI_MAX_SEED}")
    return seeds


def plan(app: EditorApp, s: Session, text: str):
    """[(seed, start latent, edited latent)], the snapshot and the edit of the Edit tab as it is now."""
    snap = s.now
    _, edits, held = app.edited(s, snap)
    editor = app.editor(s)
    rows = []
    for seed in batch_seeds(text):
        z = editor.sample(seed, snap.psi)
        rows.append((seed, z, editor.edit(z, edits, held, snap.mode) if edits else z))
    return rows, snap, edits, held


def build_batch_tab(app: EditorApp, c: EditControls) -> None:
    gr.Markdown(
        "Apply the **Edit tab's current edit** (sliders, hold boxes, mode and ψ) to many faces at once: "
        "**1.** type seeds or roll random ones, **2.** apply, **3.** export them all as signed PNGs (zip)."
    )
    with gr.Row():
        seeds = gr.Textbox("0-7", label=f"Seeds (e.g. 0-15 or 3, 7, 11; at most {MAX_BATCH})", scale=4)
        roll = gr.Button("8 random seeds", scale=1)
        apply = gr.Button("Apply edit", variant="primary", scale=1, elem_id="apply_batch")
    note = gr.Markdown()
    gallery = gr.Gallery(
        label="Before → after",
        format="png",
        columns=4,
        allow_preview=True,
        object_fit="contain",
        elem_id="batch",
        buttons=["fullscreen"],
    )
    size, export, out, report = export_panel("Export all (zip of signed PNGs)", "export_batch")

    st = c.state
    heavy = {"concurrency_id": "heavy", "concurrency_limit": 1}

    @guarded
    def on_apply(s: Session, text):
        rows, snap, edits, held = plan(app, s, text)
        images = [(side_by_side(app.thumb(z0), app.thumb(z1)), f"seed {seed}") for seed, z0, z1 in rows]
        return images, f"{len(rows)} face(s): " + describe(edits, held, snap.mode, app.attributes)

    @guarded
    def on_roll():
        return ", ".join(map(str, random_seeds(8)))

    @guarded
    def on_export(s: Session, text, size, progress=gr.Progress()):  # noqa: B008
        size = check_size(size)
        rows, snap, edits, held = plan(app, s, text)
        if not rows:
            raise LatentkitError("batch: no seeds given")
        folder, files = app.fresh_folder(), []
        for seed, _, z in progress.tqdm(rows, desc="exporting"):
            record = app.record(s, snap.replace(seed=seed), edits, held)
            name = f"seed{seed:04d}-edited.png" if edits else f"seed{seed:04d}.png"
            files.append(app.export(np.asarray(z), folder / "images", name, size, seed=seed, edits=record))
        zipped = write_zip(folder / "batch.zip", files)
        good = sum(verify_summary(f)[0] for f in files)
        _, first = verify_summary(files[0])
        return str(zipped), f"**{good} of {len(files)} images verified.** First image:\n\n" + first

    apply.click(on_apply, [st, seeds], [gallery, note], api_name="batch", **heavy)
    seeds.submit(on_apply, [st, seeds], [gallery, note], api_visibility="private", **heavy)
    roll.click(on_roll, None, [seeds], api_name="batch_random").then(
        on_apply, [st, seeds], [gallery, note], api_visibility="private", **heavy
    )
    export.click(on_export, [st, seeds, size], [out, report], api_name="batch_export", **heavy)
