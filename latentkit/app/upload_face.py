"""The Edit tab's "upload a face": project an uploaded image into the model, ready for the sliders.

The projection is `latentkit.latent.inversion.project` with the bundle's predictor (perceptual
loss) and encoder when the bundle has them, the same defaults as `latentkit project`, so the CLI
command the tab shows reproduces the latent. It fits a latent of the editor's space: z for Z-only
models, w (not the CLI's default w+) for style-based ones, because the tab's state holds one latent
of the editor's space, where the sliders move.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np

from latentkit.app.widgets import checked_upload
from latentkit.images import INPUT_SUFFIXES

MAX_IMAGE_BYTES = 20 * 2**20  # a photo; the decoder's pixel limit guards against bombs as well
_HELPERS: dict[int, tuple] = {}  # id(EditorApp) -> (feature net, encoder), loaded on first upload


def project_upload(
    app, path: str, progress: Callable[[int, int], None] | None = None
) -> tuple[np.ndarray, str, str]:
    """Project the uploaded image at `path` into `app`'s model.

    Returns (latent (D,) float32 of the editor's space, the manifest's projection record as JSON text
    (naming the space), a one-line summary).
    Bad files (not an image, too small, too large) raise `LatentkitError`.
    """
    from latentkit.images import read_input
    from latentkit.latent.inversion import bundle_helpers, project

    path = checked_upload(path, INPUT_SUFFIXES, MAX_IMAGE_BYTES)
    pixels, sha = read_input(path, name=path.name)
    if id(app) not in _HELPERS:
        _HELPERS[id(app)] = bundle_helpers(app.bundle)
    net, encoder = _HELPERS[id(app)]
    space = app.editor().space
    result = project(
        app.bundle,
        pixels,
        space=space,
        feature_net=net,
        encoder=encoder,
        source_sha256=sha,
        progress=progress,
    )
    record = json.dumps(result.record(app.bundle.weights_sha256))
    note = f"{Path(path).name} projected in {result.seconds:.1f} s: reconstruction PSNR {result.psnr:.1f} dB"
    return result.latent, record, note
