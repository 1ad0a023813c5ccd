"""The latentkit editor: a Gradio app to explore, edit, interpolate, export and verify faces.

    from latentkit.app import launch
    launch("runs/faces64/bundle")                 # serves http://127.0.0.1:7860

or `latentkit editor --model runs/faces64/bundle`. The code lives in the package (not only in the
repository's apps/ folder) so the console script works from a regular `pip install .`. Importing
this package imports gradio; the command line imports it only inside `latentkit editor`.
"""

from __future__ import annotations

import os

# Before gradio is imported by any module of the app: no usage analytics.
os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"

from latentkit.app.core import EditorApp  # after the analytics switch
from latentkit.app.editor import build_app, launch

__all__ = ["EditorApp", "build_app", "launch"]
