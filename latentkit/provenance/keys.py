"""The signing identity: a certificate chain and private key that C2PA signatures are made with.

`latentkit keys init` makes a local one: an ES256 (ECDSA P-256) certificate authority and a leaf
certificate it issues, with the digitalSignature key usage and the emailProtection extended key
usage C2PA accepts. C2PA rejects a self-signed leaf, hence the pair. Files live in

    $LATENTKIT_HOME/keys/                  if LATENTKIT_HOME is set, else
    $XDG_CONFIG_HOME/latentkit/keys/       if XDG_CONFIG_HOME is set, else
    ~/.config/latentkit/keys/

as ca.pem (share it: verifiers pass it to `latentkit verify --trust`), ca-key.pem, signer-chain.pem
(leaf then CA) and signer-key.pem; private keys are written with mode 0600, the folder 0700.
Users with their own certificate give `--sign-cert CHAIN.pem --sign-key KEY.pem` instead.
"""

from __future__ import annotations

import datetime
import os
import sys
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from latentkit.errors import LatentkitError
from latentkit.io import atomic_write, read_bytes

CA_CERT, CA_KEY = "ca.pem", "ca-key.pem"
CHAIN, KEY = "signer-chain.pem", "signer-key.pem"
VALID_DAYS = 3650


@dataclass(frozen=True)
class SigningIdentity:
    """A PEM certificate chain (leaf first) and its PEM private key, with the C2PA algorithm name."""

    chain_pem: bytes
    key_pem: bytes
    alg: str
    subject: str
    source: str

    @classmethod
    def from_files(cls, cert: str | os.PathLike, key: str | os.PathLike) -> SigningIdentity:
        """Load a user's chain and key; checks that the key belongs to the leaf certificate."""
        chain_pem, key_pem = read_bytes(Path(cert)), read_bytes(Path(key))
        try:
            certs = x509.load_pem_x509_certificates(chain_pem)
        except ValueError:
            raise LatentkitError(f"{cert}: not a PEM certificate chain") from None
        try:
            private = serialization.load_pem_private_key(key_pem, password=None)
        except (ValueError, TypeError) as e:
            raise LatentkitError(f"{key}: not an unencrypted PEM private key ({e})") from None
        if _public_bytes(private.public_key()) != _public_bytes(certs[0].public_key()):
            raise LatentkitError(f"{key}: does not match the first certificate in {cert}")
        if len(certs) < 2:
            raise LatentkitError(f"{cert}: C2PA needs the leaf and its issuing CA, found one certificate")
        return cls(chain_pem, key_pem, _algorithm(private, key), _common_name(certs[0]), str(cert))


def keys_dir() -> Path:
    """The folder of the local signing identity (see the module docstring)."""
    if os.environ.get("LATENTKIT_HOME"):
        return Path(os.environ["LATENTKIT_HOME"]).expanduser() / "keys"
    base = os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config"
    return Path(base).expanduser() / "latentkit" / "keys"


def init_keys(folder: str | os.PathLike | None = None, force: bool = False, name: str = "latentkit") -> Path:
    """Create a CA and a leaf signing certificate in `folder` (default `keys_dir()`); return the folder.

    Refuses to replace an existing identity unless `force`: images signed with the old key would
    no longer chain to the new ca.pem.
    """
    folder = Path(folder) if folder is not None else keys_dir()
    if (folder / KEY).exists() and not force:
        raise LatentkitError(f"{folder}: a signing identity already exists (use --force to replace it)")
    now = datetime.datetime.now(datetime.UTC)
    ca_key, leaf_key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_name = _name(f"{name} local CA")
    ca = (
        _cert_builder(ca_name, ca_name, ca_key.public_key(), now)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(cert_sign=True), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    leaf = (
        _cert_builder(_name(f"{name} signer"), ca_name, leaf_key.public_key(), now)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(cert_sign=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    folder.mkdir(parents=True, exist_ok=True)
    os.chmod(folder, 0o700)
    pem = serialization.Encoding.PEM
    _write(folder / CA_KEY, _private_pem(ca_key), 0o600)
    _write(folder / KEY, _private_pem(leaf_key), 0o600)
    _write(folder / CHAIN, leaf.public_bytes(pem) + ca.public_bytes(pem), 0o644)
    _write(folder / CA_CERT, ca.public_bytes(pem), 0o644)
    return folder


def load_identity(
    cert: str | os.PathLike | None = None, key: str | os.PathLike | None = None, create: bool = True
) -> SigningIdentity:
    """The user's chain+key when both are given, else the local identity (created on first use)."""
    if (cert is None) != (key is None):
        raise LatentkitError("give both --sign-cert and --sign-key, or neither")
    if cert is not None and key is not None:
        return SigningIdentity.from_files(cert, key)
    folder = keys_dir()
    if not (folder / KEY).is_file() or not (folder / CHAIN).is_file():
        if not create:
            raise LatentkitError(f"{folder}: no signing identity (run `latentkit keys init`)")
        init_keys(folder)
        print(
            f"latentkit: created a local signing identity in {folder} (share ca.pem for --trust)",
            file=sys.stderr,
        )
    return SigningIdentity.from_files(folder / CHAIN, folder / KEY)


def _cert_builder(subject: x509.Name, issuer: x509.Name, public_key, now: datetime.datetime):
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))  # tolerate small clock skew
        .not_valid_after(now + datetime.timedelta(days=VALID_DAYS))
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
    )


def _key_usage(cert_sign: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=not cert_sign,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=cert_sign,
        crl_sign=cert_sign,
        encipher_only=False,
        decipher_only=False,
    )


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "latentkit local identity"),
        ]
    )


def _common_name(cert: x509.Certificate) -> str:
    names = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(names[0].value) if names else cert.subject.rfc4514_string()


def _algorithm(private_key, path: str | os.PathLike) -> str:
    """The C2PA signing algorithm for a key type."""
    if isinstance(private_key, ec.EllipticCurvePrivateKey):
        algs = {"secp256r1": "es256", "secp384r1": "es384", "secp521r1": "es512"}
        if private_key.curve.name in algs:
            return algs[private_key.curve.name]
    if isinstance(private_key, ed25519.Ed25519PrivateKey):
        return "ed25519"
    if isinstance(private_key, rsa.RSAPrivateKey):
        return "ps256"
    raise LatentkitError(f"{path}: key type not supported by C2PA (use EC P-256/384/521, Ed25519 or RSA)")


def _public_bytes(public_key) -> bytes:
    return public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def _private_pem(key) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _write(path: Path, data: bytes, mode: int) -> None:
    with atomic_write(path, permissions=mode) as f:
        f.write(data)
