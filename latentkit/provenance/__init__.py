"""Provenance on every exported image: manifest, C2PA signature, invisible watermark, verification.

`export_image` (PNG/JPEG/WebP) and `export_animation` (GIF/MP4) are the two entry points of the one
export path that writes user-facing images (render, watermark, manifest, signature; see export.py);
`verify_image` and `reproduce_image` check either. See docs/provenance.md.

Names are imported on first use (PEP 562) so that `latentkit verify` does not load torch.
"""

from __future__ import annotations

import importlib
from typing import Any

_WHERE = {
    "DEFAULT_SIZE": "export",
    "ExportResult": "export",
    "export_animation": "export",
    "export_image": "export",
    "SigningIdentity": "keys",
    "init_keys": "keys",
    "keys_dir": "keys",
    "load_identity": "keys",
    "ReproduceResult": "reproduce",
    "reproduce_image": "reproduce",
    "VerifyReport": "verify",
    "format_report": "verify",
    "verify_image": "verify",
    "WatermarkResult": "watermark",
    "detect_watermark": "watermark",
    "embed_watermark": "watermark",
}

__all__ = sorted(_WHERE)


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module 'latentkit.provenance' has no attribute {name!r}")
    return getattr(importlib.import_module(f"latentkit.provenance.{_WHERE[name]}"), name)


def __dir__() -> list[str]:
    return __all__
