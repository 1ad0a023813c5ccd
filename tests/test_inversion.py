"""Projecting images into the latent space (`latentkit.latent.inversion`), `latentkit project`, and
the projection record travelling into exported manifests.

The quality test uses the shipped pretrained/faces32 bundle and its predictor; the other tests use a
tiny random DCGAN so they stay fast.
"""

import hashlib
import io
import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from PIL import Image

from latentkit.cli import main
from latentkit.errors import LatentkitError
from latentkit.images import prepare_image, read_input
from latentkit.latent.editor import Editor, latents_space, load_latents
from latentkit.latent.encoder import load_encoder, save_encoder, train_encoder
from latentkit.latent.inversion import (
    _ramp_lr,
    _w_noise,
    best_space,
    load_projection_record,
    project,
    project_image,
    projection_for,
    psnr,
    save_projection,
    sidecar_path,
    w_stats,
)
from latentkit.models import DCGANConfig, MLPConfig, build_generator, load_bundle, save_bundle
from latentkit.models.latents import synthesize
from latentkit.pixels import to_pixels
from latentkit.predictor import load_feature_net
from latentkit.provenance import verify_image
from latentkit.provenance.export import export_image

PRETRAINED = Path(__file__).resolve().parent.parent / "pretrained" / "faces32"


pytestmark = pytest.mark.usefixtures("home")  # one signing identity per module (conftest)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """A 32 px, 16-d random DCGAN with visible contrast (batch-norm statistics of real batches)."""
    torch.manual_seed(0)
    cfg = DCGANConfig(resolution=32, ngf=8, latent_dim=16)
    gen = build_generator(cfg)
    with torch.no_grad():
        gen.net[-2].weight.mul_(10)
        for m in gen.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.momentum = None
        gen.train()(torch.randn(512, 16))
    return load_bundle(save_bundle(tmp_path_factory.mktemp("model") / "tiny", gen.eval(), cfg, name="tiny"))


@pytest.fixture(scope="module")
def faces32():
    return load_bundle(PRETRAINED)


def png_bytes(pixels: np.ndarray, mode: str | None = None) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(pixels, mode).save(buf, "PNG")
    return buf.getvalue()


def rendered(bundle, seed: int) -> np.ndarray:
    """G(z) for z drawn from `seed`, as (R, R, 3) uint8."""
    z = torch.randn(1, bundle.config.latent_dim, generator=torch.Generator().manual_seed(seed))
    with torch.no_grad():
        return to_pixels(bundle.generator(z))[0]


# --- quality ---------------------------------------------------------------------------------------


def test_projecting_a_generated_face_reconstructs_it_above_30_db(faces32):
    target = rendered(faces32, seed=1234)  # a latent the optimiser never sees (its starts use seed 0)
    net, _ = load_feature_net(PRETRAINED / "predictor")
    r = project(faces32, target, feature_net=net)  # the default 250 steps
    assert r.psnr >= 30.0, r.psnr
    assert psnr(rendered(faces32, seed=99), target) < 20  # a random face is far from it
    assert np.array_equal(r.image, to_pixels(faces32.generator(torch.from_numpy(r.latent)[None]).detach())[0])
    assert r.mse == pytest.approx(10 ** (-r.psnr / 10))
    assert r.feature_distance is not None and r.feature_distance < 1.0
    assert 0.7 < np.linalg.norm(r.latent) / np.sqrt(128) < 1.3  # the prior keeps z on the Gaussian shell


def test_projection_is_reproducible_and_reports_progress(tiny):
    target = rendered(tiny, seed=5)
    calls = []
    a = project(tiny, target, steps=30, progress=lambda i, n: calls.append((i, n)))
    b = project(tiny, target, steps=30)
    assert np.array_equal(a.latent, b.latent)
    assert calls[0] == (1, 30) and calls[-1] == (30, 30) and len(calls) == 30
    assert a.steps == 30 and a.restarts == 4 and a.seconds > 0


def test_more_steps_fit_better(tiny):
    target = rendered(tiny, seed=6)
    assert project(tiny, target, steps=150).psnr > project(tiny, target, steps=5).psnr


def test_projection_leaves_the_generator_trainable_flags_alone(tiny):
    before = [p.requires_grad for p in tiny.generator.parameters()]
    project(tiny, rendered(tiny, seed=7), steps=3)
    assert [p.requires_grad for p in tiny.generator.parameters()] == before


# --- input images ----------------------------------------------------------------------------------


def test_prepare_image_centre_crops_then_resizes():
    img = np.zeros((40, 80, 3), np.uint8)
    img[:, 20:60] = 200  # the centre square is uniform 200; the sides (cropped away) are black
    out = prepare_image(img, 32)
    assert out.shape == (32, 32, 3) and out.dtype == np.uint8
    assert np.all(np.abs(out.astype(int) - 200) <= 1)


def test_grey_input_becomes_rgb():
    grey = np.full((40, 40), 77, np.uint8)
    pixels, sha = read_input(png_bytes(grey, "L"), "grey.png")
    assert pixels.shape == (40, 40, 3) and np.all(pixels == 77)
    assert sha == hashlib.sha256(png_bytes(grey, "L")).hexdigest()


def test_transparent_pixels_are_composited_over_white():
    rgba = np.zeros((40, 40, 4), np.uint8)
    rgba[..., 0] = 255  # red everywhere, opaque only on the left half
    rgba[:, :20, 3] = 255
    pixels, _ = read_input(png_bytes(rgba, "RGBA"), "rgba.png")
    assert pixels.shape == (40, 40, 3)
    assert np.all(pixels[:, :20] == [255, 0, 0]) and np.all(pixels[:, 20:] == 255)


def test_non_image_file_is_a_one_line_error(tmp_path):
    path = tmp_path / "notes.png"
    path.write_text("not an image")
    with pytest.raises(LatentkitError, match=r"notes\.png: not an image") as e:
        read_input(path)
    assert "\n" not in str(e.value)


def test_missing_file_and_folder_are_one_line_errors(tmp_path):
    with pytest.raises(LatentkitError, match="file not found"):
        read_input(tmp_path / "nope.png")
    with pytest.raises(LatentkitError, match="is a folder"):
        read_input(tmp_path)


def test_tiny_image_is_refused(tiny):
    pixels, _ = read_input(png_bytes(np.zeros((8, 8, 3), np.uint8)), "tiny.png")
    with pytest.raises(LatentkitError, match=r"8x8 pixels is too small; .* at least 16 px"):
        project(tiny, pixels, steps=1)


def test_point_model_is_refused(tmp_path):
    cfg = MLPConfig()
    bundle = load_bundle(save_bundle(tmp_path / "ring", build_generator(cfg), cfg))
    with pytest.raises(LatentkitError, match="makes 2-d points"):
        project(bundle, np.zeros((64, 64, 3), np.uint8), steps=1)


def test_feature_net_of_other_channels_is_refused(tiny):
    net = SimpleNamespace(channels=1)
    with pytest.raises(LatentkitError, match="feature net reads 1-channel images"):
        project(tiny, np.zeros((64, 64, 3), np.uint8), feature_net=net, steps=1)


# --- the record ------------------------------------------------------------------------------------


def test_sidecar_holds_the_record_of_exactly_that_latent(tiny, tmp_path):
    image = tmp_path / "face.png"
    image.write_bytes(png_bytes(rendered(tiny, seed=3)))
    r = project_image(tiny, image, steps=10)
    latent, sidecar = save_projection(tmp_path / "z.npy", r, tiny)
    assert sidecar == sidecar_path(latent) == tmp_path / "z.projection.json"
    record = load_projection_record(latent)
    assert record["source_sha256"] == hashlib.sha256(image.read_bytes()).hexdigest()
    assert record["steps"] == 10 and record["psnr"] == pytest.approx(r.psnr, abs=1e-3)
    assert record["model_weights_sha256"] == tiny.weights_sha256
    assert projection_for(record, r.latent) == record
    assert projection_for(record, r.latent + 1) is None  # a latent replaced since: the record does not apply
    assert load_projection_record(tmp_path / "other.npy") is None


def test_malformed_sidecar_names_the_file(tmp_path):
    (tmp_path / "z.projection.json").write_text(json.dumps({"format": "something-else"}))
    with pytest.raises(LatentkitError, match=r"z.projection.json: format is 'something-else'"):
        load_projection_record(tmp_path / "z.npy")


def test_verify_accepts_manifests_with_and_without_a_projection(tiny, tmp_path, monkeypatch):
    z = np.zeros(16, np.float32)
    record = {"method": "optimisation", "source_sha256": "ab" * 32, "steps": 3, "mse": 0.01, "psnr": 20.0}
    with_it = export_image(tiny, z, tmp_path, "with.png", projection=record, size=64)
    plain = export_image(tiny, z, tmp_path, "plain.png", size=64)
    assert with_it.manifest["projection"] == record and plain.manifest["projection"] is None

    from latentkit.provenance import manifest as mf

    build = mf.build_manifest

    def older(**kwargs):  # a manifest written before the field existed has no "projection" key
        m = build(**kwargs)
        del m["projection"]
        return m

    monkeypatch.setattr(mf, "build_manifest", older)
    old = export_image(tiny, z, tmp_path, "old.png", size=64)
    assert "projection" not in old.manifest
    for name in ("with.png", "plain.png", "old.png"):
        report = verify_image(tmp_path / name)
        assert report.verified, (name, report.problems)
    assert verify_image(tmp_path / "with.png").manifest["projection"] == record


# --- the encoder -----------------------------------------------------------------------------------


def test_encoder_round_trips_and_gives_projection_a_start(tiny, tmp_path):
    enc, report = train_encoder(tiny, steps=40, batch_size=32, progress=False)
    assert report["loss_last"] < report["loss_first"]
    loaded = load_encoder(save_encoder(tmp_path / "enc", enc, report), tiny)
    x = torch.from_numpy(rendered(tiny, seed=8)).permute(2, 0, 1)[None].float() / 127.5 - 1
    with torch.no_grad():
        assert torch.equal(loaded(x), enc(x))
    r = project(tiny, rendered(tiny, seed=8), encoder=loaded, steps=5)
    assert np.isfinite(r.psnr)


def test_encoder_of_other_weights_is_refused(tiny, faces32, tmp_path):
    enc, report = train_encoder(tiny, steps=1, batch_size=4, progress=False)
    save_encoder(tmp_path / "enc", enc, report)
    with pytest.raises(LatentkitError, match="another model shape"):
        load_encoder(tmp_path / "enc", faces32)
    other = SimpleNamespace(config=tiny.config, name="tiny", weights_sha256="0" * 64)
    with pytest.raises(LatentkitError, match="other generator weights"):
        load_encoder(tmp_path / "enc", other)


# --- the command line ------------------------------------------------------------------------------


def test_cli_project_then_edit_records_the_projection_in_the_manifest(cli, tmp_path, faces32):
    image = tmp_path / "face.png"
    big = Image.fromarray(rendered(faces32, seed=21)).resize((96, 80))  # not square, not 32 px
    big.save(image)
    done = cli("project", image, "--model", PRETRAINED, "--out", tmp_path / "z.npy", "--steps", 20)
    assert done.returncode == 0, done.stderr
    assert "PSNR" in done.stdout and (tmp_path / "z.projection.json").is_file()
    code = main(
        ["edit", "--model", str(PRETRAINED), "--latent", str(tmp_path / "z.npy"), "--edit", "smile=1.5",
         "--out", str(tmp_path / "edited"), "--no-progress"]
    )  # fmt: skip
    assert code == 0
    report = verify_image(tmp_path / "edited" / "latent0000.png")
    assert report.verified, report.problems
    projection = report.manifest["projection"]
    assert projection["source_sha256"] == hashlib.sha256(image.read_bytes()).hexdigest()
    assert projection["steps"] == 20 and projection["psnr"] > 10
    assert report.manifest["edits"][0]["direction"] == "smile"


def test_cli_project_of_a_non_image_exits_2_with_one_line(cli, tmp_path):
    image = tmp_path / "input.png"
    image.write_bytes(b"hello")
    done = cli("project", image, "--model", PRETRAINED, "--out", tmp_path / "z.npy", "--no-progress")
    assert done.returncode == 2
    assert (
        done.stderr.strip()
        == f"latentkit: error: {image}: not an image file (or a format Pillow cannot read)"
    )
    assert not (tmp_path / "z.npy").exists()


@pytest.mark.parametrize(
    "setup, message",
    [
        (lambda p: p.write_bytes(png_bytes(np.zeros((8, 8, 3), np.uint8))), "8x8 pixels is too small"),
        (lambda p: None, "file not found"),
        (lambda p: p.write_bytes(png_bytes(np.zeros((64, 64, 3), np.uint8))), "already exists"),
    ],
)
def test_cli_project_bad_input_exits_2_in_process(tmp_path, capsys, setup, message):
    image = tmp_path / "input.png"
    setup(image)
    (tmp_path / "taken.npy").write_bytes(b"")
    out = tmp_path / ("taken.npy" if message == "already exists" else "z.npy")
    code = main(["project", str(image), "--model", str(PRETRAINED), "--out", str(out), "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2 and message in err and err.count("\n") == 1
    assert not (tmp_path / "z.npy").exists()


def test_reproduce_keeps_the_projection_record(tiny, tmp_path):
    from latentkit.provenance.reproduce import reproduce_image

    record = {"method": "optimisation", "source_sha256": "cd" * 32, "steps": 7, "mse": 0.02, "psnr": 17.0}
    export_image(tiny, np.ones(16, np.float32), tmp_path, "a.png", projection=record, size=64)
    result = reproduce_image(tmp_path / "a.png", tmp_path / "b.png", model=tiny.path)
    assert result.identical
    assert verify_image(tmp_path / "b.png").manifest["projection"] == record


def test_cli_encoder_train_then_project_with_it(tiny, tmp_path, capsys):
    image = tmp_path / "face.png"
    image.write_bytes(png_bytes(rendered(tiny, seed=4)))
    enc = tmp_path / "enc"
    assert main(["encoder", "train", "--model", str(tiny.path), "--steps", "3", "--batch-size", "8",
                 "--out", str(enc), "--no-progress"]) == 0  # fmt: skip
    assert "held-out cosine" in capsys.readouterr().out
    args = ["project", str(image), "--model", str(tiny.path), "--encoder", str(enc), "--steps", "5"]
    assert main([*args, "--out", str(tmp_path / "z.json"), "--no-progress"]) == 0
    assert json.loads((tmp_path / "z.projection.json").read_text())["steps"] == 5


# --- W and W+ (style-based models) -----------------------------------------------------------------


@pytest.fixture(scope="module")
def style(tmp_path_factory):
    """A 32 px, 16-d random style-based DCGAN (2 mapping layers)."""
    torch.manual_seed(0)
    cfg = DCGANConfig(resolution=32, ngf=8, ndf=8, latent_dim=16, g_norm="none", mapping_layers=2)
    gen = build_generator(cfg).eval()
    return load_bundle(save_bundle(tmp_path_factory.mktemp("model") / "style", gen, cfg, name="style"))


def rendered_w(bundle, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(w (D,) = mapping(z of `seed`), its image (R, R, 3) uint8)."""
    G = bundle.generator
    z = torch.randn(1, G.latent_dim, generator=torch.Generator().manual_seed(seed))
    with torch.no_grad():
        w = G.mapping(z)
        return w[0].numpy(), to_pixels(synthesize(G, w, "w"))[0]


def test_style_models_project_into_w_plus_and_beat_the_start(style):
    G = style.generator
    _, target = rendered_w(style, seed=1234)  # its z is not among the seeded candidates (seed 0)
    r = project(style, target, steps=40)
    assert r.space == best_space(G) == "w+" and r.latent.shape == (G.num_ws, G.w_dim)
    with torch.no_grad():
        start = to_pixels(synthesize(G, w_stats(G).avg[None], "w"))[0]  # where stylegan2-ada starts
        again = to_pixels(synthesize(G, torch.from_numpy(r.latent)[None], "w+"))[0]
    assert np.array_equal(r.image, again)
    random = [psnr(rendered_w(style, seed=s)[1], target) for s in (1, 2, 3)]
    assert r.psnr > psnr(start, target) + 3 and r.psnr > max(random) + 3, (
        r.psnr,
        psnr(start, target),
        random,
    )
    assert r.record()["space"] == "w+"


def test_w_projection_is_one_w_near_the_mapping_outputs(style):
    G = style.generator
    w_true, target = rendered_w(style, seed=77)
    stats = w_stats(G)
    r = project(style, target, space="w", steps=40, restarts=1)
    assert r.latent.shape == (G.w_dim,) and r.space == "w"
    before = np.linalg.norm(stats.avg.numpy() - w_true)
    assert np.linalg.norm(r.latent - w_true) < before  # moved from w_avg toward the true w
    assert np.linalg.norm(r.latent - stats.avg.numpy()) < 3 * stats.std  # the prior keeps it in W's bulk


def test_w_stats_are_stylegan2_adas_mean_and_rms_distance(style):
    G = style.generator
    stats = w_stats(G, samples=500, seed=5)
    with torch.no_grad():
        w = G.mapping(torch.randn(500, G.latent_dim, generator=torch.Generator().manual_seed(5)))
    torch.testing.assert_close(stats.avg, w.mean(0))
    assert stats.std == pytest.approx(float(((w - w.mean(0)) ** 2).sum(1).mean().sqrt()), rel=1e-5)


def test_w_schedules_follow_stylegan2_ada():
    steps = 1000
    assert _ramp_lr(0, steps, 0.1) == 0  # ramp up over the first 5%
    assert _ramp_lr(25, steps, 0.1) == pytest.approx(0.05)
    assert _ramp_lr(500, steps, 0.1) == pytest.approx(0.1)
    assert _ramp_lr(875, steps, 0.1) == pytest.approx(0.05)  # half-way down the last 25% (cosine)
    assert _w_noise(0, steps, 2.0) == pytest.approx(0.1)  # w_std x 0.05
    assert _w_noise(375, steps, 2.0) == pytest.approx(0.025)  # x (1 - 0.5)^2
    assert _w_noise(750, steps, 2.0) == 0 == _w_noise(999, steps, 2.0)


def test_a_projection_round_trips_through_its_file_with_its_space(style, tmp_path):
    image = tmp_path / "face.png"
    image.write_bytes(png_bytes(rendered_w(style, seed=9)[1]))
    r = project_image(style, image, steps=5)
    latent, _ = save_projection(tmp_path / "me.json", r, style)
    assert latents_space(latent) == "w+" and load_projection_record(latent)["space"] == "w+"
    G = style.generator
    x = load_latents(latent, (G.num_ws, G.w_dim), space="w+")
    assert x.shape == (1, G.num_ws, G.w_dim) and np.array_equal(x[0], r.latent)  # bit-exact
    assert projection_for(load_projection_record(latent), x[0]) is not None
    assert np.array_equal(Editor(style, space="w+").read_latents(latent)[0], r.latent)
    with pytest.raises(LatentkitError, match=r"save w\+ latents as \.json"):
        save_projection(tmp_path / "me.npy", r, style)
    w = project(style, rendered_w(style, seed=9)[1], space="w", steps=3, restarts=1)
    assert latents_space(save_projection(tmp_path / "w.json", w)[0]) == "w"


def test_z_only_models_project_in_z_as_before(tiny):
    target = rendered(tiny, seed=5)
    r = project(tiny, target, steps=10)
    assert r.space == best_space(tiny.generator) == "z" and r.latent.shape == (16,)
    assert np.array_equal(r.latent, project(tiny, target, steps=10, space="z").latent)
    assert r.record()["space"] == "z"
    with pytest.raises(LatentkitError, match="projection: the model has no W space"):
        project(tiny, target, space="w", steps=1)


def test_cli_project_space_w_on_a_z_only_model_exits_2_with_one_line(tiny, tmp_path, capsys):
    image = tmp_path / "face.png"
    image.write_bytes(png_bytes(rendered(tiny, seed=4)))
    code = main(["project", str(image), "--model", str(tiny.path), "--space", "w", "--out",
                 str(tmp_path / "w.json"), "--no-progress"])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1
    assert "--space: the model has no W space (a Z-only generator; latents are z)" in err
    assert not (tmp_path / "w.json").exists()


def test_cli_project_a_style_model_into_w_plus_then_edit_it(style, tmp_path, capsys):
    image = tmp_path / "face.png"
    image.write_bytes(png_bytes(rendered_w(style, seed=4)[1]))
    args = ["project", str(image), "--model", str(style.path), "--steps", "3", "--no-progress"]
    assert main([*args, "--out", str(tmp_path / "me.npy")]) == 2
    assert "save w+ latents as .json" in capsys.readouterr().err
    assert main([*args, "--out", str(tmp_path / "me.json")]) == 0
    assert "(w+)" in capsys.readouterr().out
    assert json.loads((tmp_path / "me.projection.json").read_text())["space"] == "w+"
    assert main(["edit", "--model", str(style.path), "--latent", str(tmp_path / "me.json"),
                 "--out", str(tmp_path / "edited"), "--no-progress"]) == 0  # fmt: skip
    m = verify_image(tmp_path / "edited" / "latent0000.png").manifest
    assert m["projection"]["space"] == "w+"
