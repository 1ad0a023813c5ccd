"""The editor app through its HTTP API (gradio_client), one launched server on 127.0.0.1 for the module.

The model is a tiny random DCGAN whose "smile" direction is fitted (logistic regression) to a
stand-in predictor: how much brighter the mouth region is than the whole image. So "the smile
slider raises the predictor's smile score" is a real, checkable property here.
"""

import json
import shlex
import socket
import threading
import zipfile
from pathlib import Path
from types import SimpleNamespace

import httpx
import numpy as np
import pytest
import torch
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError
from PIL import Image

from latentkit.errors import LatentkitError
from latentkit.latent import (
    Direction,
    Editor,
    LogisticDirection,
    fit_directions,
    load_directions,
    save_directions,
)
from latentkit.latent.directions import draw_latents, from_finder
from latentkit.models import DCGANConfig, build_generator, load_bundle, save_bundle
from latentkit.provenance import init_keys, verify_image

MOUTH = (slice(20, 27), slice(10, 22))  # rows, columns of a 32 px face
pytestmark = [  # gradio's queue statistics use pandas APIs that pandas 3 deprecates
    pytest.mark.filterwarnings("ignore:'future.no_silent_downcasting':Warning"),
    pytest.mark.filterwarnings("ignore:The copy keyword is deprecated:Warning"),
]


def mouth_score(img) -> float:
    """The stand-in smile predictor: mouth-region brightness minus the image's, in grey levels."""
    img = np.asarray(Image.open(img).convert("RGB") if isinstance(img, str | Path) else img, dtype=np.float64)
    img = img[:: img.shape[0] // 32, :: img.shape[1] // 32]  # thumbnails are nearest-upscaled
    return float(img[MOUTH].mean() - img.mean())


def tiny_bundle(folder: Path) -> Path:
    """A 32 px, 16-d DCGAN with directions smile (fitted to `mouth_score`), age (correlated) and sefa0-1."""
    torch.manual_seed(0)
    cfg = DCGANConfig(resolution=32, ngf=8, latent_dim=16)
    gen = build_generator(cfg)
    with torch.no_grad():  # give the untrained net visible contrast: BN statistics of real batches
        gen.net[-2].weight.mul_(10)
        for m in gen.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.momentum = None
        gen.train()(torch.randn(512, 16))
    bundle = load_bundle(save_bundle(folder, gen.eval(), cfg, name="tiny"))
    z = draw_latents(512, 16, seed=0)
    with torch.no_grad():
        images = (
            ((bundle.generator(torch.from_numpy(z)).clamp(-1, 1) + 1) * 127.5).permute(0, 2, 3, 1).numpy()
        )
    smile = from_finder("smile", LogisticDirection().fit(z, [mouth_score(i) for i in images]))
    other = np.random.default_rng(1).standard_normal(16)
    other -= (other @ smile.vector) * smile.vector
    age = 0.6 * smile.vector + 0.8 * other / np.linalg.norm(other)  # cosine 0.6 with smile
    dirs = {"smile": smile, "age": Direction("age", age, 0.3, {"kind": "supervised", "method": "svm"})}
    save_directions(bundle, {**dirs, **fit_directions(bundle, sefa=2, progress=False)})
    return folder


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    from latentkit.app import launch

    home = tmp_path_factory.mktemp("home")
    init_keys(home / "keys")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("LATENTKIT_HOME", str(home))
        bundle = tiny_bundle(tmp_path_factory.mktemp("model") / "tiny")
        user = home / "my-directions.json"
        demo = launch(bundle, port=free_port(), prevent_thread_lock=True, quiet=True, directions_file=user)
        try:
            yield SimpleNamespace(url=demo.local_url, app=demo.editor_app, bundle=bundle, user=user)
        finally:
            demo.close()


@pytest.fixture
def client(served, tmp_path):
    """A fresh browser-tab-like session."""
    return Client(
        served.url, analytics_enabled=False, verbose=False, ssl_verify=False, download_files=tmp_path
    )


def knobs(app, hold=(), **strengths) -> list:
    """Slider values then "hold" boxes, in slot order, as the edit endpoints take them."""
    names = [slot.name for slot in app.slots]
    values = [0.0] * app.n
    for name, v in strengths.items():
        values[names.index(name)] = v
    return values + [slot.name in hold for slot in app.slots]


def fields(app, r: tuple) -> SimpleNamespace:
    """A full Edit-tab refresh as named fields (the client leaves out the undo/redo buttons)."""
    n = app.n
    values, holds = list(r[4 : 4 + n]), list(r[4 + n : 4 + 2 * n])
    return SimpleNamespace(image=r[0], seed=r[1], psi=r[2], mode=r[3], values=values, holds=holds,
                           summary=r[-3], command=r[-2], latent=r[-1])  # fmt: skip


def pixels(path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"), dtype=int)


def saved_latent(client, knob_values: list) -> np.ndarray:
    """The edited latent after setting every slider and box (as /edit, then 'Save latent')."""
    client.predict(*knob_values, api_name="/edit")
    return np.load(client.predict(api_name="/save_latent"))


# --- the Edit tab ----------------------------------------------------------------------------------


def test_seed_shows_that_seeds_face_and_the_smile_slider_raises_the_smile_score(served, client):
    app = served.app
    f = fields(app, client.predict(3, 1.0, api_name="/seed"))
    editor = Editor(load_bundle(served.bundle))
    np.testing.assert_array_equal(pixels(f.image), editor.render(editor.sample(3), 32))
    scores = [mouth_score(client.predict(*knobs(app, smile=v), api_name="/edit")) for v in (-3.0, 0.0, 3.0)]
    assert scores[0] < scores[1] < scores[2]
    assert scores[2] - scores[0] > 5  # grey levels
    sad, happy = (pixels(client.predict(*knobs(app, smile=v), api_name="/edit")) for v in (-3.0, 3.0))
    assert np.abs(sad.astype(int) - happy)[MOUTH].mean() > 3


def test_random_then_commit_undo_redo_and_the_cli_command(served, client):
    app = served.app
    f = fields(app, client.predict(1.0, api_name="/random"))
    assert 0 <= f.seed <= 2**32 - 1 and f.values == [0.0] * app.n
    client.predict(*knobs(app, smile=1.5, hold=("age",)), api_name="/edit")
    summary, command, _ = client.predict(api_name="/commit")
    assert "**smile** +1.5" in summary and "holding age fixed" in summary
    assert f"--seeds {f.seed} --edit smile=1.5 --hold age --out edited" in command
    undone = fields(app, client.predict(api_name="/undo"))
    assert undone.values == [0.0] * app.n and undone.seed == f.seed
    assert undone.holds == list(app.default_holds)  # every attribute held, as the session started
    redone = fields(app, client.predict(api_name="/redo"))
    assert redone.values[0] == 1.5 and redone.holds[1] is True
    reset = fields(app, client.predict(api_name="/reset"))
    assert reset.values == [0.0] * app.n and reset.summary.startswith("No edits")


def test_every_attribute_starts_held_so_a_slider_moves_its_own_attribute_only(served, client):
    app, dirs = served.app, load_directions(load_bundle(served.bundle))
    names = [slot.name for slot in app.slots]
    assert app.attributes == ["smile", "age"]
    assert app.default_holds == tuple(n in ("smile", "age") for n in names)  # not sefa0/1, not custom
    f = fields(app, client.predict(5, 1.0, api_name="/seed"))
    assert f.holds == list(app.default_holds)
    z0 = saved_latent(client, [*f.values, *f.holds])
    values = list(f.values)
    values[names.index("smile")] = 2.0
    z = saved_latent(client, [*values, *f.holds])
    assert dirs["age"].distance(z) == pytest.approx(dirs["age"].distance(z0), abs=1e-4)
    assert dirs["smile"].distance(z) > dirs["smile"].distance(z0) + 1.0
    summary, command, _ = client.predict(api_name="/commit")
    assert "holding every other attribute fixed" in summary
    assert "--edit smile=2 --hold all --out edited" in command
    client.predict(*values, *([False] * app.n), api_name="/edit")  # untick every box...
    reset = fields(app, client.predict(api_name="/reset"))
    assert reset.holds == list(app.default_holds)  # ...and Reset ticks the attributes again


def test_hold_fixed_keeps_the_held_distance_while_another_slider_moves(served, client):
    app, dirs = served.app, load_directions(load_bundle(served.bundle))
    client.predict(5, 1.0, api_name="/seed")
    z0, free, held = (
        saved_latent(client, knobs(app, **k)) for k in ({}, {"smile": 2.0}, {"smile": 2.0, "hold": ("age",)})
    )
    age = dirs["age"]
    assert abs(age.distance(free) - age.distance(z0)) > 0.5  # age moves with smile (cosine 0.6)...
    assert age.distance(held) == pytest.approx(age.distance(z0), abs=1e-4)  # ...unless held
    assert dirs["smile"].distance(held) > dirs["smile"].distance(z0) + 1.0


def test_absolute_mode_starts_at_the_face_and_sets_the_distance(served, client):
    app, dirs = served.app, load_directions(load_bundle(served.bundle))
    client.predict(7, 1.0, api_name="/seed")
    f = fields(app, client.predict("absolute", api_name="/mode"))
    z = Editor(load_bundle(served.bundle)).sample(7)
    assert f.mode == "absolute"
    assert f.values[0] == pytest.approx(np.clip(round(float(dirs["smile"].distance(z)), 1), -3, 3))
    values = list(f.values)
    values[0] = 2.0
    z2 = saved_latent(client, [*values, *f.holds])
    assert dirs["smile"].distance(z2) == pytest.approx(2.0, abs=1e-4)
    assert "--mode absolute" in client.predict(api_name="/commit")[1]


def test_export_is_signed_watermarked_and_passes_latentkit_verify(served, client, cli):
    app = served.app
    client.predict(3, 0.7, api_name="/seed")
    client.predict(*knobs(app, smile=1.5), api_name="/edit")
    path, summary = client.predict(256, api_name="/export")
    assert Path(path).name == "seed0003-edited.png" and "✓ Verified" in summary
    assert "| edit | smile +1.5 (relative) |" in summary
    result = cli("verify", path)
    assert result.returncode == 0, result.stdout + result.stderr
    m = verify_image(path).manifest
    assert m["latent"]["seed"] == 3 and m["output"]["width"] == 256
    assert m["edits"][0] == {"truncation": {"psi": 0.7, "mean": "zero"}}
    assert m["edits"][1]["direction"] == "smile" and m["edits"][1]["strength"] == 1.5


def test_the_verify_summary_names_held_directions_in_new_and_old_manifests():
    from latentkit.app.media import edit_text

    edit = {"direction": "age", "strength": 2.0, "mode": "relative"}
    assert edit_text({**edit, "hold": ["glasses"]}) == "age +2 (relative, holding glasses)"
    assert edit_text({**edit, "conditioned_on": ["glasses"]}) == "age +2 (relative, holding glasses)"
    assert edit_text({**edit, "hold": []}) == "age +2 (relative)"


def test_a_saved_latent_loads_back_and_bad_files_are_refused_with_a_message(served, client, tmp_path):
    app = served.app
    client.predict(11, 1.0, api_name="/seed")
    image = client.predict(*knobs(app, age=-2.0), api_name="/edit")
    saved = client.predict(api_name="/save_latent")
    f = fields(app, client.predict(handle_file(saved), api_name="/load_latent"))
    np.testing.assert_array_equal(pixels(f.image), pixels(image))
    assert f.seed is None and "--latent latent.npy" in f.command
    np.save(tmp_path / "wrong.npy", np.zeros(8, dtype=np.float32))
    with pytest.raises(AppError, match=r"wrong\.npy: shape \(8,\), the model needs \(16,\)"):
        client.predict(handle_file(tmp_path / "wrong.npy"), api_name="/load_latent")
    (tmp_path / "evil.txt").write_text("x")
    with pytest.raises(AppError, match="Invalid file type"):
        client.predict(handle_file(tmp_path / "evil.txt"), api_name="/load_latent")


def test_invalid_inputs_become_messages_and_the_app_keeps_serving(served, client):
    app = served.app
    with pytest.raises(AppError, match="less than minimum"):
        client.predict(-1, 1.0, api_name="/seed")
    with pytest.raises(AppError, match="greater than maximum"):
        client.predict(*knobs(app, smile=7.0), api_name="/edit")
    with pytest.raises(AppError, match="'abc' is not a seed"):
        client.predict("abc", api_name="/batch")
    with pytest.raises(AppError, match="at least 2 keyframes"):
        client.predict("slerp", 4, False, api_name="/interpolate")
    assert pixels(client.predict(*knobs(app), api_name="/edit")).shape == (32, 32, 3)


# --- the other tabs ------------------------------------------------------------------------------


def test_interpolation_gif_t_slider_and_signed_animation(served, client):
    editor = Editor(load_bundle(served.bundle))
    assert len(client.predict("4, 9", 1.0, api_name="/keyframes_add_seeds")) == 2
    gif, t, first = client.predict("slerp", 4, False, api_name="/interpolate")
    assert Image.open(gif).n_frames == 5 and t == 0.0 and pixels(first).shape[0] >= 32
    for t, seed in ((0.0, 4), (1.0, 9)):
        frame = client.predict("slerp", False, t, api_name="/interpolate_t")
        np.testing.assert_array_equal(pixels(frame), editor.render(editor.sample(seed), 32))
    animation, summary = client.predict("slerp", 4, False, 256, "gif", api_name="/interpolate_export")
    assert (
        "✓ Verified" in summary and "GIF 256×256, 5 frames" in summary and "5 frames at 12.0 fps" in summary
    )
    report = verify_image(animation)
    assert report.verified and report.frames == 5 and report.watermark_votes == (5, 5)
    shown, _ = client.predict(handle_file(animation), api_name="/verify")  # the Verify tab takes GIFs
    assert shown.startswith("### ✓ Verified") and "| interpolation | slerp through 2 keyframes |" in shown
    m = report.manifest
    assert m["interpolation"]["t"][2] == [0, 0.5] and m["interpolation"]["keyframes"] == [
        {"seed": 4, "psi": 1.0},
        {"seed": 9, "psi": 1.0},
    ]


def test_batch_applies_the_current_edit_to_every_seed_and_zips_signed_exports(served, client):
    app = served.app
    client.predict(*knobs(app, smile=2.0), api_name="/edit")
    gallery, note = client.predict("0-3", api_name="/batch")
    assert [g["caption"] for g in gallery] == ["seed 0", "seed 1", "seed 2", "seed 3"]
    assert note.startswith("4 face(s)") and "**smile** +2.0" in note
    pair = pixels(gallery[0]["image"])
    before, after = pair[:, : pair.shape[1] // 2 - 1], pair[:, pair.shape[1] // 2 + 1 :]
    assert mouth_score(after) > mouth_score(before)
    seeds = client.predict(api_name="/batch_random")
    assert len(seeds.split(", ")) == 8
    zipped, summary = client.predict("0-3", 256, api_name="/batch_export")
    assert "4 of 4 images verified" in summary
    with zipfile.ZipFile(zipped) as zf:
        assert zf.namelist() == [f"seed{s:04d}-edited.png" for s in range(4)]


def test_custom_direction_from_marked_samples_becomes_a_working_slider(served, client, cli, tmp_path):
    app = served.app
    gallery, pos, neg = client.predict(api_name="/custom_samples")
    assert len(gallery) == 32 and pos == [] and neg == []
    order = np.argsort([mouth_score(g["image"]) for g in gallery])  # label the grid by the "predictor"
    bright, dark = [str(i + 1) for i in order[-6:]], [str(i + 1) for i in order[:6]]
    status, first, *others = client.predict("bright_mouth", bright, dark, api_name="/custom_fit")
    assert "Fitted **bright_mouth** on 12 labelled faces" in status
    assert first == {"label": "bright_mouth", "value": 0.0, "__type__": "update"}  # first free slider
    assert others == [{"__type__": "update"}] * (len(others))  # the other free sliders stay as they are
    saved = load_directions(load_bundle(served.bundle), served.user)
    assert saved["bright_mouth"].meta["kind"] == "custom"
    slot = [s.name for s in app.slots].index(None)  # the first free slot now holds it
    values = [0.0] * app.n
    client.predict(3, 1.0, api_name="/seed")
    scores = []
    for v in (-3.0, 3.0):
        values[slot] = v
        scores.append(mouth_score(client.predict(*values, *[False] * app.n, api_name="/edit")))
    assert scores[1] > scores[0] + 3
    _, command, _ = client.predict(api_name="/commit")  # the CLI recipe passes the user's file along
    line = next(x for x in command.splitlines() if x.startswith("latentkit edit") and "--seeds 3" in x)
    assert f"--directions {served.user}" in line and "--edit bright_mouth=3" in line
    done = cli(*shlex.split(line)[1:-1], tmp_path / "edited")
    assert done.returncode == 0, done.stderr
    edits = verify_image(tmp_path / "edited" / "seed0003.png").manifest["edits"]
    assert edits[0]["direction"] == "bright_mouth" and edits[0]["directions_file"] == served.user.name
    with pytest.raises(AppError, match="already exists"):
        client.predict("smile", bright, dark, api_name="/custom_fit")
    with pytest.raises(AppError, match="at least 3 faces each way"):
        client.predict("too_few", bright[:2], dark, api_name="/custom_fit")


def test_verify_tab_reports_signed_tampered_and_non_images(served, client, tmp_path):
    path, _ = client.predict(256, api_name="/export")
    report, details = client.predict(handle_file(path), api_name="/verify")
    assert report.startswith("### ✓ Verified") and "| watermark | found" in report
    assert details["verified"] is True and details["file"] == Path(path).name
    img = pixels(path).astype(np.uint8)
    img[:8, :8] = 255 - img[:8, :8]  # a pasted-over corner; the metadata is dropped on re-save
    Image.fromarray(img).save(tmp_path / "tampered.png")
    report, _ = client.predict(handle_file(tmp_path / "tampered.png"), api_name="/verify")
    assert report.startswith("### ✗ Not verified") and "no latentkit manifest" in report
    (tmp_path / "fake.png").write_bytes(b"not an image at all")
    report, details = client.predict(handle_file(tmp_path / "fake.png"), api_name="/verify")
    assert report.startswith("### ⚠ Cannot check this file") and details is None


# --- serving -------------------------------------------------------------------------------------


def test_server_binds_localhost_and_serves_only_the_apps_own_files(served, client, tmp_path):
    assert served.url.startswith("http://127.0.0.1:")
    path, _ = client.predict(256, api_name="/export")
    assert Path(path).stat().st_size > 1000  # downloaded through the server
    workdir = served.app.workdir
    for secret in (
        served.bundle / "generator.safetensors",
        Path(served.user.parent) / "keys" / "signer-key.pem",
        Path("/etc/passwd"),
        Path(__file__),
    ):
        r = httpx.get(f"{served.url}gradio_api/file={secret}")
        assert r.status_code in (403, 404), secret
    exported = next((workdir / "exports").glob("*/*.png"))
    assert httpx.get(f"{served.url}gradio_api/file={exported}").status_code == 200
    big = httpx.post(f"{served.url}gradio_api/upload", files={"files": ("big.png", bytes(21 * 2**20))})
    assert big.status_code == 413  # uploads are capped at 20 MB before any handler sees them
    config = httpx.get(f"{served.url}config").json()
    assert config.get("analytics_enabled") is False
    assert json.loads(json.dumps(config.get("max_file_size"))) == 20 * 2**20


def test_twenty_users_editing_at_once_all_get_their_pictures(served, tmp_path):
    app, results, errors = served.app, [], []

    def user(k: int) -> None:
        try:
            # A generous client timeout: the claim is "no request fails", and on a busy 2-core
            # machine 20 clients' handshakes alone can queue past httpx's 5 s default.
            c = Client(served.url, analytics_enabled=False, verbose=False, ssl_verify=False,
                       download_files=False, httpx_kwargs={"timeout": 120})  # fmt: skip
            for v in (-2.0, 0.5, 2.5):
                results.append(c.predict(*knobs(app, smile=v, age=k / 10), api_name="/edit"))
        except Exception as e:  # collected: the assertion below names them
            errors.append(f"user {k}: {type(e).__name__}: {e}")

    threads = [threading.Thread(target=user, args=(k,)) for k in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert errors == [] and len(results) == 60
    assert all(r["url"].startswith(served.url) for r in results)


# --- requests from elsewhere (issue 16 items 9, 10, 17) ---------------------------------------------


def test_a_request_for_another_host_is_refused(served):
    ok = httpx.get(served.url)
    assert ok.status_code == 200
    rebound = httpx.get(served.url, headers={"Host": "evil.example"})
    assert rebound.status_code == 403 and "Host" in rebound.text


def test_an_upload_from_another_sites_page_is_refused_and_stores_nothing(served):
    upload = served.url.rstrip("/") + "/gradio_api/upload"
    folder = Path(served.app.workdir) / "gradio"
    before = sorted(p for p in folder.rglob("*") if p.is_file()) if folder.exists() else []
    files = {"files": ("big.bin", b"x" * 1000, "application/octet-stream")}
    refused = httpx.post(upload, files=files, headers={"Origin": "http://evil.example"})
    assert refused.status_code == 403
    after = sorted(p for p in folder.rglob("*") if p.is_file()) if folder.exists() else []
    assert after == before
    own_page = httpx.post(upload, files=files, headers={"Origin": served.url.rstrip("/")})
    assert own_page.status_code == 200


def test_an_inherited_gradio_temp_dir_is_not_served(tmp_path, monkeypatch):
    from gradio.utils import get_upload_folder

    from latentkit.app import build_app

    foreign = tmp_path / "someone-elses"
    foreign.mkdir()
    (foreign / "signer-key.pem").write_text("PRIVATE KEY")
    monkeypatch.setenv("GRADIO_TEMP_DIR", str(foreign))
    work = tmp_path / "work"
    build_app(tiny_bundle(tmp_path / "tiny"), tmp_path / "d.json", work)
    assert Path(get_upload_folder()) == work / "gradio"


def test_sigterm_removes_the_editors_temp_folder(tmp_path):
    import os
    import signal
    import subprocess
    import sys
    import time

    bundle = tiny_bundle(tmp_path / "tiny")
    port = free_port()
    env = {**os.environ, "TMPDIR": str(tmp_path), "GRADIO_ANALYTICS_ENABLED": "False"}
    argv = [sys.executable, "-m", "latentkit", "editor", "--model", str(bundle), "--port", str(port)]
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.5)
        (workdir,) = tmp_path.glob("latentkit-editor-*")
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
    finally:
        proc.kill()
    assert not workdir.exists()


def test_two_sessions_cannot_save_custom_directions_under_one_name(served, tmp_path):
    def session():
        return Client(served.url, analytics_enabled=False, verbose=False, download_files=tmp_path)

    first, second = session(), session()
    picks = []
    for c in (first, second):
        gallery, _, _ = c.predict(api_name="/custom_samples")
        order = np.argsort([mouth_score(g["image"]) for g in gallery])
        picks.append(([str(i + 1) for i in order[-4:]], [str(i + 1) for i in order[:4]]))
    status, *_ = first.predict("mustache", *picks[0], api_name="/custom_fit")
    assert "Fitted **mustache**" in status
    before = served.user.read_bytes()
    with pytest.raises(AppError, match="'mustache' is already saved"):
        second.predict("mustache", *picks[1], api_name="/custom_fit")
    assert served.user.read_bytes() == before  # the first session's direction is untouched
    status, *_ = first.predict("mustache", *picks[0], api_name="/custom_fit")  # refitting your own is fine
    assert "Fitted **mustache**" in status


def test_the_custom_directions_file_has_a_cap():
    from latentkit.app.custom_tab import MAX_SAVED, check_free_name

    full = {f"d{i}" for i in range(MAX_SAVED)}
    with pytest.raises(LatentkitError, match="full"):
        check_free_name("one_more", full, set())
    check_free_name("d3", full, {"d3"})  # replacing your own direction adds none
