"""C2PA signing and reading, through c2pa-python (the Content Authenticity Initiative's SDK).

The signed C2PA manifest holds a `c2pa.actions` assertion whose `c2pa.created` action has the IPTC
digital source type trainedAlgorithmicMedia, and latentkit's own manifest as the custom assertion
`org.latentkit.manifest`: {"manifest": the manifest as data, for any C2PA viewer; "json": its exact
canonical text, which is what latentkit reads back, because c2pa renders some data differently on
reading (a flat list of floats comes back as "")}. Its hard binding hashes every byte of the file
outside the C2PA box, so changing a pixel or a character of the PNG/XMP manifest makes the
signature invalid.

Everything runs offline: no timestamp authority, no OCSP, no remote manifests. Without a trusted
timestamp a signature is judged against the certificate's validity at verification time.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
from dataclasses import dataclass, field
from typing import Any

from latentkit.provenance.keys import SigningIdentity, fingerprint
from latentkit.provenance.manifest import TRAINED_ALGORITHMIC_MEDIA, dumps

ASSERTION_LABEL = "org.latentkit.manifest"
OFFLINE = {"remote_manifest_fetch": False, "ocsp_fetch": False}
UNTRUSTED = "signingCredential.untrusted"


@dataclass
class C2paStatus:
    """The C2PA side of a verification.

    Attributes:
        state: "trusted" (signature valid, chain ends at a trusted CA: the --trust one, else the
            local identity's), "valid" (signature and bindings check out, signer not trusted),
            "invalid", or "absent".
        signer, issuer: the signing certificate's common name and issuer, when readable.
        signer_fingerprint: SHA-256 (hex) of the public key of the CA that issued the signing
            certificate (of the signing certificate itself when its CA is not in the file), or None.
        failures: C2PA validation failure codes, e.g. "assertion.dataHash.mismatch".
        manifest: latentkit's manifest as signed (the custom assertion), or None.
        digital_source_type: of the `c2pa.created` action, or None.
        error: why the C2PA data could not be read at all, or None.
    """

    state: str
    signer: str | None = None
    issuer: str | None = None
    signer_fingerprint: str | None = None
    failures: list[str] = field(default_factory=list)
    manifest: dict[str, Any] | None = None
    digital_source_type: str | None = None
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "state": self.state,
            "signer": self.signer,
            "issuer": self.issuer,
            "signer_fingerprint": self.signer_fingerprint,
            "failures": self.failures,
            "digital_source_type": self.digital_source_type,
            "error": self.error,
        }


def sign_c2pa(
    data: bytes, mime: str, manifest: dict[str, Any], identity: SigningIdentity, title: str
) -> bytes:
    """Return `data` (a complete PNG/JPEG/WebP file) with a signed C2PA manifest embedded.

    Thumbnails are off: they would add ~280 KB to a 256 px image and duplicate its pixels.
    """
    import c2pa  # deferred: loading the native library costs ~0.1 s that `verify --help` need not pay

    soft = manifest["software"]
    definition = {
        "claim_generator_info": [{"name": soft["name"], "version": soft["version"]}],
        "title": title,
        "format": mime,
        "assertions": [
            {
                "label": "c2pa.actions",
                "data": {
                    "actions": [
                        {
                            "action": "c2pa.created",
                            "digitalSourceType": TRAINED_ALGORITHMIC_MEDIA,
                            "softwareAgent": {"name": soft["name"], "version": soft["version"]},
                        }
                    ]
                },
            },
            {"label": ASSERTION_LABEL, "data": {"manifest": manifest, "json": dumps(manifest)}},
        ],
    }
    settings = {
        "builder": {"thumbnail": {"enabled": False}},
        "verify": {**OFFLINE, "verify_after_sign": False},
    }
    info = c2pa.C2paSignerInfo(identity.alg, identity.chain_pem, identity.key_pem, None)
    out = io.BytesIO()
    with (
        c2pa.Signer.from_info(info) as signer,
        c2pa.Context.from_dict(settings) as context,
        c2pa.Builder(definition, context=context) as builder,
    ):
        builder.sign(signer, mime, io.BytesIO(data), out)
    return out.getvalue()


def read_c2pa(data: bytes, mime: str, trust_pem: str | None = None) -> C2paStatus:
    """Validate the C2PA manifest in `data`; `trust_pem` holds CA certificates to trust (PEM)."""
    import c2pa

    settings: dict[str, Any] = {"verify": dict(OFFLINE)}
    if trust_pem:
        settings["trust"] = {"user_anchors": trust_pem}
    try:
        with c2pa.Context.from_dict(settings) as context:
            reader = c2pa.Reader.try_create(mime, io.BytesIO(data), None, context)
            if reader is None:
                return C2paStatus("absent")
            with reader:
                store = json.loads(reader.json())
                state = (reader.get_validation_state() or "invalid").lower()
    except c2pa.C2paError as e:
        return C2paStatus("invalid", error=str(e).splitlines()[0][:200])
    active = store.get("manifests", {}).get(store.get("active_manifest"), {})
    results = store.get("validation_results", {}).get("activeManifest", {})
    # An unknown CA is the normal case without --trust; the state ("valid", not "trusted") says it.
    failures = [f["code"] for f in results.get("failure", []) if f.get("code") not in (None, UNTRUSTED)]
    if state == "trusted" and not trust_pem:
        state = "valid"  # "trusted" must mean "by a CA the user named", not by a built-in list
    info = active.get("signature_info", {})
    state = state if state in ("trusted", "valid") else "invalid"
    return C2paStatus(
        state=state,
        signer=info.get("common_name"),
        issuer=info.get("issuer"),
        signer_fingerprint=signer_fingerprint(data, info.get("cert_serial_number"))
        if state != "invalid"
        else None,
        failures=failures,
        manifest=_assertion(active, ASSERTION_LABEL),
        digital_source_type=_created_source_type(active),
    )


def _assertion(manifest: dict[str, Any], label: str) -> dict[str, Any] | None:
    """latentkit's manifest as signed: parsed from the assertion's exact "json" text."""
    for a in manifest.get("assertions", []):
        data = a.get("data")
        if a.get("label") == label and isinstance(data, dict) and isinstance(data.get("json"), str):
            try:
                doc = json.loads(data["json"])
            except (ValueError, RecursionError):
                return None
            return doc if isinstance(doc, dict) else None
    return None


def _created_source_type(manifest: dict[str, Any]) -> str | None:
    for a in manifest.get("assertions", []):
        if str(a.get("label", "")).startswith("c2pa.actions"):
            for action in a.get("data", {}).get("actions", []):
                if action.get("action") == "c2pa.created":
                    return action.get("digitalSourceType")
    return None


# A DER X.509 v3 certificate: SEQUENCE { SEQUENCE (tbsCertificate) { [0] { INTEGER 2 } ...
_DER_CERT = re.compile(rb"\x30\x82..\x30(?:\x82..|\x81.)\xa0\x03\x02\x01\x02", re.DOTALL)


def signer_fingerprint(data: bytes, serial: str | None) -> str | None:
    """The fingerprint (`keys.fingerprint`) of the signing certificate's CA, found in the file's bytes.

    c2pa names the signing certificate only by serial number, so the certificates the signature
    carries are found by their DER shape. None unless exactly one certificate has that serial (a
    planted look-alike makes it ambiguous); the CA is the certificate whose key signed it, and the
    leaf's own key is fingerprinted when the CA is not in the file.
    """
    from cryptography import x509
    from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm

    certs = {}
    for m in _DER_CERT.finditer(data):
        der = data[m.start() : m.start() + 4 + int.from_bytes(data[m.start() + 2 : m.start() + 4], "big")]
        try:
            certs.setdefault(hashlib.sha256(der).digest(), x509.load_der_x509_certificate(der))
        except ValueError:
            continue
    leaves = [c for c in certs.values() if serial is not None and str(c.serial_number) == str(serial)]
    if len(leaves) != 1:
        return None
    (leaf,) = leaves
    for ca in certs.values():
        if ca is not leaf and ca.subject == leaf.issuer:
            try:
                leaf.verify_directly_issued_by(ca)
            except (InvalidSignature, UnsupportedAlgorithm, ValueError, TypeError):
                continue
            return fingerprint(ca)
    return fingerprint(leaf)
