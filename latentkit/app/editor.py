"""`build_app(model)` lays out the editor's tabs; `launch(model)` serves it, safely by default.

Defaults that matter: bound to 127.0.0.1, no share link, no analytics, uploads capped, the queue
sized for 20 people editing at once, and the only folders served are gradio's cache and the app's
own export folder, both inside the app's temp folder (the signing keys are explicitly blocked).
Requests for another Host, and cross-site state changes, are refused (`guard.py`); the temp folder
goes at exit, Ctrl-C and SIGTERM alike.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from pathlib import Path

os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"  # also when this module is imported directly

import gradio as gr
from starlette.middleware import Middleware

from latentkit.app.batch_tab import build_batch_tab
from latentkit.app.core import EditorApp
from latentkit.app.custom_tab import build_custom_tab
from latentkit.app.edit_tab import build_edit_tab, view
from latentkit.app.guard import LocalRequestGuard, allowed_hosts
from latentkit.app.interpolate_tab import build_interpolate_tab
from latentkit.app.verify_tab import MAX_IMAGE_BYTES, build_verify_tab
from latentkit.text import shown

QUEUE_SIZE = 256  # 20 users x a few pending events each, with room to spare
CSS = """
#face img, .pixelated img, #grid img, #keyframes img, #batch img { image-rendering: pixelated; }
#face img, .pixelated img { width: 100%; height: 100%; object-fit: contain; }
.report td:first-child { white-space: nowrap; }
#batch .thumbnail-item { aspect-ratio: 2 / 1 !important; }  /* before | after pairs */
#batch, #grid, #batch .grid-wrap, #grid .grid-wrap { height: auto !important; max-height: none !important; }
.direction { min-width: 220px; }
.download .empty.large { min-height: 90px !important; }
"""


def build_app(
    model_path: str | os.PathLike,
    directions_file: str | os.PathLike | None = None,
    workdir: str | os.PathLike | None = None,
) -> gr.Blocks:
    """The editor for one model bundle as a `gr.Blocks` (queue configured; not launched).

    `directions_file` is where custom directions are saved (default: the user's latentkit folder);
    `workdir` the app's temp folder (default: a fresh one, removed at exit). The `EditorApp` behind
    the page is `blocks.editor_app`.
    """
    app = EditorApp(model_path, directions_file, Path(workdir) if workdir else None)
    # Everything gradio writes (previews, uploads) lands inside the app's own folder, whatever an
    # inherited GRADIO_TEMP_DIR says: gradio serves that folder whole.
    os.environ["GRADIO_TEMP_DIR"] = str(app.workdir / "gradio")
    with gr.Blocks(
        title=f"latentkit editor: {app.bundle.name}", analytics_enabled=False, delete_cache=(900, 3600)
    ) as demo:
        state = gr.State(app.new_session())
        n_dirs = sum(slot.name is not None for slot in app.slots)
        gr.Markdown(
            f"## latentkit editor · model **{shown(app.bundle.name)}** · {app.res} px · "
            f"edits in {app.editor().space.upper()} ({app.dim}-d) · {n_dirs} direction(s)"
        )
        for note in app.notes:
            gr.Markdown(f"> {note}")
        with gr.Tabs():
            with gr.Tab("Edit", id="edit"):
                controls = build_edit_tab(app, state)
            with gr.Tab("Interpolate", id="interpolate"):
                build_interpolate_tab(app, controls)
            with gr.Tab("Batch", id="batch"):
                build_batch_tab(app, controls)
            with gr.Tab("Custom direction", id="custom") as custom:
                build_custom_tab(app, controls, custom)
            with gr.Tab("Verify", id="verify"):
                build_verify_tab()
        # Each new page shows its session's face (the image has no value until then).
        demo.load(lambda s: view(app, s), [state], controls.full, api_visibility="private")
    demo.queue(default_concurrency_limit=2, max_size=QUEUE_SIZE)
    demo.editor_app = app
    return demo


def launch(
    model: str | os.PathLike,
    host: str = "127.0.0.1",
    port: int = 7860,
    share: bool = False,
    *,
    directions_file: str | os.PathLike | None = None,
    threads: int = 1,
    prevent_thread_lock: bool = False,
    quiet: bool = False,
) -> gr.Blocks:
    """Build the editor for `model` and serve it on http://host:port (blocking unless told not to).

    `threads` caps torch's CPU threads: one per request is fastest for batch-of-one renders, and
    the queue runs two renders side by side. Returns the running `gr.Blocks` (its `.local_url`).
    """
    import torch

    from latentkit.provenance import keys_dir

    torch.set_num_threads(threads)
    if not prevent_thread_lock:  # serving until stopped: a SIGTERM must clean up like Ctrl-C
        _exit_cleanly_on_sigterm()
    demo = build_app(model, directions_file)
    app: EditorApp = demo.editor_app
    if host not in ("127.0.0.1", "localhost", "::1"):
        print(
            f"latentkit editor: serving on {host}: anyone who can reach this machine can use it",
            file=sys.stderr,
        )
    demo.launch(
        server_name=host,
        server_port=port,
        share=share,
        prevent_thread_lock=prevent_thread_lock,
        quiet=quiet,
        show_error=False,  # our messages reach the page as gr.Error; tracebacks stay in the log
        max_file_size=MAX_IMAGE_BYTES,
        allowed_paths=[str(app.exports)],
        blocked_paths=[str(keys_dir()), str(app.bundle.path)],
        ssr_mode=False,
        mcp_server=False,
        css=CSS,
        app_kwargs={"middleware": [Middleware(LocalRequestGuard, hosts=allowed_hosts(host))]},
    )
    return demo


def _exit_cleanly_on_sigterm() -> None:
    """SIGTERM ends the process through SystemExit, so exit handlers remove the app's temp folder
    (uploaded faces, exports) as they do after Ctrl-C; a no-op off the main thread."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
