"""Provenance: every export carries a manifest, a C2PA signature and a watermark, and verify checks them."""

import io
import json
import re
import stat
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import run_cli
from cryptography import x509
from PIL import Image, PngImagePlugin

import latentkit
import latentkit.provenance
import latentkit.provenance.export as export_module
from latentkit.errors import LatentkitError
from latentkit.latent import sample_latent
from latentkit.models import DCGANConfig, build_generator, load_bundle, save_bundle
from latentkit.provenance import export_image, init_keys, reproduce_image, verify_image
from latentkit.provenance.keys import SigningIdentity, fingerprint, keys_dir
from latentkit.provenance.manifest import TRAINED_ALGORITHMIC_MEDIA, decode_latent, read_xmp
from latentkit.provenance.verify import format_report

FORMATS = {"png": ".png", "jpeg": ".jpg", "webp": ".webp"}


pytestmark = pytest.mark.usefixtures("home")  # one signing identity per module (conftest)


def _bundle(path: Path, seed: int) -> Path:
    torch.manual_seed(seed)
    cfg = DCGANConfig(resolution=32, ngf=8, latent_dim=16)
    return save_bundle(path, build_generator(cfg), cfg, name=f"tiny{seed}")


@pytest.fixture(scope="module")
def bundle_dir(tmp_path_factory):
    return _bundle(tmp_path_factory.mktemp("bundle") / "tiny", seed=0)


@pytest.fixture(scope="module")
def exports(home, bundle_dir, tmp_path_factory):
    """One export per format of seed 3 with an edit record, made once: format -> ExportResult.

    The export id is fixed so the attack tests below are deterministic (a random id would make
    them a fresh 99.5% trial on every run)."""
    bundle = load_bundle(bundle_dir)
    out = tmp_path_factory.mktemp("exports")
    edits = [{"direction": "smile", "strength": 1.5, "mode": "relative", "conditioned_on": ["age"]}]
    return {
        fmt: export_image(
            bundle, sample_latent(3, 16), out, f"face{suffix}", seed=3, edits=edits, export_id="5ca1ab1e"
        )
        for fmt, suffix in FORMATS.items()
    }


# --- PNG surgery for tamper tests -------------------------------------------------------------------


def png_chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    chunks, pos = [], 8
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        chunks.append((data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]))
        pos += 12 + length
    return chunks


def build_png(chunks: list[tuple[bytes, bytes]]) -> bytes:
    out = b"\x89PNG\r\n\x1a\n"
    for kind, body in chunks:
        out += struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
    return out


def with_pixels(data: bytes, pixels: np.ndarray) -> bytes:
    """The same PNG (every other chunk kept byte for byte) with new RGB pixels in its IDAT."""
    raw = b"".join(b"\x00" + row.tobytes() for row in pixels)
    chunks, done = [], False
    for kind, body in png_chunks(data):
        if kind == b"IDAT":
            if not done:
                chunks.append((b"IDAT", zlib.compress(raw)))
                done = True
            continue
        chunks.append((kind, body))
    return build_png(chunks)


def decoded(path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"))


# --- round trips --------------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", list(FORMATS))
def test_export_then_verify_round_trip(exports, bundle_dir, fmt):
    result = exports[fmt]
    report = verify_image(result.path)
    assert report.verified, report.problems()
    assert report.c2pa.state == "trusted" and report.c2pa.failures == []
    assert report.trust_source == "the local identity"
    assert report.pixels == "match" and report.embedded_matches_signed is True
    assert report.manifest == result.manifest
    assert report.watermark.found and report.watermark.export_id == result.export_id
    assert report.digital_source_type == TRAINED_ALGORITHMIC_MEDIA
    m, bundle = result.manifest, load_bundle(bundle_dir)
    assert m["model"]["weights_sha256"] == bundle.weights_sha256
    assert m["model"]["config_sha256"] == bundle.config_sha256
    assert np.array_equal(decode_latent(m["latent"]), sample_latent(3, 16))
    assert m["latent"]["seed"] == 3 and m["edits"][0]["direction"] == "smile"
    assert m["output"] == {**m["output"], "width": 256, "height": 256, "format": fmt}
    assert m["created"].endswith("Z")
    img = Image.open(result.path)
    assert img.size == (256, 256) and img.format.lower() == fmt


def test_png_carries_manifest_chunk_and_xmp_with_iptc_source_type(exports):
    img = Image.open(exports["png"].path)
    img.load()
    assert json.loads(img.info["latentkit"]) == exports["png"].manifest
    xmp = read_xmp(img.info["XML:com.adobe.xmp"])
    assert xmp["digital_source_type"] == TRAINED_ALGORITHMIC_MEDIA
    assert json.loads(xmp["manifest"]) == exports["png"].manifest
    assert "Iptc4xmpExt:DigitalSourceType" in img.info["XML:com.adobe.xmp"]


def test_signature_is_trusted_only_with_the_signing_ca(exports, home, tmp_path, monkeypatch):
    path = exports["png"].path
    assert verify_image(path, trust=home / "keys" / "ca.pem").c2pa.state == "trusted"
    other = init_keys(tmp_path / "other")
    report = verify_image(path, trust=other / "ca.pem")
    assert report.c2pa.state == "valid" and not report.verified
    ca = x509.load_pem_x509_certificate((home / "keys" / "ca.pem").read_bytes())
    assert report.c2pa.signer_fingerprint == fingerprint(ca)
    assert (
        f"signature valid, signer not trusted (SHA-256 fingerprint {fingerprint(ca)}" in report.problems()[0]
    )
    monkeypatch.setenv("LATENTKIT_HOME", str(tmp_path / "elsewhere"))  # a machine with no identity
    assert verify_image(path).c2pa.state == "valid" and not verify_image(path).verified


def test_verify_trusts_only_the_local_identity_by_default(exports, bundle_dir, home, tmp_path, monkeypatch):
    mine = verify_image(exports["png"].path)
    assert mine.verified and mine.c2pa.state == "trusted" and mine.trust_source == "the local identity"
    # An attacker's own `latentkit keys init` on another machine: a valid signature, not trusted here.
    monkeypatch.setenv("LATENTKIT_HOME", str(tmp_path / "attacker"))
    forged = export_image(load_bundle(bundle_dir), sample_latent(3, 16), tmp_path, "forged.png", seed=3)
    monkeypatch.setenv("LATENTKIT_HOME", str(home))
    report = verify_image(forged.path)
    attacker_ca = x509.load_pem_x509_certificate((tmp_path / "attacker" / "keys" / "ca.pem").read_bytes())
    assert report.c2pa.state == "valid" and report.pixels == "match" and not report.verified
    assert report.c2pa.signer_fingerprint == fingerprint(attacker_ca)
    text = format_report(report)
    assert "signer not trusted (SHA-256 fingerprint " + fingerprint(attacker_ca) in text
    assert "verified   no" in text and "verified   yes" not in text
    assert verify_image(forged.path, trust=tmp_path / "attacker" / "keys" / "ca.pem").verified


def test_verify_never_counts_an_unsigned_manifest_beside_an_unrelated_signature(exports, tmp_path):
    """A file whose valid C2PA signature carries no latentkit manifest, with a latentkit manifest in
    an unsigned iTXt chunk, is not verified: the manifest checked must be the signed one."""
    import c2pa

    from latentkit.provenance.c2pa_sign import OFFLINE
    from latentkit.provenance.keys import load_identity

    info = PngImagePlugin.PngInfo()
    info.add_itxt("latentkit", json.dumps(exports["png"].manifest))
    buf = io.BytesIO()
    Image.open(exports["png"].path).convert("RGB").save(buf, "PNG", pnginfo=info)
    identity = load_identity()
    created = {"action": "c2pa.created", "digitalSourceType": TRAINED_ALGORITHMIC_MEDIA}
    definition = {
        "claim_generator_info": [{"name": "other", "version": "1"}],
        "title": "x",
        "format": "image/png",
        "assertions": [{"label": "c2pa.actions", "data": {"actions": [created]}}],
    }
    settings = {
        "builder": {"thumbnail": {"enabled": False}},
        "verify": {**OFFLINE, "verify_after_sign": False},
    }
    out = io.BytesIO()
    signer_info = c2pa.C2paSignerInfo(identity.alg, identity.chain_pem, identity.key_pem, None)
    with (
        c2pa.Signer.from_info(signer_info) as signer,
        c2pa.Context.from_dict(settings) as context,
        c2pa.Builder(definition, context=context) as builder,
    ):
        builder.sign(signer, "image/png", io.BytesIO(buf.getvalue()), out)
    path = tmp_path / "unrelated.png"
    path.write_bytes(out.getvalue())
    report = verify_image(path)
    assert report.c2pa.state == "trusted" and report.c2pa.manifest is None, report.c2pa
    assert report.manifest_source == "png-itxt" and report.pixels == "match"
    assert not report.verified
    assert "the latentkit manifest is not inside the signature (an unsigned copy)" in report.problems()


@pytest.mark.parametrize(
    "content, message",
    [
        (
            b"-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydA==\n-----END CERTIFICATE-----\n",
            "not a PEM certificate",
        ),
        (b"just text\n", "not a PEM certificate"),
        (b"\xff\xfe", "not a PEM certificate"),
    ],
)
def test_verify_refuses_a_malformed_trust_file_in_one_line(exports, tmp_path, content, message):
    bad = tmp_path / "ca.pem"
    bad.write_bytes(content)
    with pytest.raises(LatentkitError, match=f"--trust {re.escape(str(bad))}: {message}"):
        verify_image(exports["png"].path, trust=bad)


def test_verify_trust_dev_zero_stops_at_the_size_limit(exports, cli):
    r = cli("verify", exports["png"].path, "--trust", "/dev/zero", timeout=60)
    assert r.returncode == 2 and r.stdout == ""
    assert r.stderr.splitlines() == [r.stderr.strip()] and "/dev/zero" in r.stderr and "limit" in r.stderr


def test_export_with_users_own_chain_and_key(bundle_dir, tmp_path):
    folder = init_keys(tmp_path / "mine", name="Alice")
    identity = SigningIdentity.from_files(folder / "signer-chain.pem", folder / "signer-key.pem")
    result = export_image(load_bundle(bundle_dir), sample_latent(1, 16), tmp_path, "a.png", identity=identity)
    report = verify_image(result.path, trust=folder / "ca.pem")
    assert report.verified and re.fullmatch(r"Alice signer [0-9a-f]{8}", report.c2pa.signer)
    with pytest.raises(LatentkitError, match="does not match"):
        SigningIdentity.from_files(folder / "signer-chain.pem", folder / "ca-key.pem")


# --- tampering ------------------------------------------------------------------------------------------


def test_one_changed_pixel_fails_pixel_hash_and_c2pa(exports, tmp_path):
    original = exports["png"].path.read_bytes()
    pixels = decoded(exports["png"].path).copy()
    pixels[100, 120, 1] ^= 1
    path = tmp_path / "tampered.png"
    path.write_bytes(with_pixels(original, pixels))
    report = verify_image(path)
    assert report.pixels == "mismatch"
    assert report.c2pa.state == "invalid" and report.c2pa.failures
    assert not report.verified
    assert report.problems()[:2] == ["C2PA signature invalid", "pixels differ from the recorded hash"]


def test_edited_manifest_text_invalidates_signature(exports, tmp_path):
    chunks = png_chunks(exports["png"].path.read_bytes())
    edited = []
    for kind, body in chunks:
        if kind == b"iTXt" and body.startswith(b"latentkit\x00"):
            assert b'"seed":3' in body
            body = body.replace(b'"seed":3', b'"seed":4')
        edited.append((kind, body))
    path = tmp_path / "edited.png"
    path.write_bytes(build_png(edited))
    report = verify_image(path)
    assert report.c2pa.state == "invalid"
    assert report.embedded_matches_signed is False
    assert report.manifest["latent"]["seed"] == 3  # the signed copy is the one reported
    assert not report.verified


def test_stripped_metadata_keeps_the_watermark(exports, tmp_path):
    path = tmp_path / "stripped.png"
    Image.fromarray(decoded(exports["png"].path)).save(path)  # pixels only, no chunks
    report = verify_image(path)
    assert report.manifest is None and report.c2pa.state == "absent"
    assert report.watermark.found and report.watermark.export_id == exports["png"].export_id
    assert report.problems() == ["no latentkit manifest", "no C2PA signature"]


@pytest.mark.parametrize("attack", ["jpeg75", "resize50", "crop10"])
def test_watermark_survives_jpeg_q75_resize_and_crop(exports, tmp_path, attack):
    img = Image.fromarray(decoded(exports["png"].path))
    path = tmp_path / f"{attack}.jpg"
    if attack == "jpeg75":
        img.save(path, quality=75)
    elif attack == "resize50":
        img.resize((128, 128), Image.BICUBIC).save(path, quality=90)
    else:
        img.crop((13, 13, 243, 243)).save(path, quality=90)  # 10% off each side length, no rescale
    report = verify_image(path)
    assert report.watermark.found and report.watermark.export_id == exports["png"].export_id
    # /2 (8-hex ids since issue 21): found means BCH-decoded; keep a margin below its 8-flip limit.
    # Its confidence is mean |correlation| / noise RMS (0.8 unmarked), /1's scale was higher.
    assert report.watermark.scheme == "latentkit-iss/2" and report.watermark.bits_corrected <= 4
    assert report.watermark.confidence > 1.5  # an unmarked image reads ~0.8


def test_foreign_image_reports_what_is_missing(tmp_path, cli):
    path = tmp_path / "photo.png"
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, (200, 300, 3), dtype=np.uint8)).save(path)
    r = cli("verify", path)
    assert r.returncode == 1, r.stderr
    assert "manifest   absent" in r.stdout and "C2PA absent" in r.stdout
    assert "watermark  not found" in r.stdout
    assert "verified   no: no latentkit manifest; no C2PA signature" in r.stdout


# --- CLI ----------------------------------------------------------------------------------------------


def test_cli_verify_exit_codes_and_json(exports, home, cli, tmp_path):
    ok = cli("verify", exports["webp"].path, "--trust", home / "keys" / "ca.pem")
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "C2PA trusted" in ok.stdout and "verified   yes" in ok.stdout
    js = cli("verify", exports["jpeg"].path, "--json")
    report = json.loads(js.stdout)
    assert js.returncode == 0 and report["verified"] is True
    assert report["watermark"] == {**report["watermark"], "found": True, "matches_manifest": True}
    assert report["manifest"]["watermark"]["export_id"] == exports["jpeg"].export_id


@pytest.fixture(scope="module")
def cli_outputs(exports, bundle_dir, tmp_path_factory):
    """`latentkit generate` (seeds 1 and 3, JPEG) and `latentkit reproduce` (of the PNG), run once."""
    out = tmp_path_factory.mktemp("cli")
    gen = run_cli("generate", "--model", bundle_dir, "--seeds", "1,3", "--format", "jpeg", "--out", out / "g")
    rep = run_cli("reproduce", exports["png"].path, "--model", bundle_dir, "--out", out / "copy.png")
    return {"folder": out, "generate": gen, "reproduce": rep}


def test_generate_writes_signed_watermarked_seeds(cli_outputs):
    assert cli_outputs["generate"].returncode == 0, cli_outputs["generate"].stderr
    folder = cli_outputs["folder"] / "g"
    assert sorted(p.name for p in folder.iterdir()) == ["seed0001.jpg", "seed0003.jpg"]
    report = verify_image(folder / "seed0003.jpg")
    assert report.verified and report.watermark.found
    assert report.manifest["latent"]["seed"] == 3
    assert np.array_equal(decode_latent(report.manifest["latent"]), sample_latent(3, 16))


def test_reproduce_gives_identical_pixels(exports, cli_outputs):
    r, copy_path = cli_outputs["reproduce"], cli_outputs["folder"] / "copy.png"
    assert r.returncode == 0, r.stdout + r.stderr
    assert "pixels identical" in r.stdout
    assert np.array_equal(decoded(copy_path), decoded(exports["png"].path))
    copy = verify_image(copy_path)
    assert copy.verified and copy.watermark.export_id == exports["png"].export_id
    assert copy.manifest["latent"] == exports["png"].manifest["latent"]


def test_reproduce_checks_model_hash_and_format(exports, tmp_path):
    other = _bundle(tmp_path / "other", seed=1)
    with pytest.raises(LatentkitError, match="weights differ"):
        reproduce_image(exports["png"].path, tmp_path / "copy.png", model=other)
    with pytest.raises(LatentkitError, match=r"the original is JPEG; give a \.jpg or \.jpeg name"):
        reproduce_image(exports["jpeg"].path, tmp_path / "copy.png", model=other)


def test_keys_init_writes_private_keys_0600(cli, tmp_path, monkeypatch):
    env_home = tmp_path / "lk"
    monkeypatch.setenv("LATENTKIT_HOME", str(env_home))
    r = cli("keys", "init")
    assert r.returncode == 0, r.stderr
    folder = env_home / "keys"
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    for name in ("ca-key.pem", "signer-key.pem"):
        assert stat.S_IMODE((folder / name).stat().st_mode) == 0o600
    assert (folder / "ca.pem").read_bytes().startswith(b"-----BEGIN CERTIFICATE-----")
    again = cli("keys", "init")
    assert again.returncode == 2 and "already exists" in again.stderr
    assert cli("keys", "init", "--force").returncode == 0


def test_keys_dir_honours_latentkit_home_then_xdg(monkeypatch, tmp_path):
    monkeypatch.setenv("LATENTKIT_HOME", str(tmp_path / "a"))
    assert keys_dir() == tmp_path / "a" / "keys"
    monkeypatch.delenv("LATENTKIT_HOME")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "x"))
    assert keys_dir() == tmp_path / "x" / "latentkit" / "keys"


# --- one export path ----------------------------------------------------------------------------------


def test_every_public_export_entry_point_stamps_manifest_signature_watermark(exports, cli_outputs):
    assert latentkit.provenance.export_image is export_module.export_image
    folder = cli_outputs["folder"]
    outputs = [
        *(r.path for r in exports.values()),  # the Python API, every format
        folder / "g" / "seed0001.jpg",  # latentkit generate
        folder / "copy.png",  # latentkit reproduce
    ]
    for path in outputs:
        report = verify_image(path)
        assert report.manifest is not None and report.manifest_source == "c2pa", path
        assert report.c2pa.state == "trusted" and report.pixels == "match", path
        assert report.watermark.found and report.watermark_matches_manifest, path


def test_no_other_module_writes_images():
    """Only the provenance encoders (image, animation) and the diagnostic figures (viz) call Pillow's save."""
    root = Path(latentkit.__file__).parent
    allowed = {root / "provenance" / "imagefile.py", root / "provenance" / "animfile.py", root / "viz.py"}
    apps = root.parent / "apps"
    sources = [*root.rglob("*.py"), *(apps.rglob("*.py") if apps.is_dir() else [])]
    offenders = [
        f"{p}:{n}"
        for p in sources
        if p not in allowed
        for n, line in enumerate(p.read_text().splitlines(), 1)
        if re.search(r"\.save\(|imwrite|save_image", line) and "safetensors" not in line
    ]
    assert offenders == []


# --- export safety ------------------------------------------------------------------------------------


def test_export_refuses_overwrite_and_names_that_escape(bundle_dir, tmp_path):
    bundle, z = load_bundle(bundle_dir), sample_latent(0, 16)
    first = export_image(bundle, z, tmp_path, "a.png")
    with pytest.raises(LatentkitError, match="already exists"):
        export_image(bundle, z, tmp_path, "a.png")
    assert export_image(bundle, z, tmp_path, "a.png", overwrite=True).export_id != first.export_id
    for name in ("../escape.png", "/tmp/abs.png", "sub/a.png", "..", "", "a.gif", "a.png\0"):
        with pytest.raises(LatentkitError):
            export_image(bundle, z, tmp_path / "out", name)
    assert not (tmp_path / "escape.png").exists() and not (tmp_path / "out").exists()
    with pytest.raises(LatentkitError, match="does not match format"):
        export_image(bundle, z, tmp_path, "b.png", format="jpeg")
    with pytest.raises(LatentkitError, match="shape"):
        export_image(bundle, np.zeros(15, np.float32), tmp_path, "c.png")


def test_failed_export_leaves_no_file_and_keeps_the_old_one(bundle_dir, tmp_path, monkeypatch):
    bundle, z = load_bundle(bundle_dir), sample_latent(0, 16)
    export_image(bundle, z, tmp_path, "keep.png")
    before = (tmp_path / "keep.png").read_bytes()

    def fail(*args, **kwargs):
        raise RuntimeError("signer unavailable")

    monkeypatch.setattr(export_module, "sign_c2pa", fail)
    for name, overwrite in (("new.png", False), ("keep.png", True)):
        with pytest.raises(RuntimeError):
            export_image(bundle, z, tmp_path, name, overwrite=overwrite)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.png"]
    assert (tmp_path / "keep.png").read_bytes() == before


# --- bad input ------------------------------------------------------------------------------------------


def _png_header_only(width: int, height: int) -> bytes:
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return build_png([(b"IHDR", ihdr), (b"IDAT", zlib.compress(b"\x00" * 16)), (b"IEND", b"")])


def _unknown_schema_png(exports) -> bytes:
    manifest = {**exports["png"].manifest, "schema_version": 99}
    info = PngImagePlugin.PngInfo()
    info.add_itxt("latentkit", json.dumps(manifest))
    buf = io.BytesIO()
    Image.fromarray(decoded(exports["png"].path)).save(buf, "PNG", pnginfo=info)
    return buf.getvalue()


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("text", "not an image file"),
        ("truncated", "truncated or corrupt image"),
        ("huge", "decompression-bomb guard"),
        ("schema", "manifest schema version 99 is not supported"),
        ("missing", "file not found"),
    ],
)
def test_bad_input_is_one_clear_line(exports, cli, tmp_path, case, message):
    path = tmp_path / "bad.png"
    if case == "text":
        path.write_text("hello, not a picture\n")
    elif case == "truncated":
        data = exports["png"].path.read_bytes()
        path.write_bytes(data[: len(data) // 2])
    elif case == "huge":
        path.write_bytes(_png_header_only(9000, 9000))
    elif case == "schema":
        path.write_bytes(_unknown_schema_png(exports))
    r = cli("verify", path)
    assert r.returncode == 2
    assert r.stdout == "" and "Traceback" not in r.stderr
    assert r.stderr.count("\n") == 1 and message in r.stderr and str(path) in r.stderr


def test_long_floats_in_records_still_verify(bundle_dir, tmp_path):
    """The signed copy is exact text: c2pa renders float lists and some 17-digit floats differently."""
    bundle = load_bundle(bundle_dir)
    edits = [{"direction": "smile", "strength": k / 3, "mode": "relative"} for k in (1, 2)]
    interpolation = {"method": "slerp", "t": [k / 29 for k in range(29)]}
    result = export_image(bundle, sample_latent(5, 16), tmp_path, "long.png", edits=edits,
                          interpolation=interpolation)  # fmt: skip
    report = verify_image(result.path)
    assert report.verified and report.embedded_matches_signed, report.problems()
    assert report.manifest["interpolation"]["t"] == interpolation["t"] and report.manifest["edits"] == edits


def _unsigned_copy(source: Path, path: Path, manifest: dict) -> Path:
    """`source`'s pixels in a plain PNG whose only manifest is an unsigned iTXt chunk holding `manifest`."""
    info = PngImagePlugin.PngInfo()
    info.add_itxt("latentkit", json.dumps(manifest))
    Image.fromarray(decoded(source)).save(path, pnginfo=info)
    return path


def test_reproduce_does_not_sign_the_claims_of_an_unverified_original(exports, bundle_dir, tmp_path, cli):
    forged = {
        **exports["png"].manifest,
        "edits": [{"direction": "smile", "strength": 9.0, "mode": "relative"}],
        "projection": {"input_sha256": "ab" * 32, "note": "a photo of the victim"},
    }
    bait = _unsigned_copy(exports["png"].path, tmp_path / "bait.png", forged)
    r = cli("reproduce", bait, "--model", bundle_dir, "--out", tmp_path / "copy.png")
    assert r.returncode == 0 and "pixels identical" in r.stdout, r.stdout + r.stderr
    assert "edits, projection record(s) are not carried into the signed copy" in r.stdout
    copy = verify_image(tmp_path / "copy.png")
    assert copy.verified and copy.manifest["edits"] is None and copy.manifest["projection"] is None
    assert copy.manifest["latent"] == forged["latent"]
    # A verified original keeps its records in the copy.
    same = reproduce_image(exports["png"].path, tmp_path / "same.png", model=bundle_dir)
    assert same.identical and same.original_verified
    assert verify_image(same.path).manifest["edits"] == exports["png"].manifest["edits"]


def test_reproduce_of_an_unverified_file_that_differs_blames_its_record(exports, bundle_dir, tmp_path, cli):
    other_latent = latentkit.provenance.manifest.encode_latent(sample_latent(4, 16))
    bait = _unsigned_copy(
        exports["png"].path, tmp_path / "bait.png", {**exports["png"].manifest, "latent": other_latent}
    )
    r = cli("reproduce", bait, "--model", bundle_dir, "--out", tmp_path / "copy.png")
    assert r.returncode == 1, r.stdout + r.stderr
    assert "pixels DIFFER" in r.stdout and "the file's record does not match its pixels" in r.stdout
    assert "another torch or CPU" not in r.stdout


def test_export_without_overwrite_never_replaces_a_file_written_meanwhile(bundle_dir, tmp_path, monkeypatch):
    target = tmp_path / "seed0001.png"
    sign = export_module.sign_c2pa

    def another_run_writes_first(*args, **kwargs):
        target.write_bytes(b"the other run's image")  # after the exists check, before our write
        return sign(*args, **kwargs)

    monkeypatch.setattr(export_module, "sign_c2pa", another_run_writes_first)
    with pytest.raises(LatentkitError, match=r"seed0001\.png: already exists"):
        export_image(load_bundle(bundle_dir), sample_latent(1, 16), tmp_path, "seed0001.png", seed=1)
    assert target.read_bytes() == b"the other run's image"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["seed0001.png"]  # no temp file left


def test_a_write_sweeps_stale_temp_files_a_killed_run_left(bundle_dir, tmp_path):
    import os

    stale, fresh, foreign = (
        tmp_path / ".a.png.k3j_x9q2.tmp",
        tmp_path / ".b.png.abcdefgh.tmp",
        tmp_path / "x.tmp",
    )
    for p in (stale, fresh, foreign):
        p.write_bytes(b"half an image")
    os.utime(stale, (1_000_000_000, 1_000_000_000))
    os.utime(foreign, (1_000_000_000, 1_000_000_000))
    export_image(load_bundle(bundle_dir), sample_latent(1, 16), tmp_path, "c.png", seed=1)
    assert not stale.exists() and fresh.exists() and foreign.exists()  # only ours, only old ones
