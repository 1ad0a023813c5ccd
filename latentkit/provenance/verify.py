r"""Check an image's (or a GIF/MP4 animation's) provenance: manifest, C2PA signature, pixel hash, watermark.

An image is *verified* when its C2PA signature is valid and trusted, latentkit's manifest is inside
that signature, the pixels hash to the recorded value, and the unsigned copy of the manifest (PNG
chunk / XMP) agrees with the signed one. Trusted means the signing certificate chains to the CA given
with `--trust`, else to this machine's local identity (`keys_dir()/ca.pem`); any other signer is
"signature valid, signer not trusted" with its CA's fingerprint, and not verified. An unsigned manifest
never verifies, whatever signature sits beside it. The watermark is reported but does not decide:
it is there for images whose metadata is gone.
For an animation the pixels are every decoded frame (`animfile.frames_sha256`) and the watermark is a
majority vote over up to 5 evenly spaced frames; the unsigned manifest copy is the GIF comment.

Everything read from the file is shown through `shown`, which makes control characters visible
(`\x1b`, `\n`), so a manifest cannot forge report lines or hide them from a terminal.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from latentkit.errors import LatentkitError
from latentkit.io import read_bytes
from latentkit.provenance import animfile
from latentkit.provenance import manifest as mf
from latentkit.provenance.c2pa_sign import C2paStatus, read_c2pa
from latentkit.provenance.imagefile import read_image
from latentkit.provenance.keys import MAX_PEM_BYTES, local_ca_pem
from latentkit.provenance.watermark import WatermarkResult, detect_watermark, detect_watermark_frames
from latentkit.text import shown


@dataclass
class VerifyReport:
    """Everything `verify_image` found; `verified` and `problems` summarise it.

    Attributes:
        manifest: the signed manifest when present, else the embedded (unsigned) one, else None.
        manifest_source: "c2pa", "png-itxt", "xmp" or None.
        embedded_matches_signed: whether the PNG/XMP copy equals the signed one (None: not both).
        digital_source_type: IPTC source type from the C2PA action or the XMP, if any.
        pixels: "match", "mismatch" or "unknown" (nothing recorded).
        trust_source: what the signer was checked against: "--trust FILE", "the local identity"
            (this machine's keys_dir()/ca.pem) or None (neither: no signer can be trusted).
        frames: decoded frame count of an animation (GIF/MP4), else None.
        watermark_votes: (frames agreeing on the export id, frames checked) of an animation, else None.
    """

    path: str
    format: str
    width: int
    height: int
    manifest: dict[str, Any] | None
    manifest_source: str | None
    embedded_matches_signed: bool | None
    digital_source_type: str | None
    c2pa: C2paStatus
    pixels: str
    watermark: WatermarkResult
    trust_source: str | None
    frames: int | None = None
    watermark_votes: tuple[int, int] | None = None

    @property
    def watermark_matches_manifest(self) -> bool | None:
        """Export id and (scheme /2) model fingerprint both equal the manifest's; None if either is absent."""
        if not self.watermark.found or self.manifest is None:
            return None
        return not self._watermark_mismatches()

    def _watermark_mismatches(self) -> list[str]:
        record = self.manifest.get("watermark") or {}
        out = []
        if self.watermark.export_id != record.get("export_id"):
            out.append("watermark export id differs from the manifest's")
        fingerprint = self.watermark.model_fingerprint
        recorded = (
            record.get("model_fingerprint") or str(self.manifest["model"].get("weights_sha256", ""))[:8]
        )
        if fingerprint and fingerprint != recorded:
            out.append("watermark model fingerprint differs from the manifest's model")
        return out

    @property
    def signed_manifest(self) -> bool:
        """Whether the manifest reported is the one inside the signature (not an unsigned copy)."""
        return self.manifest is not None and self.manifest_source == "c2pa"

    @property
    def verified(self) -> bool:
        return (
            self.c2pa.state == "trusted"
            and self.signed_manifest
            and self.pixels == "match"
            and self.embedded_matches_signed is not False
        )

    def problems(self) -> list[str]:
        """Why the image is not verified (empty when it is), most important first."""
        out = []
        if self.manifest is None:
            out.append("no latentkit manifest")
        if self.c2pa.state == "absent":
            out.append("no C2PA signature")
        elif self.c2pa.state == "invalid":
            out.append("C2PA signature invalid")
        elif self.c2pa.state == "valid":
            out.append(f"signature valid, signer not trusted ({self.untrusted_signer()})")
        if self.c2pa.state in ("valid", "trusted") and self.manifest is not None and not self.signed_manifest:
            out.append("the latentkit manifest is not inside the signature (an unsigned copy)")
        if self.pixels == "mismatch":
            out.append("pixels differ from the recorded hash")
        if self.embedded_matches_signed is False:
            out.append("embedded manifest differs from the signed one")
        if self.watermark_matches_manifest is False:
            out.extend(self._watermark_mismatches())
        return out

    def untrusted_signer(self) -> str:
        """The signer's CA fingerprint, and what it was not found in, for "signer not trusted"."""
        fp = self.c2pa.signer_fingerprint
        who = f"SHA-256 fingerprint {fp}" if fp else "fingerprint unknown"
        return f"{who}; not {self.trust_source}" if self.trust_source else f"{who}; no CA to trust it"

    def to_dict(self) -> dict[str, Any]:
        return {
            "file": self.path,
            "format": self.format,
            "width": self.width,
            "height": self.height,
            "frames": self.frames,
            "verified": self.verified,
            "problems": self.problems(),
            "manifest_source": self.manifest_source,
            "manifest": self.manifest,
            "embedded_matches_signed": self.embedded_matches_signed,
            "digital_source_type": self.digital_source_type,
            "c2pa": self.c2pa.to_dict(),
            "trust": self.trust_source,
            "pixels": self.pixels,
            "watermark": {
                **self.watermark.to_dict(),
                "matches_manifest": self.watermark_matches_manifest,
                "frames_agreeing": self.watermark_votes[0] if self.watermark_votes else None,
                "frames_checked": self.watermark_votes[1] if self.watermark_votes else None,
            },
        }


def verify_image(path: str | os.PathLike, trust: str | os.PathLike | None = None) -> VerifyReport:
    """Verify one image file; `trust` is a PEM file of CA certificates (e.g. a colleague's ca.pem).

    Raises `LatentkitError` for unreadable input: not an image, truncated, too large, or a
    manifest of an unknown schema version.
    """
    if trust is not None:
        trust_pem, trust_source = _read_trust(trust), f"--trust {trust}"
    else:
        trust_pem = local_ca_pem()
        trust_source = "the local identity" if trust_pem else None
    if animfile.is_animation_file(path):
        return _verify_animation(path, trust_pem, trust_source)
    image = read_image(path)
    c2pa = read_c2pa(image.data, image.mime, trust_pem)
    xmp = mf.read_xmp(image.xmp) if image.xmp else {}
    embedded_text, source = image.manifest_text, "png-itxt"
    if embedded_text is None and "manifest" in xmp:
        embedded_text, source = xmp["manifest"], "xmp"
    manifest, manifest_source, agree = _pick_manifest(path, c2pa, embedded_text, source)
    h, w = image.pixels.shape[:2]
    return VerifyReport(
        path=str(path),
        format=image.format,
        width=w,
        height=h,
        manifest=manifest,
        manifest_source=manifest_source,
        embedded_matches_signed=agree,
        digital_source_type=c2pa.digital_source_type or xmp.get("digital_source_type"),
        c2pa=c2pa,
        pixels=_pixels_state(manifest, lambda: mf.pixels_sha256(image.pixels)),
        watermark=detect_watermark(image.pixels),
        trust_source=trust_source,
    )


def _verify_animation(
    path: str | os.PathLike, trust_pem: str | None, trust_source: str | None
) -> VerifyReport:
    """`verify_image` for a GIF or MP4: every decoded frame hashed, the watermark voted over frames."""
    anim = animfile.read_animation(path)
    c2pa = read_c2pa(anim.data, anim.mime, trust_pem)
    text = anim.manifest_text if anim.manifest_text and mf.SCHEMA in anim.manifest_text[:80] else None
    manifest, manifest_source, agree = _pick_manifest(path, c2pa, text, "gif-comment")
    watermark, agreeing, checked = detect_watermark_frames(anim.frames)
    h, w = anim.frames[0].shape[:2]
    return VerifyReport(
        path=str(path),
        format=anim.format,
        width=w,
        height=h,
        manifest=manifest,
        manifest_source=manifest_source,
        embedded_matches_signed=agree,
        digital_source_type=c2pa.digital_source_type,
        c2pa=c2pa,
        pixels=_pixels_state(manifest, lambda: animfile.frames_sha256(anim.frames)),
        watermark=watermark,
        trust_source=trust_source,
        frames=len(anim.frames),
        watermark_votes=(agreeing, checked),
    )


def _pick_manifest(
    path: str | os.PathLike, c2pa, embedded_text: str | None, embedded_source: str
) -> tuple[dict | None, str | None, bool | None]:
    """(manifest, where it came from, embedded copy == signed copy) — the signed one wins.

    The last item is None unless the file carries both copies.
    """
    embedded = (
        mf.parse_manifest(embedded_text, f"{path} ({embedded_source})") if embedded_text is not None else None
    )
    signed = mf.parse_manifest(mf.dumps(c2pa.manifest), f"{path} (C2PA)") if c2pa.manifest else None
    if signed:
        return signed, "c2pa", (embedded == signed) if embedded else None
    return embedded, (embedded_source if embedded else None), None


def _pixels_state(manifest: dict | None, digest) -> str:
    """ "match"/"mismatch" of the manifest's recorded pixel hash against `digest()`; "unknown" without one."""
    if manifest is None:
        return "unknown"
    return "match" if manifest["output"].get("pixels_sha256") == digest() else "mismatch"


def format_report(r: VerifyReport) -> str:
    """A short human-readable report, one aspect per line."""
    lines = [f"{r.path}: {r.format.upper()} {r.width}x{r.height}"]
    if r.frames is not None:
        lines[0] += f", {r.frames} frame(s)"
    m = r.manifest
    if m is None:
        lines.append("  manifest   absent (no latentkit PNG chunk, XMP or C2PA assertion)")
    else:
        model, latent = m["model"], m["latent"]
        seed = f"seed {latent.get('seed')}, " if latent.get("seed") is not None else ""
        try:
            space = mf.latent_space(latent)
        except LatentkitError:
            space = "unknown-space"
        extra = f", {len(m['edits'])} edit(s)" if m.get("edits") else ""
        extra += ", interpolation" if m.get("interpolation") else ""
        anim = m.get("animation") if isinstance(m.get("animation"), dict) else None
        extra += f", animation of {anim.get('frames')} latents at {anim.get('fps')} fps" if anim else ""
        extra += ", projected from an input image" if m.get("projection") else ""
        lines.append(
            f"  manifest   {m['software'].get('name')} {m['software'].get('version')}, {m['created']}, "
            f"model {model.get('name')!r} (weights {str(model.get('weights_sha256'))[:12]}), "
            f"{seed}{latent.get('dim')}-d {space} latent{extra} [from {r.manifest_source}]"
        )
    if r.digital_source_type:
        lines.append(f"  source     {r.digital_source_type.rsplit('/', 1)[-1]}")
    c = r.c2pa
    if c.state == "absent":
        lines.append("  signature  C2PA absent")
    else:
        who = f" by {c.signer!r} (issuer {c.issuer!r})" if c.signer else ""
        why = f": {', '.join(c.failures) or c.error}" if c.state == "invalid" else ""
        if c.state == "trusted":
            why = f", trusted by {r.trust_source}"
        elif c.state == "valid":
            why = f", signer not trusted ({r.untrusted_signer()}); pass --trust CA.pem if you trust its CA"
        lines.append(f"  signature  C2PA {c.state}{who}{why}")
    pixel_text = {
        "match": "match the recorded SHA-256",
        "mismatch": "DIFFER from the recorded SHA-256",
        "unknown": "no recorded hash to compare",
    }
    lines.append(f"  pixels     {pixel_text[r.pixels]}")
    wm = r.watermark
    if wm.found:
        agree = {True: ", matches the manifest", False: ", DIFFERS from the manifest", None: ""}
        how = {"direct": "", "shift search": " after a shift search"}.get(wm.method, "")
        if wm.method == "resync":
            how = f" after resync: rotated {wm.rotation_deg:.1f} deg, scaled {wm.scale:.2f}"
        if wm.bits_corrected:
            how += f", {wm.bits_corrected} bit(s) corrected"
        if r.watermark_votes:
            how += f", on {r.watermark_votes[0]} of {r.watermark_votes[1]} frames checked"
        model = f", model fingerprint {wm.model_fingerprint}" if wm.model_fingerprint else ""
        lines.append(
            f"  watermark  found: export {wm.export_id}{model}{agree[r.watermark_matches_manifest]} "
            f"({wm.scheme}, confidence {wm.confidence:.1f}{how})"
        )
        if r.manifest is None:
            lines.append(
                f"             without the manifest only the watermark remains: {_watermark_says(wm)}"
            )
    else:
        votes = f", {r.watermark_votes[1]} frames checked" if r.watermark_votes else ""
        lines.append(f"  watermark  not found (confidence {wm.confidence:.1f}{votes})")
    problems = r.problems()
    lines.append("  verified   yes" if r.verified else f"  verified   no: {'; '.join(problems)}")
    return "\n".join(shown(line) for line in lines)


def _watermark_says(wm: WatermarkResult) -> str:
    """What a watermark alone tells: the export id and which model (a shipped one, when it is)."""
    if not wm.model_fingerprint:
        return f"latentkit export {wm.export_id} (this scheme carries no model fingerprint)"
    name = known_model(wm.model_fingerprint)
    which = f"the shipped model {name!r}" if name else "no model shipped with latentkit"
    fp = wm.model_fingerprint
    return f"latentkit export {wm.export_id}, by a model whose weights SHA-256 starts {fp} ({which})"


def known_model(fingerprint: str) -> str | None:
    """The shipped model (`latentkit.models.pretrained`) whose weights SHA-256 starts with `fingerprint`."""
    from latentkit.models.pretrained import list_pretrained, pretrained_path  # only for this lookup

    for name in list_pretrained():
        try:
            doc = json.loads((pretrained_path(name) / "config.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if str(doc.get("weights_sha256", "")).startswith(fingerprint):
            return name
    return None


def _read_trust(path: str | os.PathLike) -> str:
    """The PEM text of a --trust file, every certificate in it parsed (one clear error otherwise)."""
    from cryptography import x509

    try:
        data = read_bytes(Path(path), MAX_PEM_BYTES)
    except LatentkitError as e:
        raise LatentkitError(f"--trust {e}") from None
    try:
        x509.load_pem_x509_certificates(data)
        return data.decode("ascii")
    except (ValueError, UnicodeDecodeError) as e:
        why = str(e).splitlines()[0][:120] if str(e) else "no certificate found"
        raise LatentkitError(f"--trust {path}: not a PEM certificate file ({why})") from None
