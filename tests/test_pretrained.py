"""The shipped faces64 model: intact files, loadable by name, and a handful of its targets on small
samples (the full figures, on 5,000 samples, are in pretrained/faces64/MODEL_CARD.md)."""

import hashlib
from pathlib import Path

import pytest

import latentkit
from latentkit.models.pretrained import list_pretrained, pretrained_path

ROOT = Path(__file__).resolve().parent.parent
FACES64 = ROOT / "pretrained" / "faces64"


def test_shipped_files_match_their_checksums_and_stay_small():
    lines = (FACES64 / "SHA256SUMS").read_text().split("\n")
    listed = dict(reversed(line.split("  ", 1)) for line in lines if line.strip())
    assert {
        "config.json",
        "generator.safetensors",
        "directions.json",
        "predictor/weights.safetensors",
    } <= set(listed)
    for name, digest in listed.items():
        assert hashlib.sha256((FACES64 / name).read_bytes()).hexdigest() == digest, name
    total = sum(p.stat().st_size for p in (ROOT / "pretrained").rglob("*") if p.is_file())
    assert total < 30 * 2**20


def test_faces64_is_style_based_and_edits_in_w():
    from latentkit.models.latents import edit_space

    b = latentkit.load_pretrained("faces64")
    assert b.config.mapping_layers == 2 and edit_space(b.generator) == "w"


def test_faces64_is_the_default_and_loads_by_name():
    assert "faces64" in list_pretrained() and pretrained_path() == FACES64
    b = latentkit.load_pretrained("faces64")
    assert b.name == "faces64" and b.config.resolution == 64 and not b.generator.training
    from latentkit.models.pretrained import default_pretrained_path

    assert default_pretrained_path() == FACES64


@pytest.fixture(scope="module")
def shipped():
    from latentkit.latent.editor import Editor
    from latentkit.predictor import load_feature_net

    editor = Editor("faces64")
    predictor, _ = load_feature_net(FACES64 / "predictor")
    return editor, predictor


def test_predictor_meets_its_held_out_targets():
    import json

    report = json.loads((FACES64 / "predictor" / "config.json").read_text())["report"]["attributes"]
    assert report["glasses"]["accuracy"] >= 0.98
    assert report["smile"]["r2"] >= 0.95 and report["age"]["r2"] >= 0.95


def test_directions_cover_every_attribute_and_smile_is_accurate(shipped):
    editor, _ = shipped
    dirs = editor.directions
    for name in ("smile", "age", "glasses", "hair_color", "skin_tone", "pose", "eye_size", "face_width"):
        assert dirs[name].meta["kind"] == "supervised"
    assert dirs["age"].meta["validation"] >= 0.98 and dirs["glasses"].meta["validation"] >= 0.98
    assert dirs["smile"].meta["validation"] >= 0.85  # 0.917: misses the 0.98 target (model card)
    assert {dirs[k].meta["method"] for k in ("smile", "age", "glasses")} == {"gradient"}
    held = dirs["age_hold_glasses"].meta
    assert {k: held[k] for k in ("kind", "base", "hold")} == {
        "kind": "held",
        "base": "age",
        "hold": ["glasses"],
    }
    assert held["validation"] >= 0.98
    assert {"pca0", "sefa4", "age_hold_glasses", "smile_hold_age_glasses"} <= set(dirs)


def test_smile_edit_raises_predicted_smile_for_most_faces(shipped):
    from latentkit.latent.report import edit_effect

    editor, predictor = shipped
    e = edit_effect(editor, predictor, "smile", 3.0, samples=100, seed=50_000)
    assert e["raised_fraction"] >= 0.75 and e["mean_change"] > 0.3  # a floor, not the target (0.95 / 0.8)


def test_held_smile_edit_raises_smile_and_keeps_age_and_skin(shipped):
    from latentkit.latent.report import edit_effect

    editor, predictor = shipped
    e = edit_effect(editor, predictor, "smile", 3.0, hold=["age", "glasses"], samples=100, seed=50_000)
    # 500 faces (model card): raised 0.992, rise 0.869, age 0.043, skin tone 0.103; floors, not targets.
    assert e["raised_fraction"] >= 0.95 and e["mean_change"] > 0.6
    assert e["mean_abs_change"]["age"] < 0.1 and e["mean_abs_change"]["skin_tone"] < 0.12


def test_glasses_rate_matches_the_data(shipped):
    from latentkit.data import load_dataset
    from latentkit.metrics.attributes import attribute_match
    from latentkit.metrics.evaluate import generate
    from latentkit.predictor import predict_attributes

    editor, predictor = shipped
    fake = predict_attributes(predictor, generate(editor.bundle.generator, 500, seed=1))
    real = predict_attributes(predictor, load_dataset("faces", size=64, n=500, seed=2).data)
    g = attribute_match(real, fake, {"glasses": (0.0, 1.0)}, binary=["glasses"])["attributes"]["glasses"]
    # 0.364 vs 0.369 on 5,000 samples (target: within 0.03); 500 samples add about 0.02 of noise.
    assert abs(g["fake_rate"] - g["real_rate"]) <= 0.06
