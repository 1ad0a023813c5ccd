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

import contextlib
import datetime
import fcntl
import hashlib
import os
import shutil
import sys
import tempfile
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
IDENTITY_FILES = frozenset({CA_CERT, CA_KEY, CHAIN, KEY})
VALID_DAYS = 3650
MAX_PEM_BYTES = 1 << 20  # a certificate bundle; far more than any chain


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


def fingerprint(cert: x509.Certificate) -> str:
    """SHA-256 (hex) of a certificate's public key (DER SubjectPublicKeyInfo): what `verify` shows for a
    signer it does not trust, and `keys init` for the CA it makes (names carry its first 8 digits)."""
    return hashlib.sha256(_public_bytes(cert.public_key())).hexdigest()


def local_ca_pem() -> str | None:
    """The local identity's CA certificate (PEM text), trusted by `verify` on this machine, or None."""
    path = keys_dir() / CA_CERT
    if not path.is_file():
        return None
    try:
        return read_bytes(path, MAX_PEM_BYTES).decode("utf-8")
    except (LatentkitError, UnicodeDecodeError):
        return None


def keys_dir() -> Path:
    """The folder of the local signing identity (see the module docstring)."""
    if os.environ.get("LATENTKIT_HOME"):
        return Path(os.environ["LATENTKIT_HOME"]).expanduser() / "keys"
    base = os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config"
    return Path(base).expanduser() / "latentkit" / "keys"


def init_keys(folder: str | os.PathLike | None = None, force: bool = False, name: str = "latentkit") -> Path:
    """Create a CA and a leaf signing certificate in `folder` (default `keys_dir()`); return the folder.

    Refuses to replace an existing identity unless `force` (images signed with the old key would no
    longer chain to the new ca.pem), and refuses, even with `force`, a folder holding anything but a
    latentkit identity (another tool's ca.pem, say). The four files are built in a temporary sibling
    folder that is renamed into place under a lock on the parent folder, so processes creating the
    identity at once end with one consistent identity, and a kill leaves either none or a whole one.
    Names carry the CA's fingerprint, so two identities never share a subject.
    """
    folder = Path(folder).expanduser() if folder is not None else keys_dir()
    try:
        folder.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise LatentkitError(f"{folder.parent}: cannot create ({e.strerror or e})") from None
    with _folder_lock(folder.parent):
        _sweep_staged(folder)
        _check_target(folder, force)
        staged = Path(tempfile.mkdtemp(prefix=f".{folder.name}.new-", dir=folder.parent))  # mode 0700
        try:
            _write_identity(staged, name)
            _swap_into_place(staged, folder)
        finally:
            shutil.rmtree(staged, ignore_errors=True)
    return folder


def _check_target(folder: Path, force: bool) -> None:
    """Refuse a `folder` holding foreign files, or our identity without `force`."""
    if not folder.exists():
        return
    if not folder.is_dir():
        raise LatentkitError(f"{folder}: exists and is not a folder")
    entries = {p.name for p in folder.iterdir()}
    if not entries or (entries == IDENTITY_FILES and force):
        return
    if entries == IDENTITY_FILES:
        raise LatentkitError(f"{folder}: a signing identity already exists (use --force to replace it)")
    listed = ", ".join(sorted(entries)[:4]) + (", ..." if len(entries) > 4 else "")
    raise LatentkitError(
        f"{folder}: holds files that are not a latentkit identity ({listed}); choose a new or empty --dir"
    )


def _write_identity(folder: Path, name: str) -> None:
    """The four files of a new identity in `folder` (which exists and is empty)."""
    now = datetime.datetime.now(datetime.UTC)
    ca_key, leaf_key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    fingerprint = hashlib.sha256(_public_bytes(ca_key.public_key())).hexdigest()[:8]
    ca_name = _name(f"{name} local CA {fingerprint}", fingerprint)
    ca = (
        _cert_builder(ca_name, ca_name, ca_key.public_key(), now)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(cert_sign=True), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    leaf = (
        _cert_builder(_name(f"{name} signer {fingerprint}", fingerprint), ca_name, leaf_key.public_key(), now)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(cert_sign=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    _write(folder / CA_KEY, _private_pem(ca_key), 0o600)
    _write(folder / KEY, _private_pem(leaf_key), 0o600)
    _write(folder / CHAIN, leaf.public_bytes(pem) + ca.public_bytes(pem), 0o644)
    _write(folder / CA_CERT, ca.public_bytes(pem), 0o644)


def _swap_into_place(staged: Path, folder: Path) -> None:
    """Rename `staged` to `folder`; an existing (empty, or ours with force) folder is replaced whole."""
    old = None
    if folder.exists():
        old = folder.with_name(f".{folder.name}.old-{os.getpid()}")
        os.rename(folder, old)
    try:
        os.rename(staged, folder)
    except OSError:
        if old is not None:
            os.rename(old, folder)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def _sweep_staged(folder: Path) -> None:
    """Remove folders left by a creation that was killed (we hold the lock, so none is in use)."""
    for stale in folder.parent.glob(f".{folder.name}.new-*"):
        shutil.rmtree(stale, ignore_errors=True)


@contextlib.contextmanager
def _folder_lock(folder: Path):
    """An exclusive advisory lock (flock) on `folder` itself, held for the block."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


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
        _create_on_first_use(folder)
    return SigningIdentity.from_files(folder / CHAIN, folder / KEY)


def _create_on_first_use(folder: Path) -> None:
    """Make the local identity unless another process made it meanwhile (then use theirs)."""
    try:
        init_keys(folder)
    except LatentkitError:
        if (folder / KEY).is_file() and (folder / CHAIN).is_file():
            return  # another process won the race: its identity is complete
        raise
    print(
        f"latentkit: created a local signing identity in {folder} (share ca.pem for --trust)",
        file=sys.stderr,
    )


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


def _name(common_name: str, fingerprint: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, f"latentkit local identity {fingerprint}"),
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
