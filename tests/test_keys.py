"""The signing identity: created once even under a race, never over another tool's files, unique names."""

from __future__ import annotations

import multiprocessing
import stat

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from latentkit.errors import LatentkitError
from latentkit.provenance.keys import CA_CERT, CA_KEY, CHAIN, KEY, init_keys, load_identity


def _first_use(home: str, barrier) -> None:
    import os

    os.environ["LATENTKIT_HOME"] = home
    barrier.wait()
    load_identity()


def _consistent(folder) -> bool:
    """The signer key matches the leaf, and ca.pem issued that leaf."""
    leaf, issuer = x509.load_pem_x509_certificates((folder / CHAIN).read_bytes())
    ca = x509.load_pem_x509_certificate((folder / CA_CERT).read_bytes())
    key = serialization.load_pem_private_key((folder / KEY).read_bytes(), password=None)
    der = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    same_key = key.public_key().public_bytes(*der) == leaf.public_key().public_bytes(*der)
    try:
        leaf.verify_directly_issued_by(ca)
    except (ValueError, TypeError, Exception):
        return False
    return same_key and issuer == ca


@pytest.mark.parametrize("trial", range(3))
def test_six_processes_creating_the_identity_at_once_leave_one_consistent_identity(tmp_path, trial):
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(6)
    procs = [ctx.Process(target=_first_use, args=(str(tmp_path), barrier)) for _ in range(6)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    assert [p.exitcode for p in procs] == [0] * 6
    folder = tmp_path / "keys"
    assert _consistent(folder)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keys"]  # no staging folders left behind


def test_keys_init_refuses_a_folder_holding_another_tools_ca_even_with_force(tmp_path):
    folder = tmp_path / "cfssl"
    folder.mkdir(mode=0o755)
    (folder / "ca.pem").write_bytes(b"their certificate")
    (folder / "ca-key.pem").write_bytes(b"their key")
    for force in (False, True):
        with pytest.raises(LatentkitError, match="not a latentkit identity"):
            init_keys(folder, force=force)
    assert (folder / "ca.pem").read_bytes() == b"their certificate"
    assert (folder / "ca-key.pem").read_bytes() == b"their key"
    assert stat.S_IMODE(folder.stat().st_mode) == 0o755


def test_keys_init_force_replaces_our_own_identity_whole(tmp_path):
    folder = init_keys(tmp_path / "keys")
    before = (folder / CA_KEY).read_bytes()
    with pytest.raises(LatentkitError, match="already exists"):
        init_keys(folder)
    init_keys(folder, force=True)
    assert (folder / CA_KEY).read_bytes() != before and _consistent(folder)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keys"]


def test_a_killed_creation_leaves_no_staging_folder_after_the_next_run(tmp_path):
    (tmp_path / ".keys.new-abc123").mkdir()  # what a kill -9 mid-creation leaves
    init_keys(tmp_path / "keys")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keys"]


def test_every_identity_has_its_own_names(tmp_path):
    a, b = init_keys(tmp_path / "a"), init_keys(tmp_path / "b")
    subjects = [x509.load_pem_x509_certificates((f / CHAIN).read_bytes())[0].subject for f in (a, b)]
    assert subjects[0] != subjects[1]
    assert all("latentkit signer " in s.rfc4514_string() for s in subjects)
