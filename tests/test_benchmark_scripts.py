"""The benchmark scripts the README and docs/benchmarks.md quote still run (tiny settings)."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from latentkit.train.precision import cpu_has_bf16

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow  # ~30 s: three processes load torch and train
def test_train_throughput_alternates_both_loops_and_reports_their_rates_and_memory():
    cmd = [sys.executable, str(ROOT / "benchmarks" / "train_throughput.py"), "--steps", "4", "--rounds", "2",
           "--size", "32", "--width", "8", "--batch", "8", "--rss"]  # fmt: skip
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    assert result.stderr.count("round ") == 2
    r = json.loads(result.stdout.strip().splitlines()[-1])
    native = "bf16" if cpu_has_bf16() else "fp32"  # what --precision auto picks for an image model here
    assert r["steps"] == 4 and r["latentkit_precision"] == native
    assert r["plain_img_per_s"] > 0 and r["latentkit_img_per_s"] > 0
    assert (
        r["ratio"] == round(r["latentkit_img_per_s"] / r["plain_img_per_s"], 3)
        or abs(r["ratio"] - r["latentkit_img_per_s"] / r["plain_img_per_s"]) < 0.01
    )
    assert r["step_gflop"] > 0 and r["matmul_fp32_gflop_per_s"] > 0 and r["matmul_bf16_gflop_per_s"] > 0
    assert set(r["peak_rss_mb"]) == {"plain", "latentkit"} and min(r["peak_rss_mb"].values()) > 100


def test_layer_edits_sweeps_every_layer_subset_and_its_all_layers_row_is_the_editors_edit(
    tmp_path, monkeypatch
):
    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))
    import layer_edits

    from latentkit.latent.directions import Direction
    from latentkit.latent.editor import Editor
    from latentkit.latent.report import edit_effect
    from latentkit.models import DCGANConfig, build_generator, load_bundle, save_bundle
    from latentkit.predictor import AttributeSpec, FeatureNet

    torch.manual_seed(0)
    cfg = DCGANConfig(resolution=32, latent_dim=8, ngf=8, ndf=8, g_norm="none", mapping_layers=2)
    bundle = load_bundle(save_bundle(tmp_path / "s", build_generator(cfg), cfg, name="s"))
    specs = [AttributeSpec(n, "continuous") for n in ("smile", "age", "skin_tone")]
    predictor = FeatureNet(3, 32, [*specs, AttributeSpec("glasses", "binary")], width=8, feature_dim=8).eval()
    rng = np.random.default_rng(0)
    directions = {
        n: Direction(n, (v := rng.standard_normal(8)) / np.linalg.norm(v), 0.0, {"kind": "supervised"}, "w")
        for n in ("smile", "age", "glasses")
    }
    plus = Editor(bundle, directions, space="w+")
    layers = bundle.generator.num_ws
    assert layer_edits.subsets(3) == [(0,), (1,), (2,), (0, 1), (0, 2), (1, 2), (0, 1, 2)]

    rows = layer_edits.sweep(plus, predictor, n=6)

    assert len(rows) == 2 * (2**layers - 1)
    for name, held in layer_edits.HELD.items():
        every = next(r for r in rows if r["edit"] == name and len(r["layers"]) == layers)
        editor = edit_effect(Editor(bundle, directions), predictor, name, 3.0, held, samples=6, seed=50_000)
        assert every["raised_fraction"] == editor["raised_fraction"]
        assert every["mean_change"] == pytest.approx(editor["mean_change"], abs=1e-5)
        single = [r for r in rows if r["edit"] == name and len(r["layers"]) == 1]
        assert [r["layers"] for r in single] == [[k] for k in range(layers)]
        assert any(r["mean_abs_change"]["smile"] != every["mean_abs_change"]["smile"] for r in single)
