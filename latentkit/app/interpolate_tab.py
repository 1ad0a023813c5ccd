"""The Interpolate tab: keyframes from seeds, the Edit tab or a latents file; lerp/slerp; GIF preview.

The preview GIF is on-screen only (model resolution, no watermark). The animation a user downloads
is one signed, watermarked GIF (or MP4 when imageio-ffmpeg is installed) written by
`latentkit.provenance.export_animation`, like `latentkit interpolate --out x.gif`, and its verify
report is shown beside the download.
"""

from __future__ import annotations

from pathlib import Path

import gradio as gr
import numpy as np

from latentkit.app.core import EditorApp, guarded
from latentkit.app.edit_tab import EditControls
from latentkit.app.media import upscale, verify_summary, write_gif
from latentkit.app.state import UI_MAX_SEED, Keyframe, Session
from latentkit.app.widgets import check_size, checked_upload, export_panel
from latentkit.errors import LatentkitError
from latentkit.latent import keyframe_path, lerp, parse_seeds, slerp
from latentkit.latent.interpolate import default_method
from latentkit.provenance import export_animation
from latentkit.provenance.animfile import mp4_available
from latentkit.provenance.imagefile import ANIMATION_FORMATS

MAX_KEYFRAMES = 8
MAX_FRAMES = 241  # path length cap: (K - 1) * frames + 1, e.g. 8 keyframes x 30 frames
GIF_SIDE = 192  # px
FPS = 12.0


def keyframe_gallery(app: EditorApp, s: Session) -> list[tuple[np.ndarray, str]]:
    return [(app.thumb(k.z), f"{i + 1}: {k.label}") for i, k in enumerate(s.keyframes)]


def check_room(s: Session, n: int) -> None:
    """Refuse to add n keyframes beyond MAX_KEYFRAMES (before any work is done for them)."""
    if len(s.keyframes) + n > MAX_KEYFRAMES:
        raise LatentkitError(
            f"keyframes: {len(s.keyframes)} + {n} is more than {MAX_KEYFRAMES}; clear some first"
        )


def add_keyframes(s: Session, new: list[Keyframe]) -> None:
    check_room(s, len(new))
    s.keyframes = [*s.keyframes, *new]


def path_of(s: Session, method: str, frames: int, loop: bool) -> tuple[np.ndarray, list[tuple[int, float]]]:
    """The interpolation path (M, D) through the session's keyframes and each row's (segment, t)."""
    if len(s.keyframes) < 2:
        raise LatentkitError("interpolate: add at least 2 keyframes first")
    if method not in ("slerp", "lerp"):
        raise LatentkitError(f"interpolation method {method!r}: choose slerp or lerp")
    frames = int(frames)
    if not 1 <= frames <= 30:
        raise LatentkitError(f"frames per transition {frames}: must be 1 to 30")
    length = (len(s.keyframes) - (0 if loop else 1)) * frames + (0 if loop else 1)
    if length > MAX_FRAMES:
        raise LatentkitError(
            f"interpolate: {length} frames is over {MAX_FRAMES}; use fewer frames or keyframes"
        )
    return keyframe_path(np.stack([k.z for k in s.keyframes]), frames, method, loop=bool(loop))


def point_at(s: Session, method: str, loop: bool, t: float) -> np.ndarray:
    """The latent at fraction t in [0, 1] of the whole path (equal time per transition): (D,)."""
    if len(s.keyframes) < 2:
        raise LatentkitError("interpolate: add at least 2 keyframes first")
    t = float(t)
    if not 0.0 <= t <= 1.0:
        raise LatentkitError(f"t {t}: must be between 0 and 1")
    keys = [k.z for k in s.keyframes] + ([s.keyframes[0].z] if loop else [])
    segments = len(keys) - 1
    seg = min(int(t * segments), segments - 1)
    local = t * segments - seg
    return (slerp if method == "slerp" else lerp)(keys[seg], keys[seg + 1], local)


def build_interpolate_tab(app: EditorApp, c: EditControls) -> None:
    gr.Markdown(
        "**1. Choose two or more keyframes**: seeds, the Edit tab's face, or a latents file.  "
        "**2. Make the animation** and scrub with *t*.  **3. Export** it as a signed, watermarked GIF "
        "(or MP4) and check its verify report."
    )
    with gr.Row(equal_height=False):
        with gr.Column(scale=4, min_width=320):
            with gr.Row():
                seeds = gr.Textbox("0, 1", label="Seeds", placeholder="e.g. 3, 7, 11", scale=3)
                add_seeds = gr.Button("Add seeds", scale=1, elem_id="add_seeds")
            with gr.Row():
                add_face = gr.Button("Add the Edit tab's face", size="sm")
                clear = gr.Button("Clear keyframes", size="sm")
            upload = gr.File(
                label="Add latents from a file (.npy / .json, one row per keyframe)",
                file_types=[".npy", ".json"],
                type="filepath",
                height=150,
            )
            keys = gr.Gallery(
                label="Keyframes",
                format="png",
                columns=4,
                height=260,
                allow_preview=False,
                elem_id="keyframes",
                buttons=[],
            )
        with gr.Column(scale=5, min_width=320):
            with gr.Row():
                method = gr.Radio(
                    ["slerp", "lerp"],
                    value=default_method(app.editor().space),
                    label="Method",
                    info="slerp keeps Gaussian z's norm (lerp dips mid-way); in W, lerp is StyleGAN's",
                )
                frames = gr.Slider(1, 30, 8, step=1, label="Frames per transition")
                loop = gr.Checkbox(False, label="Loop back to the first")
            make = gr.Button("Make animation", variant="primary", elem_id="animate")
            with gr.Row():
                gif = gr.Image(
                    label="Preview (GIF, not signed)",
                    type="filepath",
                    height=260,
                    interactive=False,
                    buttons=["fullscreen"],
                    elem_id="gif",
                    elem_classes="pixelated",
                )
                frame = gr.Image(
                    label="Frame at t",
                    height=260,
                    format="png",
                    interactive=False,
                    buttons=["fullscreen"],
                    elem_id="frame",
                    elem_classes="pixelated",
                )
            t = gr.Slider(0.0, 1.0, 0.0, step=0.01, label="t along the path", elem_id="t")
    size, export, out, report = export_panel("Export animation (signed)", "export_frames")
    kinds = [k for k in ANIMATION_FORMATS if k != "mp4" or mp4_available()]
    kind = gr.Radio(kinds, value="gif", label="Animation format", visible=len(kinds) > 1)

    st = c.state
    heavy = {"concurrency_id": "heavy", "concurrency_limit": 1}

    @guarded
    def on_add_seeds(s: Session, text, psi):
        seeds = parse_seeds(str(text or ""))
        if any(seed > UI_MAX_SEED for seed in seeds):
            raise LatentkitError(f"seeds {text!r}: the app takes seeds up to {UI_MAX_SEED}")
        check_room(s, len(seeds))
        editor, psi = app.editor(), float(psi)
        add_keyframes(
            s, [Keyframe(f"seed {x}", editor.sample(x, psi), {"seed": x, "psi": psi}) for x in seeds]
        )
        return keyframe_gallery(app, s)

    @guarded
    def on_add_face(s: Session):
        snap = s.now
        z, edits, held = app.edited(s, snap)
        where = (
            {"seed": snap.seed, "psi": snap.psi} if snap.seed is not None else {"latent_file": snap.source}
        )
        label = snap.source + "".join(f" {n}{v:+.1f}" for n, v in edits.items())
        add_keyframes(s, [Keyframe(label, z, {**where, "edits": app.record(s, snap, edits, held)})])
        return keyframe_gallery(app, s)

    @guarded
    def on_upload(s: Session, path):
        if not path:
            return gr.skip()
        rows = app.editor(s).read_latents(checked_upload(path, (".npy", ".json")))
        check_room(s, len(rows))
        name = Path(path).name
        add_keyframes(
            s, [Keyframe(f"{name}[{i}]", z, {"latent_file": name, "index": i}) for i, z in enumerate(rows)]
        )
        return keyframe_gallery(app, s)

    @guarded
    def on_clear(s: Session):
        s.keyframes = []
        return [], None

    @guarded
    def on_make(s: Session, method, n, looped, progress=gr.Progress()):  # noqa: B008
        path, _ = path_of(s, method, n, looped)
        images = [upscale(app.preview(z), GIF_SIDE) for z in progress.tqdm(path, desc="rendering frames")]
        return str(write_gif(app.fresh_folder() / "preview.gif", images)), 0.0, images[0]

    @guarded
    def on_t(s: Session, method, looped, value):
        if len(s.keyframes) < 2:
            return gr.skip()
        return app.preview(point_at(s, method, bool(looped), value))

    @guarded
    def on_export(s: Session, method, n, looped, size, fmt="gif"):
        size = check_size(size)
        if fmt not in kinds:
            raise LatentkitError(f"animation format {fmt!r}: choose {' or '.join(kinds)}")
        path, where = path_of(s, method, n, looped)
        record = {
            "method": method,
            "space": app.editor(s).space,
            "keyframes": [k.record for k in s.keyframes],
            "frames_per_transition": int(n),
            "loop": bool(looped),
            "t": [[seg, t_] for seg, t_ in where],  # (segment, t) of every frame
        }
        result = export_animation(
            app.bundle,
            path,
            app.fresh_folder(),
            f"interpolation.{fmt}",
            fps=FPS,
            interpolation=record,
            size=size,
            identity=app.identity,
            space=app.editor(s).space,
        )
        return str(result.path), verify_summary(result.path)[1]

    add_seeds.click(on_add_seeds, [st, seeds, c.psi], [keys], api_name="keyframes_add_seeds")
    seeds.submit(on_add_seeds, [st, seeds, c.psi], [keys], api_visibility="private")
    add_face.click(on_add_face, [st], [keys], api_name="keyframes_add_face")
    upload.upload(on_upload, [st, upload], [keys], api_name="keyframes_upload")
    clear.click(on_clear, [st], [keys, gif], api_name="keyframes_clear")
    make.click(on_make, [st, method, frames, loop], [gif, t, frame], api_name="interpolate", **heavy)
    t.change(
        on_t,
        [st, method, loop, t],
        [frame],
        api_name="interpolate_t",
        trigger_mode="always_last",
        show_progress="hidden",
        concurrency_id="render",
        concurrency_limit=2,
    )
    export.click(
        on_export,
        [st, method, frames, loop, size, kind],
        [out, report],
        api_name="interpolate_export",
        **heavy,
    )
