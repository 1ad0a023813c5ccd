"""Pieces the tabs share: the export panel, and checks of export sizes and uploaded files."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import gradio as gr

from latentkit.errors import LatentkitError

EXPORT_SIZES = [256, 512, 1024]
MAX_UPLOAD_BYTES = 5 * 2**20  # a latent file: (N, D) float32 is a few KB; refuse anything big


def export_panel(label: str, elem_id: str) -> tuple[gr.Radio, gr.Button, gr.File, gr.Markdown]:
    """Size choice, export button and download on the left; the verify report of the export beside them."""
    with gr.Row(equal_height=False):
        with gr.Column(scale=1, min_width=240):
            size = gr.Radio(EXPORT_SIZES, value=256, label="Size (px)")
            button = gr.Button(label, variant="primary", elem_id=elem_id)
            file = gr.File(label="Download", elem_id=f"{elem_id}_file", elem_classes="download")
        with gr.Column(scale=3):
            report = gr.Markdown(elem_id=f"{elem_id}_report", elem_classes="report")
    return size, button, file, report


def check_size(size: Any) -> int:
    """An export size from the panel's choices, else a `LatentkitError`."""
    try:
        value = int(size)
    except (TypeError, ValueError):
        value = None
    if value not in EXPORT_SIZES:
        raise LatentkitError(f"export size {size!r}: choose one of {', '.join(map(str, EXPORT_SIZES))}")
    return value


def checked_upload(path: str, suffixes: tuple[str, ...], limit: int = MAX_UPLOAD_BYTES) -> Path:
    """An uploaded file's path after checking its type (by suffix) and size."""
    path = Path(path)
    if path.suffix.lower() not in suffixes:
        raise LatentkitError(f"{path.name}: expected a {' or '.join(suffixes)} file")
    if path.stat().st_size > limit:
        raise LatentkitError(
            f"{path.name}: {path.stat().st_size / 2**20:.1f} MB is over the {limit / 2**20:g} MB limit"
        )
    return path
