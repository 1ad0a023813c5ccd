"""`latentkit eval` and periodic evaluation during training."""

import json
import shutil
from pathlib import Path

import pytest

from latentkit.data import load_dataset
from latentkit.models import DCGANConfig, MLPConfig, build_generator, save_bundle
from latentkit.predictor import save_feature_net, train_feature_net
from latentkit.train.config import TrainConfig
from latentkit.train.loop import train


@pytest.fixture(scope="module")
def face_model_and_features(tmp_path_factory):
    root = tmp_path_factory.mktemp("eval")
    cfg = DCGANConfig(resolution=32, ngf=8, latent_dim=16)
    save_bundle(root / "model", build_generator(cfg).eval(), cfg, name="tiny")
    net, report = train_feature_net(
        load_dataset("faces", size=32, n=128), steps=5, batch_size=32, progress=False
    )
    save_feature_net(root / "features", net, report)
    return root / "model", root / "features"


def test_eval_cli_reports_every_metric_beside_the_real_floor(cli, face_model_and_features):
    model, features = face_model_and_features
    r = cli("eval", "--model", model, "--features", features, "--samples", "60", "--json")
    assert r.returncode == 0, r.stderr
    result = json.loads(r.stdout)
    keys = {"fid", "kid", "kid_std", "precision", "recall", "density", "coverage"}
    assert keys <= set(result["metrics"]) and keys <= set(result["real_vs_real"])
    assert result["samples"] == 60
    # An untrained generator is far from the data; two halves of the data are close.
    assert result["metrics"]["fid"] > 2 * result["real_vs_real"]["fid"]
    assert result["real_vs_real"]["recall"] > result["metrics"]["recall"]


def test_eval_without_features_uses_the_bundle_s_own_predictor(cli, face_model_and_features, tmp_path):
    model, features = face_model_and_features
    own = Path(shutil.copytree(model, tmp_path / "model"))
    shutil.copytree(features, own / "predictor")
    r = cli("eval", "--model", own, "--metrics", "fid", "--samples", "30")
    assert r.returncode == 0, r.stderr
    assert f"features: the bundle's own predictor ({own / 'predictor'})" in r.stdout and "fid" in r.stdout
    bare = cli("eval", "--model", model, "--metrics", "fid", "--samples", "30")
    assert bare.returncode == 2 and "--features" in bare.stderr


def test_eval_of_a_model_on_data_of_another_shape_is_one_line(cli, face_model_and_features):
    model, features = face_model_and_features
    r = cli("eval", "--model", model, "--dataset", "digits", "--features", features, "--samples", "60")
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "shape" in r.stderr and len(r.stderr.strip().splitlines()) == 1


def test_eval_with_too_few_samples_for_knn_is_one_line(cli, face_model_and_features):
    model, features = face_model_and_features
    r = cli("eval", "--model", model, "--features", features, "--samples", "5")
    assert r.returncode == 2 and "need at least" in r.stderr and "Traceback" not in r.stderr


def test_eval_on_the_ring_counts_modes(cli, tmp_path):
    cfg = MLPConfig(latent_dim=4, hidden=16, depth=2, g_norm="none", d_norm="none")
    save_bundle(tmp_path / "m", build_generator(cfg).eval(), cfg, name="ring")
    r = cli("eval", "--model", tmp_path / "m", "--dataset", "ring", "--metrics", "fid,modes", "--json")
    assert r.returncode == 0, r.stderr
    result = json.loads(r.stdout)
    assert (
        result["real_vs_real"]["modes_covered"] == 8 and result["real_vs_real"]["high_quality"] > 0.98
    )  # 1 - exp(-9/2)
    assert result["metrics"]["high_quality"] < 0.5  # an untrained generator misses the tiny modes


def test_training_with_eval_every_keeps_the_best_model(tmp_path):
    model = {"latent_dim": 4, "hidden": 32, "depth": 2, "g_norm": "none", "d_norm": "none"}
    cfg = TrainConfig(dataset="ring", data_n=2000, model=model, steps=30, batch_size=64, eval_every=10,
                      eval_samples=200, sample_every=100, checkpoint_every=100)  # fmt: skip
    run = train(cfg, tmp_path / "run", progress=False)
    evals = [json.loads(x) for x in (run / "log.jsonl").read_text().splitlines() if '"eval"' in x]
    assert [e["step"] for e in evals] == [10, 20, 30]
    best = min(evals, key=lambda e: e["fid"])
    saved = json.loads((run / "best" / "config.json").read_text())
    assert saved["run"]["step"] == best["step"] and saved["run"]["fid"] == pytest.approx(best["fid"])


def test_eval_every_on_images_needs_a_feature_network(cli, tmp_path):
    r = cli("train", "--size", "32", "--data-n", "64", "--eval-every", "5", "--out", tmp_path / "r")
    assert r.returncode == 2 and "--eval-features" in r.stderr
