"""The mode-collapse benchmark: the papers' presets, the maxout D, and the resumable harness."""

import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from latentkit.errors import LatentkitError
from latentkit.models import build_discriminator, build_generator
from latentkit.models.config import MLPConfig, config_for_data, model_config_from_dict
from latentkit.models.mlp import Maxout
from latentkit.train.config import TrainConfig
from latentkit.train.presets import PRESETS, preset_config

ROOT = Path(__file__).resolve().parents[1]


def _harness():
    spec = importlib.util.spec_from_file_location("mode_collapse", ROOT / "benchmarks" / "mode_collapse.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["mode_collapse"] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def n_params(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


@pytest.mark.parametrize("pack", [1, 2, 4])
def test_pacgan2d_preset_builds_pacgans_networks(pack):
    cfg = preset_config("pacgan2d", "grid", pack=pack)
    mcfg = config_for_data(cfg["model"], (2,))
    # G (fjxmlzn/PacGAN, synthetic_data_experiments): 2 -> 4 x [Linear 400 without bias, BatchNorm 400
    # (scale, shift), ReLU] -> Linear 2 with bias.
    g = 2 * 400 + 3 * 400 * 400 + (400 * 2 + 2) + 4 * 2 * 400
    # D: maxout (2 pack -> 200 x 5 pieces), two maxout (200 -> 200 x 5), Linear 200 -> 1.
    d = (2 * pack * 1000 + 1000) + 2 * (200 * 1000 + 1000) + 201
    assert (n_params(build_generator(mcfg)), n_params(build_discriminator(mcfg))) == (g, d)
    assert (g, d) == (484_802, 405_201 + 2000 * (pack - 1))
    # 100 D examples of `pack` points each, 400 epochs of 100,000 / 100 = 400,000 steps.
    assert (cfg["batch_size"], cfg["steps"], cfg["data_n"]) == (100 * pack, 400_000, 100_000)
    assert (cfg["loss"], cfg["lr_g"], cfg["lr_d"], cfg["beta1"]) == ("ns", 1e-4, 1e-4, 0.8)
    assert preset_config("pacgan2d", "ring", steps=5000)["steps"] == 5000
    TrainConfig.from_dict(cfg).validate()


def test_veegan_stacked_preset_is_the_dcgan_setting_of_pacgan_table_2():
    cfg = preset_config("veegan-stacked", pack=2)
    assert cfg["dataset"] == "stacked-digits" and cfg["model"]["kind"] == "dcgan"
    assert (cfg["steps"], cfg["batch_size"], cfg["lr_g"], cfg["beta1"]) == (100_000, 128, 2e-4, 0.5)
    assert cfg["model"]["latent_dim"] == 100 and PRESETS["veegan-stacked"].eval_samples == 26_000
    TrainConfig.from_dict(cfg).validate()
    with pytest.raises(LatentkitError, match="preset veegan-stacked: dataset 'ring'"):
        preset_config("veegan-stacked", "ring")


def test_maxout_takes_the_max_of_its_pieces():
    layer = Maxout(3, 2, pieces=4)
    x = torch.randn(5, 3)
    pieces = layer.linear(x).view(5, 2, 4)
    torch.testing.assert_close(layer(x), pieces.max(-1).values)


def test_an_mlp_config_without_the_new_fields_builds_the_same_networks_as_before():
    cfg = model_config_from_dict(
        {"kind": "mlp", "latent_dim": 4, "hidden": 16, "depth": 2, "d_norm": "spectral"}
    )
    assert (cfg.d_width, cfg.d_layers, cfg.d_act, cfg.g_bias) == (16, 2, "leaky", "yes")
    G, D = build_generator(cfg), build_discriminator(cfg)
    # The keys of the networks before maxout existed (checked against that version of mlp.py).
    assert list(G.state_dict()) == [f"net.{i}.{p}" for i in (0, 2, 4) for p in ("weight", "bias")]
    sn = (
        "bias",
        "parametrizations.weight.original",
        "parametrizations.weight.0._u",
        "parametrizations.weight.0._v",
    )
    assert list(D.state_dict()) == [f"{m}.{p}" for m in ("trunk.0", "trunk.2", "head") for p in sn]
    with pytest.raises(LatentkitError, match="d_hidden=-1 must be in 0"):
        MLPConfig(d_hidden=-1).validate()


def test_harness_continues_an_interrupted_run_and_skips_finished_ones(tmp_path, monkeypatch):
    mc = _harness()
    results, work = tmp_path / "results", tmp_path / "work"
    job = mc.Job("ring", "PacGAN2", seed=0, steps=6, eval_every=3)
    assert mc.pending([job], results) == [job]
    evaluate, calls = mc.evaluate, []

    def interrupted(*args, **kwargs):  # the sitting ends during the second evaluation
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return evaluate(*args, **kwargs)

    monkeypatch.setattr(mc, "evaluate", interrupted)
    with pytest.raises(KeyboardInterrupt):
        mc.run_job(job, results, work)
    run = work / "ring" / "pacgan2" / "steps-6-seed-0"
    assert [c["step"] for c in json.loads((run / "curve.json").read_text())] == [3]
    assert mc.pending([job], results) == [job]
    monkeypatch.setattr(mc, "evaluate", evaluate)
    path = mc.run_job(job, results, work)  # the next sitting continues from step 3's evaluation
    assert path == results / "ring" / "pacgan2" / "steps-6-seed-0.json"
    doc = json.loads(path.read_text())
    assert [c["step"] for c in doc["curve"]] == [3, 6]
    assert doc["steps"] == 6 and doc["config"]["model"]["pack"] == 2 and doc["config"]["batch_size"] == 200
    assert set(doc["metrics"]) == {"modes_covered", "high_quality", "reverse_kl"} and doc["cpu_seconds"] > 0
    assert mc.decode_points(doc["samples"]).shape == (2500, 2) and not run.exists()
    other = mc.Job("ring", "PacGAN2", seed=1, steps=6)
    assert mc.pending([job, other], results) == [other]


def test_a_chunk_stopped_mid_training_is_not_scored_and_the_next_sitting_finishes_it(tmp_path, monkeypatch):
    import dataclasses

    from latentkit.train import loop

    mc = _harness()
    results, work = tmp_path / "results", tmp_path / "work"
    job = mc.Job("ring", "PacGAN2", seed=0, steps=6, eval_every=3)
    train, scored = loop.train, []

    def stopped_at_step_4(cfg, out, **kwargs):  # as Ctrl-C does: a checkpoint at step 4, a normal return
        return train(dataclasses.replace(cfg, steps=min(cfg.steps, 4)), out, **kwargs)

    monkeypatch.setattr(loop, "train", stopped_at_step_4)
    monkeypatch.setattr(mc, "evaluate", lambda *a, **k: scored.append(1) or {m: 0.0 for m in mc.METRICS})
    with pytest.raises(KeyboardInterrupt):
        mc.run_job(job, results, work)
    run = work / "ring" / "pacgan2" / "steps-6-seed-0"
    assert [c["step"] for c in json.loads((run / "curve.json").read_text())] == [3] and len(scored) == 1
    unscored = json.loads((run / "unscored_cpu.json").read_text())["cpu_seconds"]
    assert unscored > 0  # the stopped chunk's CPU time is kept for the sitting that finishes it

    monkeypatch.undo()  # the next sitting trains and scores as usual
    doc = json.loads(mc.run_job(job, results, work).read_text())
    assert [c["step"] for c in doc["curve"]] == [3, 6]
    assert doc["cpu_seconds"] >= doc["curve"][0]["cpu_seconds"] + unscored


def test_a_scheduled_run_trained_in_one_chunk_still_has_a_curve_from_its_checkpoints(tmp_path):
    from latentkit.train.checkpoint import checkpoint_name, load_checkpoint
    from latentkit.train.snapshot import checkpoint_generator

    mc = _harness()
    results, work = tmp_path / "results", tmp_path / "work"
    job = mc.Job("ring", "latentkit recipe (RpGAN + R1 + R2)", seed=0, steps=6, eval_every=2)
    assert mc._scheduled(job.config())  # cosine schedules: the run cannot be trained in chunks
    doc = json.loads(mc.run_job(job, results, work, keep_run=True).read_text())
    assert [c["step"] for c in doc["curve"]] == [2, 4, 6]
    assert [c["cpu_seconds"] is None for c in doc["curve"]] == [True, True, False]
    ckpt = load_checkpoint(
        work / "ring" / mc.slug(job.method) / "steps-6-seed-0" / "checkpoints" / checkpoint_name(4)
    )
    m = mc.evaluate(checkpoint_generator(ckpt)[0], "ring", 0)
    assert {k: doc["curve"][1][k] for k in mc.METRICS} == {k: m[k] for k in mc.METRICS}


def test_a_run_another_harness_process_is_training_is_left_to_it(tmp_path):
    mc = _harness()
    results, work = tmp_path / "results", tmp_path / "work"
    job = mc.Job("ring", "PacGAN2", seed=0, steps=2, eval_every=2)
    run = work / "ring" / "pacgan2" / "steps-2-seed-0"
    with mc.claimed(run) as mine:
        assert mine
        assert mc.run_job(job, results, work) is None  # a second claimant trains nothing
        assert not job.path(results).exists() and not run.exists()
    assert mc.run_job(job, results, work) == job.path(results)  # the lock went with its holder
    assert json.loads(job.path(results).read_text())["steps"] == 2


def test_the_ema_method_scores_the_moving_average_and_the_plain_recipe_does_not():
    mc = _harness()
    plain = TrainConfig.from_dict(mc.Job("grid", "latentkit recipe, long (RpGAN + R1 + R2)", 0).config())
    ema = TrainConfig.from_dict(mc.Job("grid", "latentkit recipe, long + EMA (RpGAN + R1 + R2)", 0).config())
    assert (plain.ema, plain.ema_kimg) == (0.0, None)
    assert (ema.ema, ema.ema_kimg) == (None, 50.0)
    assert {**vars(plain), "ema": None, "ema_kimg": 50.0} == vars(ema)  # the same run otherwise
    assert ema.steps == 40_000 and ema.loss == "rpgan" and ema.gamma_schedule == "cosine"
    best = mc.Job("grid", "latentkit recipe, long + EMA, constant gamma (RpGAN + R1 + R2)", 0).config()
    assert vars(TrainConfig.from_dict(best)) == {**vars(ema), "gamma_schedule": "constant"}
    raw = TrainConfig.from_dict(mc.Job("stacked-digits", "RpGAN + R1 + R2", 0).config())
    avg = TrainConfig.from_dict(mc.Job("stacked-digits", "RpGAN + R1 + R2 + EMA", 0).config())
    assert (raw.ema, raw.ema_kimg) == (0.0, None)
    assert {**vars(raw), "ema": None, "ema_kimg": 10.0} == vars(avg)


def test_checkpoint_scores_read_the_raw_and_the_averaged_generator_of_every_checkpoint(tmp_path):
    from latentkit.models.bundle import load_bundle
    from latentkit.train.checkpoint import load_checkpoint
    from latentkit.train.loop import train
    from latentkit.train.snapshot import checkpoint_generator, find_checkpoint

    mc, run = _harness(), tmp_path / "run"
    cfg = {"dataset": "ring", "steps": 4, "batch_size": 16, "checkpoint_every": 2, "log_every": 2,
           "sample_every": 4, "ema_kimg": 0.1, "model": {"hidden": 16, "depth": 2}}  # fmt: skip
    train(TrainConfig.from_dict(cfg), run, progress=False)
    rows = mc.checkpoint_scores(run, n=500)
    assert [r["step"] for r in rows] == [2, 4]
    raw = checkpoint_generator(load_checkpoint(find_checkpoint(run, 4)), ema=False)[0]
    scores = {
        k: mc.evaluate(g, "ring", 0, n=500)
        for k, g in (("raw", raw), ("ema", load_bundle(run / "bundle").generator))
    }
    for k in ("raw", "ema"):
        assert rows[-1][k] == {m: scores[k][m] for m in ("modes_covered", "high_quality", "reverse_kl")}
    assert not np.array_equal(scores["raw"]["x"], scores["ema"]["x"])  # two generators, not one twice


def _result(dataset, method, seed, steps, modes, hq, kl):
    metrics = {"modes_covered": modes, "high_quality": hq, "reverse_kl": kl}
    return {"dataset": dataset, "method": method, "seed": seed, "steps": steps, "metrics": metrics,
            "cpu_seconds": 10.0 * (seed + 1), "curve": [{"step": steps, **metrics}]}  # fmt: skip


def test_rebuild_makes_the_page_and_json_from_the_result_files_alone(tmp_path):
    mc = _harness()
    results, docs = tmp_path / "results", tmp_path / "docs"
    runs = [
        _result("ring", "PacGAN4", 0, 1000, 8, 0.90, 0.02),
        _result("ring", "PacGAN4", 1, 1000, 6, 0.80, None),  # no high-quality sample: infinite KL
        _result("ring", "PacGAN4", 0, 500, 1, 0.1, 2.0),  # a shorter budget: not the row's
        _result("grid", "GAN", 0, 1000, 20, 0.5, 0.5),
        _result("grid", "latentkit recipe (RpGAN + R1 + R2)", 0, 20_000, 25, 0.9, 0.01),  # its own budget
    ]
    for r in runs:
        p = results / r["dataset"] / mc.slug(r["method"]) / f"steps-{r['steps']}-seed-{r['seed']}.json"
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(json.dumps(r))
    (results / "NOTES.md").write_text("PacGAN4 needs more steps.\n")
    rows = mc.rebuild(results, docs, with_figures=False)
    ring = next(r for r in rows if r["dataset"] == "ring")
    assert (ring["method"], ring["seeds"], ring["steps"]) == ("PacGAN4", [0, 1], 1000)
    assert ring["modes"] == [7.0, 1.0] and ring["high_quality_pct"] == pytest.approx([85.0, 5.0])
    assert ring["reverse_kl"] == [0.02, 0.0] and ring["reverse_kl_infinite_runs"] == 1
    assert ring["cpu_seconds_per_run"] == 15.0
    assert json.loads((docs / "mode_collapse.json").read_text())["rows"] == rows
    page = (docs / "mode_collapse.md").read_text()
    assert page.index("D* = [1, 0.5, 0], JS = 0.3466 nats") < page.index("## ring")
    assert page.index("PacGAN4 needs more steps.") < page.index("## ring")
    assert (
        "| latentkit recipe (RpGAN + R1 + R2) | 1 | 20,000 | 25.0 | 90.0 | 0.010 |" in page
    )  # no paper budget
    assert "| PacGAN4 | 2 | 1,000 of 400,000 | 7.0 ± 1.0 | 85.0 ± 5.0 | 0.020 (1 inf) | 15 |" in page
    assert "| *PacGAN4, PacGAN (Table 1)* | | | *7.8* | *95.9* | *0.07* | |" in page
    assert "## stacked-digits (1000 modes)\n\nNo results yet." in page


def test_the_page_shows_the_stacked_digit_grid_kept_beside_seed_0s_result(tmp_path):
    mc = _harness()
    results, docs = tmp_path / "results", tmp_path / "docs"
    r = _result("stacked-digits", "GAN", 0, 1000, 990, None, 0.2)
    p = results / "stacked-digits" / "gan" / "steps-1000-seed-0.json"
    p.parent.mkdir(parents=True)
    p.write_text(json.dumps(r))
    images = torch.randint(0, 256, (mc.GRID_IMAGES, 3, 32, 32), dtype=torch.uint8)
    mc.save_sample_grid(images, p.with_suffix(".png"))
    with Image.open(p.with_suffix(".png")) as grid:  # 8 x 8 tiles of 32 px, 2 px apart
        assert grid.size == (8 * 34 + 2, 8 * 34 + 2)
        assert np.array_equal(np.asarray(grid)[2:34, 36:68], images[1].permute(1, 2, 0).numpy())
    mc.rebuild(results, docs)
    page = (docs / "mode_collapse.md").read_text()
    assert "| GAN | 1 | 1,000 of 100,000 | 990.0 | – | 0.200 | 10 |" in page  # no high-quality test here
    assert "| *PacGAN2, PacGAN (Table 2)* | | | *1000.0* | – | *0.06* | |" in page
    assert "![stacked-digits: samples](mode_collapse_stacked-digits.png)" in page
    assert "![stacked-digits: curves](mode_collapse_stacked-digits_curves.png)" in page
    assert (docs / "mode_collapse_stacked-digits.png").stat().st_size > 0


@pytest.mark.slow
def test_a_stacked_digits_run_writes_its_result_and_seed_0s_sample_grid(tmp_path, monkeypatch):
    mc = _harness()
    results, work = tmp_path / "results", tmp_path / "work"
    monkeypatch.setattr(mc, "CLASSIFIER_EPOCHS", 1)  # the reader's accuracy is not under test here
    evaluate = mc.evaluate
    monkeypatch.setattr(
        mc, "evaluate", lambda g, d, seed, classifier=None, n=None: evaluate(g, d, seed, classifier, 256)
    )
    path = mc.run_job(mc.Job("stacked-digits", "GAN", seed=0, steps=2, eval_every=2), results, work)
    doc = json.loads(path.read_text())
    assert [c["step"] for c in doc["curve"]] == [2] and doc["metrics"]["high_quality"] is None
    assert 0 < doc["metrics"]["modes_covered"] <= 256 and 0 <= doc["classifier_accuracy"] <= 1
    with Image.open(path.with_suffix(".png")) as grid:
        assert grid.size == (8 * 34 + 2, 8 * 34 + 2)


def test_unrolling_a_discriminator_with_dead_units_keeps_gs_gradient_finite():
    from latentkit.train.losses import get_loss
    from latentkit.train.remedies import unrolled_parameters

    torch.manual_seed(0)
    D = torch.nn.Sequential(torch.nn.Linear(2, 4), torch.nn.ReLU(), torch.nn.Linear(4, 1))
    torch.nn.init.constant_(D[0].bias, -100.0)  # every ReLU dead: D[0]'s gradient is exactly 0
    opt = torch.optim.Adam(D.parameters(), lr=1e-3)
    fake = torch.randn(8, 2, requires_grad=True)
    params = unrolled_parameters(D, get_loss("ns"), opt, [torch.randn(8, 2) for _ in range(3)], fake)
    torch.func.functional_call(D, params, (fake,)).sum().backward()
    assert torch.isfinite(fake.grad).all()


def test_a_run_records_the_threads_it_trained_on(tmp_path):
    import torch

    mc = _harness()
    job = mc.Job("ring", "GAN", seed=1, steps=2, eval_every=2)
    before = torch.get_num_threads()
    try:
        doc = json.loads(mc.run_job(job, tmp_path / "results", tmp_path / "work", threads=2).read_text())
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)
    assert doc["threads_last_sitting"] == 2 and doc["steps"] == 2
