"""Provenance on every exported image: manifest, C2PA signature, invisible watermark, verification.

    export.py     the one export path (`export_image`, `export_animation`)
    manifest.py   the readable record; imagefile.py / animfile.py: encoding, decoding, format table
    c2pa_sign.py  the C2PA signature; keys.py: the signing identity
    watermark.py  the invisible watermark (schemes in watermark_iss1.py, watermark_iss2.py; ecc.py)
    verify.py     `verify_image`; reproduce.py: `reproduce_image`

See docs/provenance.md.
"""

from __future__ import annotations

from latentkit.models.render import DEFAULT_SIZE
from latentkit.provenance.export import ExportResult, export_animation, export_image
from latentkit.provenance.keys import SigningIdentity, init_keys, keys_dir, load_identity
from latentkit.provenance.reproduce import ReproduceResult, reproduce_image
from latentkit.provenance.verify import VerifyReport, format_report, verify_image
from latentkit.provenance.watermark import WatermarkResult, detect_watermark, embed_watermark

__all__ = [
    "DEFAULT_SIZE",
    "ExportResult",
    "ReproduceResult",
    "SigningIdentity",
    "VerifyReport",
    "WatermarkResult",
    "detect_watermark",
    "embed_watermark",
    "export_animation",
    "export_image",
    "format_report",
    "init_keys",
    "keys_dir",
    "load_identity",
    "reproduce_image",
    "verify_image",
]
