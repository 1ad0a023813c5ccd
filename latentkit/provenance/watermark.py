"""Invisible watermark of every export: what it carries, and the one detector for both schemes.

"latentkit-iss/2" (written since issue 21; `watermark_iss2.py`): 64 data bits -- a 32-bit export id
and a 32-bit model fingerprint (the first 8 hex digits of the model's weights SHA-256) -- in a
BCH(127, 64) codeword, carried by a tiled spread-spectrum mark that re-finds rotation, scale, aspect
and crop offset from a sync constellation before decoding.
"latentkit-iss/1" (`watermark_iss1.py`): 16-bit tag + 24-bit export id + CRC-8; still read.

The export id's width names the scheme: 8 hex digits embed /2, 6 hex digits embed /1 (so re-exporting
an old manifest's id reproduces its pixels). Exports >= 160 px get 8 (`EXPORT_ID_BITS`), smaller
previews 6.

False positives, by design: a /2 reading counts only when the received 127 bits are within
`MAX_CORRECTED` = 8 bit flips of a codeword. An image without the mark reads as 127 fair coin flips,
which land that close to one of the 2^64 codewords with probability 2^64 * V(127, 8) / 2^127 =
1.6e-7 (V: Hamming-ball volume; `ecc.random_word_decodes`). The detector makes at most two /2
readings (as-is, then resynchronised) and three /1 readings (main carrier, small carrier, shift
search; 2^-24 each), so an unmarked image is reported as marked with probability
<= `FALSE_POSITIVE_RATE` = 4.9e-7 per image.
Measured in benchmarks/watermark.py (--negatives).
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass

import numpy as np

from latentkit.errors import LatentkitError
from latentkit.provenance import ecc
from latentkit.provenance import watermark_iss1 as iss1
from latentkit.provenance import watermark_iss2 as iss2
from latentkit.provenance.watermark_iss1 import crc8, read_payload
from latentkit.provenance.watermark_iss1 import payload_bits as payload_bits_iss1

ISS2 = "latentkit-iss/2"
# The export id width every export gets (export.py): 32 bits = /2 for exports >= ISS2_MIN_SIZE.
EXPORT_ID_BITS = 32
# /2's band (30-50 cycles per image) needs Nyquist well above 50 to outlive JPEG: a 128 px /2
# export lost its mark to JPEG q75 (0 of 6), a 160 px one kept it (10 of 10). Smaller exports carry
# /1 (24-bit id) on its small carrier (8-16 cycles; JPEG q50 kept at 96-192 px), read back by the
# same detector.
ISS2_MIN_SIZE = iss1.SMALL_MAX  # one threshold: under it, /1 on the small carrier


def export_id_bits(size: int) -> int:
    """The export id width (so the scheme) for a `size` px export: EXPORT_ID_BITS, 24 if too small."""
    return EXPORT_ID_BITS if size >= ISS2_MIN_SIZE else 24


SCHEME = iss1.SCHEME if EXPORT_ID_BITS == 24 else ISS2
SCHEMES = (iss1.SCHEME, ISS2)
N_BITS = ecc.N  # bits on the wire of /2 (iss1.N_BITS = 48 for /1)
FINGERPRINT_HEX = 8  # model fingerprint: first 8 hex digits (32 bits) of the weights SHA-256
MAX_CORRECTED = 8  # a /2 codeword needing more flips is "not found"
FALSE_POSITIVE_RATE = 2 * ecc.random_word_decodes(MAX_CORRECTED) + 3 * 2.0**-24

__all__ = ["SCHEME", "WatermarkResult", "crc8", "detect_watermark", "embed_watermark", "read_payload"]


@dataclass
class WatermarkResult:
    """What the detector read.

    Attributes:
        found: True when a scheme's check passed (/2: <= MAX_CORRECTED flips; /1: tag and CRC).
        export_id: the export id as embedded (8 hex digits for /2, 6 for /1) when found, else None.
        confidence: mean |payload correlation| over the decoys' RMS; about 0.8 for an unmarked
            image, 5-15 for a fresh export.
        bits: the decoded bits before error correction ((127,) for /2, (48,) for /1).
        method: "direct" (resized to the grid), "resync" (geometry re-found) or "shift search".
        scheme: which scheme was found (None when not found).
        model_fingerprint: /2's 8 hex digits of the model's weights SHA-256 (None if not found or
            embedded without one).
        bits_corrected: bit errors the BCH code corrected (/2 only).
        rotation_deg, scale: the geometry "resync" found (counter-clockwise degrees, zoom factor),
            also when the payload then failed its check.
    """

    found: bool
    export_id: str | None
    confidence: float
    bits: np.ndarray
    method: str = "direct"
    scheme: str | None = None
    model_fingerprint: str | None = None
    bits_corrected: int | None = None
    rotation_deg: float | None = None
    scale: float | None = None

    def to_dict(self) -> dict:
        out = {
            "found": self.found,
            "scheme": self.scheme,
            "export_id": self.export_id,
            "model_fingerprint": self.model_fingerprint,
            "confidence": round(self.confidence, 2),
            "bits_corrected": self.bits_corrected,
            "method": self.method,
        }
        if self.rotation_deg is not None:
            out["rotation_deg"], out["scale"] = round(self.rotation_deg, 2), round(self.scale, 3)
        return out


def new_export_id(bits: int = 24) -> str:
    """A random export id: 24 bits (6 hex digits, scheme /1) or 32 bits (8 hex digits, scheme /2)."""
    if bits not in (24, 32):
        raise ValueError(f"export ids have 24 or 32 bits, not {bits}")
    return secrets.token_hex(bits // 8)


def scheme_of(export_id: str) -> str:
    """The scheme an export id is embedded with: 8 hex digits -> /2, 6 -> /1."""
    if re.fullmatch(r"[0-9a-f]{8}", export_id):
        return ISS2
    if re.fullmatch(r"[0-9a-f]{6}", export_id):
        return iss1.SCHEME
    raise ValueError(
        f"export id must be 8 (or, for {iss1.SCHEME}, 6) lowercase hex digits, got {export_id!r}"
    )


def manifest_record(export_id: str, model_fingerprint: str | None, carrier: str = "main") -> dict:
    """The manifest's `watermark` record: scheme, export id, (/2 only) the 8-hex fingerprint, and
    (/1 on its small carrier only) "carrier": "small"; a /1 record without it means "main"."""
    record = {"scheme": scheme_of(export_id), "export_id": export_id}
    if record["scheme"] == ISS2 and model_fingerprint:
        record["model_fingerprint"] = model_fingerprint[:FINGERPRINT_HEX].lower()
    if record["scheme"] == iss1.SCHEME and carrier == "small":
        record["carrier"] = "small"
    return record


def recorded_carrier(record: dict) -> str:
    """The /1 carrier a manifest's `watermark` record names, validated: "main" unless it says "small"."""
    carrier = record.get("carrier", "main")
    if carrier not in iss1.CARRIERS:
        raise LatentkitError(f"manifest watermark.carrier {str(carrier)[:20]!r}: not main or small")
    return carrier


def data_bits(export_id: str, model_fingerprint: str | None = None) -> np.ndarray:
    """(64,) uint8 data bits of /2: export id (32) then fingerprint (32), most significant first.

    model_fingerprint: the model's weights SHA-256 in hex (only its first 8 digits are used); None
    embeds 0, read back as "no fingerprint".
    """
    fp = (model_fingerprint or "0" * FINGERPRINT_HEX)[:FINGERPRINT_HEX].lower()
    if scheme_of(export_id) != ISS2 or not re.fullmatch(r"[0-9a-f]{8}", fp):
        raise ValueError(f"need an 8-hex-digit export id and a hex fingerprint, got {export_id!r}, {fp!r}")
    return np.unpackbits(np.frombuffer(bytes.fromhex(export_id + fp), np.uint8))


def payload_bits(export_id: str, model_fingerprint: str | None = None) -> np.ndarray:
    """The bits the mark carries on the wire: /2's (127,) codeword or /1's (48,) payload."""
    if scheme_of(export_id) == iss1.SCHEME:
        return payload_bits_iss1(export_id)
    return ecc.encode(data_bits(export_id, model_fingerprint))


def embed_watermark(
    pixels: np.ndarray, export_id: str, *, model_fingerprint: str | None = None, carrier: str | None = None
) -> np.ndarray:
    """Return a watermarked copy of (H, W, 3) uint8 RGB pixels carrying `export_id`.

    An 8-hex-digit id embeds /2 together with `model_fingerprint` (the weights SHA-256, hex); a
    6-digit id embeds /1, which has no room for the fingerprint (ignored), on `carrier` ("main" or
    "small"; default by the image's size, `iss1.carrier_for`).
    """
    if scheme_of(export_id) == iss1.SCHEME:
        return iss1.embed(pixels, export_id, carrier)
    return iss2.embed(pixels, payload_bits(export_id, model_fingerprint))


def detect_watermark(pixels: np.ndarray) -> WatermarkResult:
    """Read the watermark of (H, W, 3) uint8 RGB pixels of any size, trying both schemes.

    Cheapest first: /2 as-is, /1 as-is, /2 after resynchronising the geometry, /1's shift search
    (images smaller than its grid). The first that passes its check is returned; otherwise a
    not-found result with the /2 reading's confidence.
    """
    y = pixels.astype(np.float32) @ iss2.LUMA
    grid = iss2.to_grid(y)
    direct = _result_iss2(iss2.read_direct(grid), "direct")
    if direct.found:
        return direct
    old = iss1.detect(y, shift_search=False)
    if old.export_id:
        return _result_iss1(old)
    resync = _result_iss2(iss2.read_resync(grid), "resync")
    if resync.found:
        return resync
    old = iss1.detect(y)
    if old.export_id:
        return _result_iss1(old)
    return max(direct, resync, key=lambda r: r.confidence)


def _result_iss2(reading: iss2.Reading, method: str) -> WatermarkResult:
    bits = iss2.hard_bits(reading)
    decoded = ecc.decode(bits, MAX_CORRECTED)
    confidence = iss2.confidence(reading)
    rotation, scale = iss2.rotation_and_scale(reading.matrix) if method == "resync" else (None, None)
    if decoded is None:
        return WatermarkResult(False, None, confidence, bits, method, rotation_deg=rotation, scale=scale)
    data, corrected = decoded
    hexed = np.packbits(data).tobytes().hex()
    fingerprint = hexed[8:] if hexed[8:] != "0" * FINGERPRINT_HEX else None
    return WatermarkResult(
        True, hexed[:8], confidence, bits, method, ISS2, fingerprint, corrected, rotation, scale
    )


def _result_iss1(reading: iss1.Reading) -> WatermarkResult:
    return WatermarkResult(
        True, reading.export_id, reading.confidence, reading.bits, reading.method, iss1.SCHEME
    )


def detect_watermark_frames(frames: list[np.ndarray], checks: int = 5) -> tuple[WatermarkResult, int, int]:
    """Read the watermark of an animation by majority vote over up to `checks` evenly spaced frames.

    frames: (H, W, 3) uint8 RGB each. Returns (result, frames agreeing on its export id, frames
    checked); the result is found only when more than half of the checked frames carry the same id.
    Its confidence is the median over the checked frames.
    """
    index = np.unique(np.linspace(0, len(frames) - 1, min(checks, len(frames))).round().astype(int))
    results = [detect_watermark(frames[i]) for i in index]
    confidence = float(np.median([r.confidence for r in results]))
    ids = [r.export_id for r in results if r.found]
    best = max(set(ids), key=ids.count) if ids else None
    votes = ids.count(best) if best else 0
    if best is not None and 2 * votes > len(results):
        first = next(r for r in results if r.export_id == best)
        first.confidence = confidence
        return first, votes, len(results)
    strongest = max(results, key=lambda r: r.confidence)
    return WatermarkResult(False, None, confidence, strongest.bits, strongest.method), votes, len(results)
