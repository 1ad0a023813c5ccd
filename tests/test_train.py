"""The training loop: every loss learns, resume is exact, crashes lose nothing, bad options fail early."""

import dataclasses
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import safetensors.torch
import torch

from latentkit.data.mixtures import assign_modes
from latentkit.errors import LatentkitError
from latentkit.models.bundle import load_bundle
from latentkit.train import losses
from latentkit.train.config import TrainConfig
from latentkit.train.ema import ema_decay, half_life_beta, update_ema
from latentkit.train.loop import train
from latentkit.train.monitor import VANISHING_STEPS, RunLog, plot_run, read_log
from latentkit.train.recipes import apply_recipe, recipe_for

TINY_FACES = {
    "dataset": "faces",
    "size": 32,
    "data_n": 256,
    "batch_size": 8,
    "model": {"latent_dim": 16, "ngf": 8, "ndf": 8},
    "log_every": 2,
    "sample_every": 1000,
    "checkpoint_every": 1000,
}


def tiny_faces(**kw) -> TrainConfig:
    return TrainConfig(**{**TINY_FACES, **kw})


def ring(loss: str, steps: int, **kw) -> TrainConfig:
    d_norm = "layer" if loss == "wgan-gp" else "none"
    model = {"latent_dim": 8, "hidden": 64, "depth": 2, "g_norm": "none", "d_norm": d_norm}
    return TrainConfig(
        dataset="ring", data_n=4096, model=model, loss=loss, steps=steps, batch_size=128, ema=0.0,
        log_every=50, sample_every=10_000, checkpoint_every=10_000, **kw,
    )  # fmt: skip


def weights(run, name="module.G.") -> dict:
    (ckpt,) = sorted((run / "checkpoints").glob("step-*.safetensors"))[-1:]
    tensors = safetensors.torch.load(ckpt.read_bytes())
    return {k: v for k, v in tensors.items() if k.startswith(name)}


def mean_distance_to_modes(run) -> float:
    G = load_bundle(run).generator
    with torch.no_grad():
        x = G(torch.randn(2000, G.latent_dim, generator=torch.Generator().manual_seed(1)))
    return float(assign_modes(x.numpy(), "ring")[1].mean())


@pytest.mark.parametrize(
    ("loss", "steps", "lr"),
    [("ns", 500, 1e-3), ("minimax", 500, 1e-3), ("wgan", 200, 3e-3), ("wgan-gp", 1200, 1e-3),
     ("hinge", 500, 1e-3), ("lsgan", 500, 1e-3)],
)  # fmt: skip
# wgan-gp: at 400 steps the ratio was 0.58-0.90 over seeds 0-2 and CPUs (0.697 against the 0.7 bound on
# seed 0); at 1,200 steps 0.42-0.52, so the test checks the loss, not a CPU's rounding.
def test_every_loss_moves_samples_toward_the_ring(loss, steps, lr, tmp_path):
    before = train(ring(loss, steps=1, lr_g=lr, lr_d=lr), tmp_path / "a", progress=False)
    after = train(ring(loss, steps=steps, lr_g=lr, lr_d=lr), tmp_path / "b", progress=False)
    start, end = mean_distance_to_modes(before), mean_distance_to_modes(after)
    rows = read_log(after)
    assert all(np.isfinite(r["loss_d"]) and np.isfinite(r["loss_g"]) for r in rows)
    assert end < 0.7 * start, f"{loss}: distance to the nearest mode {start:.3f} -> {end:.3f}"


def test_log_lines_carry_the_game_state(tmp_path):
    run = train(tiny_faces(steps=6), tmp_path / "run", progress=False)
    rows = read_log(run)
    assert [r["step"] for r in rows] == [2, 4, 6]
    keys = {"step", "time", "loss_d", "loss_g", "d_real", "d_fake", "js", "grad_norm_d", "grad_norm_g"}
    assert keys <= set(rows[0]) and "img_per_s" in rows[0]
    assert all(0 <= r["d_real"] <= 1 and 0 <= r["js"] <= np.log(2) for r in rows)
    saved = json.loads((run / "config.json").read_text())
    assert saved["steps"] == 6 and saved["model"]["ngf"] == 8
    assert (run / "samples" / "step-00000006.png").exists()
    assert plot_run(run).stat().st_size > 10_000


def test_ema_generator_differs_from_raw_weights(tmp_path):
    run = train(tiny_faces(steps=5, ema=0.9), tmp_path / "run", progress=False)
    raw, ema = weights(run, "module.G."), weights(run, "module.G_ema.")
    key = "module.G.net.0.weight" if "module.G.net.0.weight" in raw else sorted(raw)[0]
    assert not torch.equal(raw[key], ema[key.replace("module.G.", "module.G_ema.")])


def test_same_seed_deterministic_runs_are_bit_identical(tmp_path):
    a = weights(train(tiny_faces(steps=4, deterministic=True), tmp_path / "a", progress=False))
    b = weights(train(tiny_faces(steps=4, deterministic=True), tmp_path / "b", progress=False))
    c = weights(train(tiny_faces(steps=4, deterministic=True, seed=1), tmp_path / "c", progress=False))
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not all(torch.equal(a[k], c[k]) for k in a)


@pytest.mark.parametrize("loss", ["ns", "wgan-gp"])
def test_resumed_run_equals_an_uninterrupted_run_bit_for_bit(loss, tmp_path):
    kw = {"loss": loss, "model": {"latent_dim": 16, "ngf": 8, "ndf": 8, "d_norm": "layer"}}
    full = train(tiny_faces(steps=8, **kw), tmp_path / "full", progress=False)
    half = train(tiny_faces(steps=4, **kw), tmp_path / "half", progress=False)
    train(tiny_faces(steps=8, **kw), half, resume=True, progress=False)
    a, b = weights(full, "module."), weights(half, "module.")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert [r["step"] for r in read_log(half)] == [r["step"] for r in read_log(full)]


def test_new_run_refuses_a_folder_with_checkpoints(tmp_path):
    run = train(tiny_faces(steps=2), tmp_path / "run", progress=False)
    with pytest.raises(LatentkitError, match="--resume"):
        train(tiny_faces(steps=4), run, progress=False)


def test_nan_loss_stops_with_the_step_and_keeps_the_last_checkpoint(tmp_path, monkeypatch):
    calls = {"n": 0}
    original = losses.NonSaturatingLoss.d_loss

    def poisoned(self, real_logits, fake_logits):
        calls["n"] += 1
        value = original(self, real_logits, fake_logits)
        return value * float("nan") if calls["n"] == 6 else value

    monkeypatch.setattr(losses.NonSaturatingLoss, "d_loss", poisoned)
    with pytest.raises(LatentkitError, match="step 6: loss_d is nan"):
        train(tiny_faces(steps=10, checkpoint_every=4), tmp_path / "run", progress=False)
    ckpts = sorted(p.name for p in (tmp_path / "run" / "checkpoints").iterdir())
    assert ckpts == ["step-00000004.safetensors"]
    load_bundle(tmp_path / "run")  # the bundle from step 4 is intact


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--loss", "nope"], "loss='nope' is unknown"),
        (["--size", "48"], "size=48 must be a power of two"),
        (["--loss", "wgan-gp"], "d_norm=batch is invalid with a gradient penalty"),
        (["--r1-gamma", "1"], "d_norm=batch is invalid with a gradient penalty"),
        (["--loss", "wgan", "--r2-gamma", "1"], "r2 makes no sense with loss=wgan"),
        (["--gamma-schedule", "linear"], "gamma_schedule='linear' is not one of constant, cosine"),
        (["--reg-every", "0"], "reg_every=0 must be a positive integer"),
        (["--dataset", "/no/such/folder"], "no such folder"),
        (["--d-norm", "fancy"], "d_norm='fancy' is not one of"),
        (["--ema", "1.5"], "ema=1.5"),
        (["--steps", "0"], "steps=0"),
        (["--style-mixing", "0.9"], "style_mixing=0.9 needs a style-based generator"),
        (["--style-mixing", "2"], "style_mixing=2.0 must be in [0, 1]"),
    ],
)
def test_bad_options_exit_2_with_one_line_before_any_work(args, message, cli, tmp_path):
    out = tmp_path / "run"
    r = cli("train", "--size", "32", "--data-n", "64", "--steps", "2", "--out", out, *args)
    assert r.returncode == 2, r.stderr
    assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert message in r.stderr
    assert not (out / "checkpoints").exists()


def test_config_file_sets_options_and_flags_override_it(cli, tmp_path):
    conf = tmp_path / "run.toml"
    conf.write_text(
        'dataset = "faces"\nsize = 32\ndata_n = 64\nsteps = 3\nbatch_size = 4\nlog_every = 1\n'
        "[model]\nngf = 8\nndf = 8\nlatent_dim = 8\n"
    )
    r = cli("train", "--config", conf, "--steps", "2", "--out", tmp_path / "run", "--no-progress")
    assert r.returncode == 0, r.stderr
    saved = json.loads((tmp_path / "run" / "config.json").read_text())
    assert saved["steps"] == 2 and saved["model"]["ngf"] == 8 and saved["batch_size"] == 4
    bad = tmp_path / "bad.json"
    bad.write_text('{"steps": 2, "learning_rate": 1}')
    r = cli("train", "--config", bad, "--out", tmp_path / "run2")
    assert r.returncode == 2 and "unknown option 'learning_rate'" in r.stderr and str(bad) in r.stderr


def test_kill_9_mid_run_then_resume_finishes_from_a_valid_checkpoint(tmp_path):
    out = tmp_path / "run"
    args = [
        sys.executable, "-m", "latentkit", "train", "--dataset", "faces", "--size", "32", "--data-n", "128",
        "--batch-size", "8", "--ngf", "8", "--ndf", "8", "--latent-dim", "8", "--steps", "400",
        "--checkpoint-every", "3", "--keep-checkpoints", "2", "--sample-every", "1000", "--no-progress",
        "--out", str(out),
    ]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.time() + 120
    while time.time() < deadline and len(list((out / "checkpoints").glob("step-*.safetensors"))) < 2:
        time.sleep(0.05)
    time.sleep(0.37)  # somewhere mid-step or mid-write
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    args[args.index("400")] = "30"
    r = subprocess.run([*args, "--resume"], env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    steps = [row["step"] for row in read_log(out)]
    assert steps == sorted(steps) and steps[-1] == 30 and len(steps) == len(set(steps))
    assert weights(out)  # the final checkpoint loads and verifies


def test_two_process_torchrun_keeps_replicas_identical_and_writes_one_log(tmp_path):
    out = tmp_path / "run"
    cmd = [
        sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--master_port=29613",
        "-m", "latentkit", "train", "--dataset", "faces", "--size", "32", "--data-n", "128",
        "--batch-size", "8", "--ngf", "8", "--ndf", "8", "--latent-dim", "8", "--steps", "6",
        "--log-every", "2", "--no-progress", "--out", str(out),
    ]  # fmt: skip
    r = subprocess.run(
        cmd, env={**os.environ, "OMP_NUM_THREADS": "1"}, capture_output=True, text=True, timeout=300
    )
    assert r.returncode == 0, r.stderr[-2000:]
    lines = [json.loads(x) for x in (out / "log.jsonl").read_text().splitlines()]
    assert [x["step"] for x in lines if "loss_d" in x] == [2, 4, 6]  # one writer
    (replicas,) = [x for x in lines if x.get("event") == "replicas"]
    assert replicas["identical"] is True
    assert r.stdout.count("run written") == 1


def test_bundle_saves_any_checkpoint_step_like_the_run_saves_its_own(cli, tmp_path):
    run = tmp_path / "run"
    train(tiny_faces(steps=4, checkpoint_every=2), run, progress=False)
    # The newest step's bundle is the one the loop wrote into RUN/bundle (up to float rounding:
    # the loop's copy ran its BatchNorm recalibration in channels_last).
    r = cli("bundle", run, "--out", tmp_path / "newest")
    assert r.returncode == 0, r.stderr
    assert "ema generator" in r.stdout and "step 4" in r.stdout
    ours, loops = (load_bundle(p).generator.state_dict() for p in (tmp_path / "newest", run / "bundle"))
    assert ours.keys() == loops.keys()
    assert all(torch.allclose(ours[k].float(), loops[k].float(), rtol=1e-4, atol=1e-6) for k in ours)
    r = cli("bundle", run, "--step", "2", "--raw", "--name", "early", "--out", tmp_path / "early")
    assert r.returncode == 0, r.stderr
    early = load_bundle(tmp_path / "early")
    config = json.loads((tmp_path / "early" / "config.json").read_text())
    assert early.name == "early" and config["run"]["step"] == 2 and config["run"]["generator"] == "raw"
    own = json.loads((run / "bundle" / "config.json").read_text())["run"]
    assert config["run"]["precision"] == own["precision"]  # the run's precision, as its own bundle has it
    raw = {k[len("module.G.") :]: v for k, v in weights(run).items()}  # step 4's raw G differs from step 2's
    assert any(not torch.equal(raw[k], v) for k, v in early.generator.state_dict().items() if k in raw)
    r = cli("bundle", run, "--step", "3", "--out", tmp_path / "none")
    assert r.returncode == 2 and "no checkpoint at step 3 (steps: 2, 4)" in r.stderr
    assert not (tmp_path / "none").exists()


# ---- the generator's moving average, by half-life in images ------------------------------------------


def test_ema_beta_is_half_to_the_batch_over_the_half_life_with_a_ramp_up():
    assert half_life_beta(10**6, 100, 10.0, 0.05) == pytest.approx(0.5 ** (100 / 10_000))
    assert half_life_beta(1000, 100, 10.0, 0.05) == pytest.approx(0.25)  # ramp-up: half-life 50 images
    assert half_life_beta(0, 100, 10.0, 0.05) == 0.0  # the first update copies G
    assert half_life_beta(0, 100, 10.0, 0.0) == pytest.approx(0.5 ** (100 / 10_000))
    assert half_life_beta(10**6, 100, 0.0, 0.05) == 0.0  # off: G_ema is G


@pytest.mark.parametrize("batch", [16, 50, 400])
def test_after_one_half_life_in_images_the_average_is_halfway_whatever_the_batch(batch):
    G_ema, G = torch.nn.Linear(1, 1, bias=False), torch.nn.Linear(1, 1, bias=False)
    with torch.no_grad():
        G_ema.weight.fill_(0.0), G.weight.fill_(1.0)
    for step in range(4000 // batch):  # 4,000 images, the half-life, no ramp-up
        update_ema(G_ema, G, ema_decay(None, 4.0, 0.0, step, batch))
    assert G_ema.weight.item() == pytest.approx(0.5, abs=1e-6)


def test_a_fixed_decay_keeps_its_old_warm_up_and_cannot_be_mixed_with_a_half_life():
    assert ema_decay(0.999, None, 0.05, 0, 64) == pytest.approx(0.1)
    assert ema_decay(0.999, None, 0.05, 10**6, 64) == 0.999
    assert ema_decay(None, None, 0.05, 10**6, 64) == pytest.approx(0.5 ** (64 / 10_000))  # default 10 kimg
    with pytest.raises(LatentkitError, match=r"ema=0\.99 and ema_kimg=5\.0 both set the moving average"):
        TrainConfig(ema=0.99, ema_kimg=5.0).validate()


def test_a_run_saved_before_half_lives_still_loads_and_resumes_bit_identically(tmp_path):
    kw = {"ema": 0.9, "model": {"latent_dim": 16, "ngf": 8, "ndf": 8, "d_norm": "layer"}}
    full = train(tiny_faces(steps=6, **kw), tmp_path / "full", progress=False)
    half = train(tiny_faces(steps=3, **kw), tmp_path / "half", progress=False)
    saved = json.loads((half / "config.json").read_text())
    new_keys = ("r2_gamma", "reg_every", "gamma_schedule", "ema_kimg", "ema_rampup", "precision")
    (half / "config.json").write_text(json.dumps({k: v for k, v in saved.items() if k not in new_keys}))
    train(tiny_faces(steps=6, **kw), half, resume=True, progress=False)
    a, b = weights(full, "module."), weights(half, "module.")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


# ---- per-dataset recipes ---------------------------------------------------------------------------


def test_the_ring_recipe_fills_only_what_the_user_left_unset():
    cfg = TrainConfig.from_dict(apply_recipe({"dataset": "ring", "steps": 50, "model": {"hidden": 32}}))
    assert (cfg.loss, cfg.r1_gamma, cfg.r2_gamma, cfg.beta1, cfg.beta2) == ("rpgan", 0.1, 0.1, 0.0, 0.99)
    assert (cfg.steps, cfg.lr_schedule, cfg.gamma_schedule, cfg.batch_size) == (50, "cosine", "cosine", 100)
    assert cfg.model == {**recipe_for("ring")["model"], "hidden": 32}
    assert recipe_for("grid") == {**recipe_for("ring"), "steps": 20_000}


def test_another_loss_or_an_image_dataset_takes_no_recipe():
    assert apply_recipe({"dataset": "ring", "loss": "ns"}) == {"dataset": "ring", "loss": "ns"}
    assert apply_recipe({"dataset": "faces", "steps": 3}) == {"dataset": "faces", "steps": 3}
    assert apply_recipe({}) == {}  # the default dataset (faces) has none yet


def test_the_command_line_applies_the_recipe_to_new_runs_only(tmp_path):
    from latentkit.cli import build_parser
    from latentkit.cli.train import _train_config

    args = build_parser().parse_args(
        ["train", "--dataset", "grid", "--out", str(tmp_path / "r"), "--lr-g", "3e-4"]
    )
    cfg = _train_config(args)
    assert (cfg.loss, cfg.lr_g, cfg.lr_d, cfg.r2_gamma) == ("rpgan", 3e-4, 1e-3, 0.1)
    (tmp_path / "r").mkdir()
    (tmp_path / "r" / "config.json").write_text(json.dumps({"dataset": "grid", "loss": "ns", "ema": 0.999}))
    resumed = _train_config(build_parser().parse_args(["train", "--out", str(tmp_path / "r"), "--resume"]))
    assert (resumed.loss, resumed.r2_gamma, resumed.ema) == ("ns", 0.0, 0.999)


def test_points_take_no_moving_average_unless_asked(tmp_path):
    cfg = dataclasses.replace(ring("rpgan", steps=3, r1_gamma=0.1, r2_gamma=0.1), ema=None)
    run = train(cfg, tmp_path / "run", progress=False)
    raw, ema = weights(run, "module.G."), weights(run, "module.G_ema.")
    assert all(torch.equal(v, ema[k.replace("module.G.", "module.G_ema.")]) for k, v in raw.items())


@pytest.mark.slow
def test_the_ring_default_covers_at_least_7_modes(tmp_path):
    from latentkit.cli import build_parser
    from latentkit.cli.train import _train_config
    from latentkit.metrics.modes import mode_metrics

    args = build_parser().parse_args(["train", "--dataset", "ring", "--out", str(tmp_path / "r")])
    run = train(_train_config(args), tmp_path / "r", progress=False)
    G = load_bundle(run).generator
    with torch.no_grad():
        x = G(torch.randn(2500, G.latent_dim, generator=torch.Generator().manual_seed(123)))
    metrics = mode_metrics(x.numpy(), "ring")
    assert metrics["modes_covered"] >= 7, metrics


# --- the vanishing-gradient warning speaks only for losses whose D outputs are probabilities ---------


def _low_d_fake_lines(log: RunLog, n: int) -> list[str | None]:
    return [log.check_health({"step": i, "d_fake": 0.001}) for i in range(n)]


def test_a_stuck_d_fake_warns_once_for_the_bce_losses_and_is_logged(tmp_path):
    log = RunLog(tmp_path / "log.jsonl", watch_d_fake=losses.LOSSES["ns"].probabilities)
    warnings = [w for w in _low_d_fake_lines(log, 2 * VANISHING_STEPS) if w]
    log.close()
    assert len(warnings) == 1 and "D(G(z)) has stayed below" in warnings[0]
    lines = [json.loads(x) for x in (tmp_path / "log.jsonl").read_text().splitlines()]
    assert [r["kind"] for r in lines if r.get("event") == "warning"] == ["vanishing"]


def test_critic_and_relativistic_losses_never_raise_the_vanishing_warning(tmp_path):
    # sigmoid of a WGAN/hinge critic or of RpGAN's shift-invariant logits is no probability: a low
    # value there says nothing about G's gradients (the warning fired on every R3GAN-recipe run).
    assert {name for name, cls in losses.LOSSES.items() if cls.probabilities} == {"ns", "minimax"}
    log = RunLog(tmp_path / "log.jsonl", watch_d_fake=losses.LOSSES["rpgan"].probabilities)
    assert not any(_low_d_fake_lines(log, 2 * VANISHING_STEPS))
    log.close()
    assert (tmp_path / "log.jsonl").read_text() == ""
