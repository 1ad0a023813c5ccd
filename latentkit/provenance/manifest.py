"""The latentkit manifest: a versioned JSON record of what made an exported image and how.

    {
      "schema": "latentkit.manifest", "schema_version": 1,
      "software": {"name": "latentkit", "version": "0.1.0"},
      "created": "2025-01-31T12:00:00Z",                       # UTC, second precision
      "digital_source_type": "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia",
      "model": {"name": ..., "weights_sha256": ..., "config_sha256": ..., "resolution": 64},
      "latent": {"dim": 128, "seed": 3 | null, "dtype": "float32", "byteorder": "little",
                 "vector_b64": ..., "sha256": ...},             # sha256 of the 4*dim raw bytes
      "edits": [{...}, ...] | null,                             # as given by the caller
      "interpolation": {...} | null,                            # as given by the caller
      "projection": {"source_sha256": ..., "steps": 250, "mse": ..., "psnr": ...} | null,
      "output": {"width": 256, "height": 256, "format": "png", "quality": null,
                 "upscale": "bicubic", "pixels_sha256": ...},
      "watermark": {"scheme": ..., "export_id": "3fa2c1"}
    }

`latent.vector_b64` is the exact z that was rendered (after any edits); `latent.seed` is where it
started. `projection` (absent in manifests written before it existed) says the starting latent was
found by projecting an input image (`latentkit project`), whose file SHA-256 it records.
`output.pixels_sha256` is the SHA-256 of the decoded RGB pixels as a row-major (H, W, 3)
uint8 array, taken after the watermark is embedded and, for JPEG/WebP, after lossy encoding.

The manifest travels three ways: a PNG iTXt chunk (keyword `latentkit`, what "PNG info" viewers show),
an attribute of the XMP packet (which also carries Iptc4xmpExt:DigitalSourceType), and a custom
assertion inside the signed C2PA manifest.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import json
import xml.etree.ElementTree as ET
from typing import Any
from xml.sax.saxutils import quoteattr

import numpy as np

import latentkit
from latentkit.errors import LatentkitError
from latentkit.models.latents import SPACES

SCHEMA = "latentkit.manifest"
SCHEMA_VERSION = 1
TRAINED_ALGORITHMIC_MEDIA = "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"
PNG_KEYWORD = "latentkit"
XMP_NS = "http://ns.latentkit.org/1.0/"
IPTC_EXT_NS = "http://iptc.org/std/Iptc4xmpExt/2008-02-29/"
RDF_NS = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
XMP_BASIC_NS = "http://ns.adobe.com/xap/1.0/"
REQUIRED = ("software", "created", "model", "latent", "output", "watermark")


def encode_latent(z: np.ndarray, space: str = "z") -> dict[str, Any]:
    """The `latent` record (without seed) of one latent of `space`: (dim,) for z or w, (layers, dim)
    for w+; exact float32 little-endian base64 + SHA-256 of all its values, `dim` their count."""
    raw = np.ascontiguousarray(z, dtype="<f4").reshape(-1).tobytes()
    layers = {"layers": int(np.shape(z)[0])} if space == "w+" else {}
    return {
        "space": space,
        **layers,
        "dim": len(raw) // 4,
        "dtype": "float32",
        "byteorder": "little",
        "vector_b64": base64.b64encode(raw).decode("ascii"),
        "sha256": hashlib.sha256(raw).hexdigest(),
    }


def latent_space(record: dict[str, Any]) -> str:
    """The validated space of a `latent` record: "z" (also in manifests older than spaces), "w", "w+"."""
    space = record.get("space", "z")
    if space not in SPACES:
        raise LatentkitError(f"manifest latent.space {str(space)[:20]!r}: not one of {', '.join(SPACES)}")
    return space


def decode_latent(record: dict[str, Any]) -> np.ndarray:
    """The exact float32 latent of a `latent` record, (dim,) or for w+ (layers, dim / layers);
    checks its length and SHA-256."""
    flat = _decode_flat(record)
    return flat.reshape(_layers(record, len(flat)), -1) if latent_space(record) == "w+" else flat


def _layers(record: dict[str, Any], values: int) -> int:
    """A w+ record's validated layer count, which must split `values` (one latent's) evenly."""
    layers = record.get("layers")
    if isinstance(layers, bool) or not isinstance(layers, int) or layers < 1 or values % layers:
        raise LatentkitError(f"manifest latent.layers {str(layers)[:20]!r}: does not split {values} values")
    return layers


def _decode_flat(record: dict[str, Any]) -> np.ndarray:
    """The record's values as a flat float32 vector, after the base64, length and SHA-256 checks."""
    try:
        raw = base64.b64decode(record["vector_b64"], validate=True)
    except (KeyError, TypeError, ValueError):
        raise LatentkitError("manifest latent.vector_b64: missing or not base64") from None
    if hashlib.sha256(raw).hexdigest() != record.get("sha256"):
        raise LatentkitError("manifest latent: vector does not match its recorded sha256")
    dim = record.get("dim")
    if isinstance(dim, bool) or not isinstance(dim, int) or len(raw) != 4 * dim:
        raise LatentkitError(f"manifest latent: {len(raw)} bytes do not hold {record.get('dim')} float32")
    return np.frombuffer(raw, dtype="<f4").astype(np.float32)


def encode_latents(zs: np.ndarray, space: str = "z") -> dict[str, Any]:
    """The `animation.latents` record of N latents of `space` ((N, D), or (N, layers, D) for w+):
    exact float32 little-endian base64 + SHA-256; `dim` is the size of one latent."""
    one = int(np.prod(zs.shape[1:]))
    record = {"count": int(zs.shape[0]), **encode_latent(zs, space), "dim": one}
    if space == "w+":
        record["layers"] = int(zs.shape[1])
    return record


def decode_latents(record: dict[str, Any]) -> np.ndarray:
    """The exact float32 latents of an `animation.latents` record, (N, D) or for w+ (N, layers, D);
    checks length and SHA-256."""
    try:
        count, dim = int(record["count"]), int(record["dim"])
    except (KeyError, TypeError, ValueError):
        raise LatentkitError("manifest animation.latents: count or dim missing") from None
    flat = _decode_flat({**record, "dim": count * dim}).reshape(count, dim)
    if latent_space(record) != "w+":
        return flat
    return flat.reshape(count, _layers(record, dim), -1)


def pixels_sha256(pixels: np.ndarray) -> str:
    """SHA-256 of an (H, W, 3) uint8 RGB array's row-major bytes."""
    if pixels.dtype != np.uint8 or pixels.ndim != 3 or pixels.shape[2] != 3:
        raise ValueError(f"pixels_sha256 needs (H, W, 3) uint8, got {pixels.shape} {pixels.dtype}")
    return hashlib.sha256(np.ascontiguousarray(pixels).tobytes()).hexdigest()


def build_manifest(
    *,
    model: dict[str, Any],
    z: np.ndarray,
    seed: int | None,
    space: str = "z",
    edits: list[dict[str, Any]] | None,
    interpolation: dict[str, Any] | None,
    output: dict[str, Any],
    watermark: dict[str, Any],
    created: datetime.datetime | None = None,
    projection: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Assemble a schema-1 manifest; `edits`, `interpolation`, `projection` must be JSON-able (checked)."""
    created = created or datetime.datetime.now(datetime.UTC)
    manifest = {
        "schema": SCHEMA,
        "schema_version": SCHEMA_VERSION,
        "software": {"name": "latentkit", "version": latentkit.__version__},
        "created": created.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "digital_source_type": TRAINED_ALGORITHMIC_MEDIA,
        "model": model,
        "latent": {**encode_latent(z, space), "seed": seed},
        "edits": edits,
        "interpolation": interpolation,
        "projection": projection,
        "output": output,
        "watermark": watermark,
    }
    for field in ("edits", "interpolation", "projection"):
        try:
            json.dumps(manifest[field], allow_nan=False)
        except (TypeError, ValueError) as e:
            raise LatentkitError(f"export {field}: not plain JSON data ({e})") from None
    return manifest


def dumps(manifest: dict[str, Any]) -> str:
    """Canonical compact JSON text of a manifest (what the PNG chunk and XMP carry)."""
    return json.dumps(manifest, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def parse_manifest(text: str | bytes, source: str) -> dict[str, Any]:
    """Parse and check a manifest's JSON text; `source` names where it came from for error messages."""
    try:
        doc = json.loads(text)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise LatentkitError(f"{source}: latentkit manifest is not valid JSON ({e})") from None
    except RecursionError:
        raise LatentkitError(f"{source}: latentkit manifest is nested too deeply to read") from None
    if not isinstance(doc, dict) or doc.get("schema") != SCHEMA:
        raise LatentkitError(f"{source}: not a latentkit manifest (schema is not {SCHEMA!r})")
    version = doc.get("schema_version")
    if version != SCHEMA_VERSION:
        raise LatentkitError(
            f"{source}: manifest schema version {version!r} is not supported "
            f"(this latentkit {latentkit.__version__} reads version {SCHEMA_VERSION}; try a newer latentkit)"
        )
    for key in REQUIRED:
        if not isinstance(doc.get(key), str if key == "created" else dict):
            raise LatentkitError(f"{source}: manifest field {key!r} is missing or malformed")
    for key, kind in (("edits", list), ("interpolation", dict), ("projection", dict)):
        if doc.get(key) is not None and not isinstance(doc[key], kind):
            raise LatentkitError(f"{source}: manifest field {key!r} must be a {kind.__name__} or null")
    return doc


def build_xmp(manifest: dict[str, Any]) -> str:
    """An XMP packet with the IPTC digital source type, creator tool, date and the manifest."""
    soft = manifest["software"]
    attrs = {
        "Iptc4xmpExt:DigitalSourceType": manifest["digital_source_type"],
        "xmp:CreatorTool": f"{soft['name']} {soft['version']}",
        "xmp:CreateDate": manifest["created"],
        "latentkit:manifest": dumps(manifest),
    }
    body = "\n    ".join(f"{k}={quoteattr(v)}" for k, v in attrs.items())
    return (
        '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>\n'
        '<x:xmpmeta xmlns:x="adobe:ns:meta/">\n'
        f' <rdf:RDF xmlns:rdf="{RDF_NS}">\n'
        '  <rdf:Description rdf:about=""\n'
        f'    xmlns:Iptc4xmpExt="{IPTC_EXT_NS}"\n'
        f'    xmlns:xmp="{XMP_BASIC_NS}"\n'
        f'    xmlns:latentkit="{XMP_NS}"\n'
        f"    {body}/>\n"
        " </rdf:RDF>\n"
        "</x:xmpmeta>\n"
        '<?xpacket end="w"?>'
    )


def read_xmp(xmp: str | bytes) -> dict[str, str]:
    """The digital source type and manifest text found in an XMP packet (either may be absent).

    Looks for both attribute and element forms, since other tools may rewrite the packet.
    Returns {"digital_source_type": ..., "manifest": ...} with only the keys that were found.
    """
    if isinstance(xmp, bytes):
        xmp = xmp.decode("utf-8", errors="replace")
    start, end = xmp.find("<x:xmpmeta"), xmp.rfind("</x:xmpmeta>")
    if start < 0 or end < 0:
        return {}
    try:
        root = ET.fromstring(xmp[start : end + len("</x:xmpmeta>")])
    except ET.ParseError:
        return {}
    wanted = {
        f"{{{IPTC_EXT_NS}}}DigitalSourceType": "digital_source_type",
        f"{{{XMP_NS}}}manifest": "manifest",
    }
    found: dict[str, str] = {}
    for desc in root.iter(f"{{{RDF_NS}}}Description"):
        for tag, key in wanted.items():
            if tag in desc.attrib:
                found[key] = desc.attrib[tag]
            child = desc.find(tag)
            if child is not None and child.text:
                found[key] = child.text
    return found
