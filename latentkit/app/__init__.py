"""The latentkit editor: a Gradio app to explore, edit, interpolate, export and verify faces.

    from latentkit.app import launch
    launch("runs/faces64/bundle")                 # serves http://127.0.0.1:7860

or `latentkit editor --model runs/faces64/bundle`. The code lives in the package (not only in the
repository's apps/ folder) so the console script works from a regular `pip install .`.
Names are imported on first use (PEP 562): `latentkit --help` must not pay for importing gradio.
"""

from __future__ import annotations

import os
from typing import Any

# Before gradio is imported by any module of the app: no usage analytics.
os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"

__all__ = ["EditorApp", "build_app", "launch"]


def __getattr__(name: str) -> Any:
    if name in ("build_app", "launch"):
        from latentkit.app import editor

        return getattr(editor, name)
    if name == "EditorApp":
        from latentkit.app.core import EditorApp

        return EditorApp
    raise AttributeError(f"module 'latentkit.app' has no attribute {name!r}")
