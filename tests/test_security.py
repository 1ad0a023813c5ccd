"""Security properties in one place: no pickle anywhere, a local-only editor, capped uploads, export names
that cannot escape their folder, and private keys only their owner can read."""

from __future__ import annotations

import ast
import inspect
import os
import stat
from pathlib import Path

import gradio as gr
import numpy as np
import pytest
import torch

import latentkit
from latentkit.app import editor as editor_module
from latentkit.app.verify_tab import MAX_IMAGE_BYTES
from latentkit.app.widgets import MAX_UPLOAD_BYTES
from latentkit.cli import build_parser, main
from latentkit.errors import LatentkitError
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
