"""The Verify tab: upload an image or animation and read what `latentkit verify` says about it."""

from __future__ import annotations

from pathlib import Path

import gradio as gr

from latentkit.app.core import guarded
from latentkit.app.media import report_markdown
from latentkit.app.widgets import checked_upload
from latentkit.errors import LatentkitError
from latentkit.provenance.imagefile import SUFFIXES

IMAGE_SUFFIXES = tuple(SUFFIXES)  # whatever latentkit exports: stills and animations
MAX_IMAGE_BYTES = 20 * 2**20


def build_verify_tab() -> None:
    gr.Markdown(
        "Upload an image (PNG, JPEG or WebP) or an animation (GIF, MP4) to check its **manifest**, "
        "**C2PA signature**, **pixels** and **watermark**: the same checks as `latentkit verify FILE`."
    )
    with gr.Row(equal_height=False):
        upload = gr.File(
            label="Image to verify",
            file_types=list(IMAGE_SUFFIXES),
            type="filepath",
            scale=1,
            elem_id="verify_upload",
        )
        report = gr.Markdown(
            "_The report appears here._", elem_id="verify_report", elem_classes="report", scale=2
        )
    with gr.Accordion("Full report (JSON)", open=False):
        details = gr.JSON()

    @guarded
    def on_upload(path):
        from latentkit.provenance import format_report, verify_image

        if not path:
            return "_The report appears here._", None
        try:
            r = verify_image(checked_upload(path, IMAGE_SUFFIXES, MAX_IMAGE_BYTES))
        except LatentkitError as e:  # not an image, truncated, ...: that *is* the report
            gr.Warning(f"{Path(path).name}: cannot check this file")
            return f"### ⚠ Cannot check this file\n{e}", None
        doc = r.to_dict()
        doc["file"] = Path(path).name  # not the server's temp path
        return report_markdown(r, format_report(r)), doc

    upload.upload(
        on_upload, [upload], [report, details], api_name="verify", concurrency_id="heavy", concurrency_limit=1
    )
    upload.clear(
        lambda: ("_The report appears here._", None), None, [report, details], api_visibility="private"
    )
