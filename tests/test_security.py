"""Security properties in one place: no pickle anywhere, a local-only editor, capped uploads, export names
that cannot escape their folder, and private keys only their owner can read."""

from __future__ import annotations

import ast
import inspect
import json
import os
import stat
import struct
import subprocess
import sys
from pathlib import Path

import gradio as gr
import numpy as np
import pytest
import torch
from PIL import Image, PngImagePlugin

import latentkit
from latentkit.app import editor as editor_module
from latentkit.app.verify_tab import MAX_IMAGE_BYTES
from latentkit.app.widgets import MAX_UPLOAD_BYTES
from latentkit.cli import build_parser, main
from latentkit.errors import LatentkitError
from latentkit.images import PixelBudget
from latentkit.latent.sampling import sample_latent
from latentkit.models import DCGANConfig, build_generator, load_bundle, save_bundle
from latentkit.provenance import export_image

ROOT = Path(latentkit.__file__).resolve().parent
SOURCES = sorted([*ROOT.rglob("*.py"), *(ROOT.parent / "apps").rglob("*.py")])
UNSAFE_CALLS = {"yaml.load", "yaml.unsafe_load", "yaml.full_load", "yaml.load_all", "pd.read_pickle"}
PICKLE_MODULES = {"pickle", "cPickle", "_pickle", "dill", "joblib", "shelve", "cloudpickle"}


# --- (1) no unsafe deserialisation in the code base ---------------------------------------------------


def _keyword(call: ast.Call, name: str) -> object:
    for kw in call.keywords:
        if kw.arg == name and isinstance(kw.value, ast.Constant):
            return kw.value.value
    return None


def unsafe_calls(source: str, filename: str = "<string>") -> list[str]:
    """Every import of a pickle-based module and every unsafe loader call in `source`, as 'file:line what'."""
    found = []
    for node in ast.walk(ast.parse(source, filename)):
        if isinstance(node, ast.Import | ast.ImportFrom):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
            found += [
                f"{filename}:{node.lineno} import {n}" for n in names if n.split(".")[0] in PICKLE_MODULES
            ]
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
            continue
        owner = node.func.value.id if isinstance(node.func.value, ast.Name) else ""
        what = f"{owner}.{node.func.attr}"
        if what == "torch.load" and _keyword(node, "weights_only") is not True:
            found.append(f"{filename}:{node.lineno} torch.load without weights_only=True")
        elif what in ("np.load", "numpy.load") and _keyword(node, "allow_pickle") is not False:
            found.append(f"{filename}:{node.lineno} {what} without allow_pickle=False")
        elif what in UNSAFE_CALLS:
            found.append(f"{filename}:{node.lineno} {what}")
    return found


def test_the_scanner_catches_each_unsafe_pattern():
    bad = (
        "import pickle\nimport joblib\nfrom dill import loads\n"
        "torch.load(f)\ntorch.load(f, weights_only=False)\nnp.load(f)\nnp.load(f, allow_pickle=True)\n"
        "yaml.load(s)\n"
    )
    assert len(unsafe_calls(bad)) == 8
    good = "torch.load(f, weights_only=True)\nnp.load(f, allow_pickle=False)\nyaml.safe_load(s)\n"
    assert unsafe_calls(good) == []


def test_no_module_uses_pickle_joblib_or_unsafe_loaders():
    assert len(SOURCES) > 40 and any(p.parent.name == "apps" for p in SOURCES)
    offenders = [hit for path in SOURCES for hit in unsafe_calls(path.read_text(encoding="utf-8"), str(path))]
    assert offenders == []


# --- (2) the editor is local by default ---------------------------------------------------------------


def test_editor_command_binds_localhost_without_a_share_link_by_default():
    args = build_parser().parse_args(["editor"])
    assert args.host == "127.0.0.1" and args.share is False
    params = inspect.signature(editor_module.launch).parameters
    assert params["host"].default == "127.0.0.1" and params["share"].default is False


@pytest.fixture(scope="module")
def bundle_dir(tmp_path_factory):
    torch.manual_seed(0)
    cfg = DCGANConfig(resolution=32, ngf=8, latent_dim=16)
    return save_bundle(tmp_path_factory.mktemp("sec") / "tiny", build_generator(cfg), cfg, name="tiny")


@pytest.fixture(scope="module")
def app(bundle_dir, home, tmp_path_factory):
    """The built (not served) editor for the tiny bundle; its uploads and exports stay in a temp folder."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("GRADIO_TEMP_DIR", str(tmp_path_factory.mktemp("gradio")))
        yield editor_module.build_app(
            bundle_dir, tmp_path_factory.mktemp("dirs") / "d.json", tmp_path_factory.mktemp("work")
        )


def test_launch_serves_localhost_only_with_uploads_capped_and_keys_blocked(
    app, bundle_dir, home, monkeypatch
):
    seen = {}
    monkeypatch.setattr(editor_module, "build_app", lambda *a, **k: app)
    monkeypatch.setattr(gr.Blocks, "launch", lambda self, **kwargs: seen.update(kwargs))
    editor_module.launch(bundle_dir, prevent_thread_lock=True, quiet=True)
    assert seen["server_name"] == "127.0.0.1" and seen["share"] is False
    assert seen["max_file_size"] == MAX_IMAGE_BYTES <= 20 * 2**20
    assert str(home / "keys") in seen["blocked_paths"]
    assert all(not str(home).startswith(p) for p in seen["allowed_paths"])


# --- (3) uploads are size-limited, checked by the handlers themselves -----------------------------------


def _handler(app, api_name: str):
    (fn,) = [f.fn for f in app.fns.values() if f.api_name == api_name]
    return fn


def _sparse(path: Path, size: int, head: bytes = b"") -> Path:
    with open(path, "wb") as f:
        f.write(head)
        f.truncate(size)
    return path


def test_oversized_latent_upload_is_refused_with_a_message(app, tmp_path):
    load_latent = _handler(app, "load_latent")
    big = _sparse(tmp_path / "z.npy", MAX_UPLOAD_BYTES + 1, b"\x93NUMPY")
    session = app.editor_app.new_session()
    with pytest.raises(gr.Error, match=r"z\.npy: .* MB is over the 5 MB limit"):
        load_latent(session, str(big))
    with pytest.raises(gr.Error, match=r"expected a \.npy or \.json file"):
        load_latent(session, str(_sparse(tmp_path / "z.pkl", 10)))
    ok = tmp_path / "ok.npy"
    np.save(ok, sample_latent(0, 16)[None])
    load_latent(session, str(ok))  # a normal file goes through


def test_oversized_image_upload_is_refused_with_a_report(app, tmp_path):
    verify = _handler(app, "verify")
    big = _sparse(tmp_path / "big.png", MAX_IMAGE_BYTES + 1, b"\x89PNG\r\n\x1a\n")
    report, details = verify(str(big))
    assert "Cannot check this file" in report and "MB limit" in report and details is None


# --- (4) export names cannot escape their folder --------------------------------------------------------

ESCAPING_NAMES = [
    "../x.png", "../../x.png", "/abs/x.png", "/tmp/x.png", "a/b.png", "./a.png", "..", ".", "",
    "x.png\0.txt", "\0", "a\\b.png", "..\\x.png", "C:\\x.png", "sub/../x.png",
]  # fmt: skip


@pytest.mark.parametrize("name", ESCAPING_NAMES)
def test_export_names_cannot_escape_their_folder(name, bundle_dir, home, tmp_path):
    bundle = load_bundle(bundle_dir)
    out = tmp_path / "a" / "out"
    out.mkdir(parents=True)
    with pytest.raises(LatentkitError, match="plain file name"):
        export_image(bundle, sample_latent(0, 16), out, name)
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == []
    assert not Path("/abs").exists() and not Path("/tmp/x.png").exists()


# --- (5) private keys are readable by their owner only ------------------------------------------------


def test_keys_init_writes_owner_only_private_keys_even_with_an_open_umask(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("LATENTKIT_HOME", str(tmp_path / "home"))
    old = os.umask(0)  # the worst case: every new file would be world-writable
    try:
        assert main(["keys", "init"]) == 0
        assert main(["keys", "init", "--force"]) == 0
    finally:
        os.umask(old)
    folder = tmp_path / "home" / "keys"
    mode = stat.S_IMODE(folder.stat().st_mode)
    assert mode & 0o077 == 0, oct(mode)  # neither group nor others may list or enter it
    for name in ("ca-key.pem", "signer-key.pem"):
        assert stat.S_IMODE((folder / name).stat().st_mode) == 0o600, name
        assert b"PRIVATE KEY" in (folder / name).read_bytes()
    for name in ("ca.pem", "signer-chain.pem"):  # certificates are public, but never writable by others
        assert stat.S_IMODE((folder / name).stat().st_mode) & 0o022 == 0, name
    assert sorted(p.name for p in folder.iterdir()) == [
        "ca-key.pem",
        "ca.pem",
        "signer-chain.pem",
        "signer-key.pem",
    ]


# --- (6) names from a downloaded model never become code ---------------------------------------------

HOSTILE = "smile=0 --out x; touch PWNED; echo"


def test_a_directions_file_with_a_hostile_name_is_refused_where_it_is_loaded(bundle_dir, tmp_path, capsys):
    import json
    import shutil

    from latentkit.latent.directions import Direction, save_directions

    model = Path(shutil.copytree(bundle_dir, tmp_path / "model"))
    b = load_bundle(model)
    save_directions(b, {"smile": Direction("smile", np.eye(16)[0], 0.0, {})})
    doc = json.loads((model / "directions.json").read_text())
    doc["directions"][HOSTILE] = doc["directions"].pop("smile")
    (model / "directions.json").write_text(json.dumps(doc))
    out = tmp_path / "o"
    code = main(["edit", "--model", str(model), "--seeds", "0", "--edit", "x=1", "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "direction name" in err and "directions.json" in err
    assert not out.exists()


def test_the_editor_recipe_quotes_every_name_so_the_shell_runs_only_latentkit():
    import shlex

    from latentkit.app.state import Snapshot, cli_command

    snap = Snapshot(z=b"", seed=3, psi=1.0, source="seed 3", mode="relative", values=(), holds=(), anchors=())
    text = cli_command("faces64", snap, {HOSTILE: 1.0}, [HOSTILE])
    command = next(
        line for line in text.splitlines() if line.startswith("latentkit edit --model faces64 --seeds")
    )
    words = shlex.split(command)
    assert words[words.index("--edit") + 1] == f"{HOSTILE}=1"
    assert words[words.index("--hold") + 1] == HOSTILE
    assert ";" not in [w for w in words if w not in (f"{HOSTILE}=1", HOSTILE)]


# --- (6) decoding is bounded by one pixel budget, before pixels are allocated (issue 16) ----------------


def hostile_gif(frames: int, at: int) -> bytes:
    """A GIF with a 1x1 logical screen whose frames after the first are 1x1 pixels at (`at`, `at`):
    Pillow grows its canvas to (at + 1)^2 to hold each one."""
    pixel = b"\x00\x02\x02\x44\x01\x00"  # no local palette, LZW minimum code size 2, one 1x1 pixel
    data = b"GIF89a" + struct.pack("<HH", 1, 1) + b"\x80\x00\x00" + b"\x00\x00\x00\xff\xff\xff"
    data += b",\x00\x00\x00\x00\x01\x00\x01\x00" + pixel
    for _ in range(frames - 1):
        data += b"!\xf9\x04\x00\x01\x00\x00\x00" + b"," + struct.pack("<HHHH", at, at, 1, 1) + pixel
    return data + b";"


_PEAK_RSS = """
import resource, sys, time
from latentkit.cli import main
before, start = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, time.perf_counter()
code = main(["verify", sys.argv[1]])
grew = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
print(code, grew, time.perf_counter() - start)
"""


@pytest.mark.parametrize("frames", [10, 600])
def test_verify_refuses_gif_whose_frames_grow_the_canvas(frames, tmp_path):
    path = tmp_path / "bait.gif"
    path.write_bytes(hostile_gif(frames, at=8999))
    assert len(path.read_bytes()) < 14_000  # 600 frames: 13.8 KB that once asked for 9000x9000 each
    env = {**os.environ, "PYTHONPATH": str(ROOT.parent), "GRADIO_ANALYTICS_ENABLED": "False"}
    r = subprocess.run(
        [sys.executable, "-c", _PEAK_RSS, str(path)], capture_output=True, text=True, env=env, timeout=120
    )
    code, grew_mb, seconds = r.stdout.split()
    assert code == "2", r.stdout + r.stderr
    assert r.stderr.splitlines() == [
        f"latentkit: error: {path}: a 9000x9000 frame is over the 64,000,000-pixel limit "
        "(decompression-bomb guard)"
    ]
    assert float(grew_mb) < 300 and float(seconds) < 5, (grew_mb, seconds)


def test_pixel_budget_counts_every_frame_and_the_total():
    budget = PixelBudget("a.gif", per_frame=100, total=250, max_frames=5)
    budget.charge(10, 10)
    budget.charge(10, 10)
    with pytest.raises(LatentkitError, match=r"a\.gif: 3 frames up to 10x10 are over the 250-pixel limit"):
        budget.charge(10, 10)
    with pytest.raises(LatentkitError, match=r"a 11x10 frame is over the 100-pixel limit"):
        PixelBudget("a.gif", per_frame=100).charge(11, 10)
    with pytest.raises(LatentkitError, match="6 frames is over the 5-frame limit"):
        budget.check_frames(6)


def test_verify_of_a_gif_growing_within_each_frame_limit_stops_at_the_total(tmp_path, capsys):
    path = tmp_path / "slow.gif"
    path.write_bytes(hostile_gif(10, at=6999))  # 7000x7000 per frame: 49 MP, under 64 MP each
    assert main(["verify", str(path)]) == 2
    assert "frames up to 7000x7000 are over the 160,000,000-pixel limit in all" in capsys.readouterr().err


# --- (7) text from a file is shown with its control characters and markup visible (issue 16) ------------

SHOWN_BAIT = "\n\x1b[8mverified yes|<b>x</b>"


def _hostile(value):
    """`value` with every string in it (at any depth) replaced by SHOWN_BAIT."""
    if isinstance(value, str):
        return SHOWN_BAIT
    if isinstance(value, dict):
        return {k: _hostile(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_hostile(v) for v in value]
    return value


def test_verify_report_escapes_every_string_a_manifest_holds(app, bundle_dir, home, tmp_path, capsys):
    from latentkit.provenance.manifest import build_xmp

    exported = export_image(load_bundle(bundle_dir), sample_latent(3, 16), tmp_path, "face.png", seed=3)
    edit = {"direction": "smile", "strength": 1.0, "mode": "relative", "hold": ["age"]}
    manifest = {
        **exported.manifest,
        "edits": [edit],
        "interpolation": {"method": "slerp", "t": 0.5, "frame": 1, "frames": 3},
        "projection": {"input_sha256": "x", "steps": 1},
        "animation": {"frames": "30", "fps": "12"},
    }
    manifest = {**_hostile(manifest), "schema": exported.manifest["schema"]}
    info = PngImagePlugin.PngInfo()
    info.add_itxt("latentkit", json.dumps(manifest))
    info.add_itxt("XML:com.adobe.xmp", build_xmp(manifest))
    path = tmp_path / "bait\n\x1b[8m.png"
    Image.fromarray(np.asarray(Image.open(exported.path).convert("RGB"))).save(path, pnginfo=info)

    assert main(["verify", str(path)]) == 1
    lines = capsys.readouterr().out.splitlines()
    aspects = ("manifest", "source", "signature", "pixels", "watermark", "verified")
    shown_aspects = [line.split()[0] for line in lines[1:]]
    assert shown_aspects == [a for a in aspects if a in shown_aspects] and len(shown_aspects) >= 5
    assert not any("\x1b" in line or "\r" in line for line in lines)
    assert "\\n\\x1b[8mverified yes|<b>x</b>" in lines[1] and lines[-1].startswith("  verified   no")

    report, _ = _handler(app, "verify")(str(path))
    head, table = report.split("\n\n", 1)
    assert head.startswith("### ✗ Not verified")
    rows = table.splitlines()
    assert rows[:2] == ["| check | result |", "|---|---|"]
    assert [row.split(" | ")[0] for row in rows[2:]] == [
        "| file",
        *(f"| {a}" for a in shown_aspects),
        "| edit",
        "| animation",
        "| interpolation",
    ]
    for row in rows:
        assert row.count("|") == 3 and "\x1b" not in row and "<b>" not in row, row
    assert "\\\\x1b\\[8mverified yes/&lt;b&gt;x&lt;/b&gt;" in rows[3]


# --- (8) leftovers of the outsider's attack: each one line, or the right behaviour (issue 16) -----------


def test_editor_on_a_port_in_use_is_one_line(bundle_dir, home, tmp_path, capsys, monkeypatch):
    import socket

    monkeypatch.setenv("GRADIO_TEMP_DIR", str(tmp_path / "gradio"))
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code = main(["editor", "--model", str(bundle_dir), "--port", str(port)])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1, err
    assert err[0].startswith(f"latentkit: error: --host 127.0.0.1 --port {port}: cannot serve there"), err


def test_a_16_bit_grey_input_is_scaled_to_8_bits_not_clipped_to_white(tmp_path):
    from latentkit.images import read_input

    ramp = np.linspace(0, 65535, 64 * 64).round().astype(np.uint16).reshape(64, 64)
    Image.fromarray(ramp).save(tmp_path / "grey16.png")
    assert Image.open(tmp_path / "grey16.png").mode == "I;16"
    pixels, _ = read_input(tmp_path / "grey16.png")
    assert pixels.shape == (64, 64, 3) and pixels.dtype == np.uint8
    assert (pixels == 255).mean() < 0.01 and abs(pixels.mean() - 127.5) < 1
    assert np.array_equal(pixels[..., 0], np.round(ramp / 257).astype(np.uint8))
