"""The latent CLI end to end: attributes, directions fit/report, edit (sweeps, latents, recipes), interpolate.

Runs `latentkit.cli.main` in-process (as the console script does) on a tiny untrained bundle and a
predictor trained for a few steps; every image written must pass `latentkit verify`.
"""

import contextlib
import io
import json
import shutil

import numpy as np
import pytest
import torch

from latentkit.cli import main
from latentkit.latent import sample_latent
from latentkit.latent.editor import save_latents
from latentkit.models import DCGANConfig, build_generator, save_bundle
from latentkit.provenance import verify_image
from latentkit.provenance.manifest import decode_latent


def latentkit(*argv) -> tuple[int, str, str]:
    """Run `latentkit ARGV` in-process: (exit code, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main([str(a) for a in argv])
    return code, out.getvalue(), err.getvalue()


pytestmark = pytest.mark.usefixtures("home")  # one signing identity per module (conftest)


def _bundle(path, seed):
    torch.manual_seed(seed)
    cfg = DCGANConfig(resolution=32, ngf=8, latent_dim=16)
    return save_bundle(path, build_generator(cfg), cfg, name=f"tiny{seed}")


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A predictor trained by the CLI on 128 faces, and a tiny bundle with directions fitted by the CLI."""
    root = tmp_path_factory.mktemp("latent")
    bundle = _bundle(root / "tiny", seed=0)
    pred = root / "pred"
    train = latentkit(
        "attributes",
        "train",
        "--dataset",
        "faces",
        "--size",
        32,
        "--n",
        128,
        "--steps",
        4,
        "--out",
        pred,
        "--no-progress",
    )
    fit = latentkit(
        "directions",
        "fit",
        "--model",
        bundle,
        "--predictor",
        pred,
        "--attributes",
        "smile,age,glasses",
        "--samples",
        1000,
        "--sefa",
        2,
        "--no-progress",
    )
    return {"bundle": bundle, "pred": pred, "train": train, "fit": fit, "root": root}


def manifest(path):
    report = verify_image(path)
    assert report.verified, report.problems
    return report.manifest


def test_attributes_train_saves_a_predictor_and_prints_held_out_scores(trained):
    code, out, _ = trained["train"]
    assert code == 0
    assert (trained["pred"] / "weights.safetensors").is_file()
    assert "glasses" in out and "binary" in out and "accuracy" in out
    assert "age" in out and "continuous" in out and "r2" in out


def test_directions_fit_stores_each_direction_with_its_fit_record(trained):
    code, out, _ = trained["fit"]
    assert code == 0, out
    doc = json.loads((trained["bundle"] / "directions.json").read_text())
    assert list(doc["directions"]) == ["smile", "age", "glasses", "sefa0", "sefa1"]
    smile = doc["directions"]["smile"]
    assert len(smile["vector"]) == 16 and smile["method"] == "svm" and smile["n_samples"] == 1000
    assert smile["predictor"]["weights_sha256"] and 0.0 <= smile["validation"] <= 1.0
    assert "smile" in out and "accuracy" in out


def test_edit_writes_verified_images_recording_each_edit(trained, tmp_path):
    code, _, err = latentkit(
        "edit",
        "--model",
        trained["bundle"],
        "--seeds",
        "0-1",
        "--edit",
        "smile=2",
        "--edit",
        "age=-1",
        "--hold",
        "glasses",
        "--out",
        tmp_path,
        "--no-progress",
    )
    assert code == 0, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["seed0000.png", "seed0001.png"]
    assert latentkit("verify", tmp_path / "seed0001.png")[0] == 0
    m = manifest(tmp_path / "seed0001.png")
    assert m["latent"]["seed"] == 1
    assert [(e["direction"], e["strength"], e["hold"]) for e in m["edits"]] == [
        ("smile", 2.0, ["glasses"]),
        ("age", -1.0, ["glasses"]),
    ]
    assert not np.array_equal(decode_latent(m["latent"]), sample_latent(1, 16))


def test_edit_hold_all_holds_every_other_attribute_and_the_manifest_names_them(trained, tmp_path):
    code, _, err = latentkit(
        "edit", "--model", trained["bundle"], "--seeds", "3", "--edit", "smile=2", "--hold", "all",
        "--out", tmp_path, "--no-progress",
    )  # fmt: skip
    assert code == 0, err
    m = manifest(tmp_path / "seed0003.png")
    assert [(e["direction"], e["hold"]) for e in m["edits"]] == [("smile", ["age", "glasses"])]
    assert latentkit("verify", tmp_path / "seed0003.png")[0] == 0


def test_edit_sweep_writes_one_image_per_strength(trained, tmp_path):
    code, _, err = latentkit(
        "edit",
        "--model",
        trained["bundle"],
        "--seeds",
        "4",
        "--sweep",
        "smile=-2:2:3",
        "--size",
        64,
        "--out",
        tmp_path,
    )
    assert code == 0, err
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["seed0004_smile+0.00.png", "seed0004_smile+2.00.png", "seed0004_smile-2.00.png"]
    assert manifest(tmp_path / "seed0004_smile-2.00.png")["edits"][0]["strength"] == -2.0


def test_edit_of_a_latent_file_in_absolute_mode(trained, tmp_path):
    save_latents(tmp_path / "z.npy", np.stack([sample_latent(9, 16), sample_latent(10, 16)]))
    code, _, err = latentkit(
        "edit",
        "--model",
        trained["bundle"],
        "--latent",
        tmp_path / "z.npy",
        "--edit",
        "smile=0.5",
        "--mode",
        "absolute",
        "--out",
        tmp_path / "out",
    )
    assert code == 0, err
    m = manifest(tmp_path / "out" / "latent0001.png")
    assert m["latent"]["seed"] is None and m["edits"][0]["mode"] == "absolute"
    doc = json.loads((trained["bundle"] / "directions.json").read_text())["directions"]["smile"]
    z = decode_latent(m["latent"]).astype(np.float64)
    assert z @ np.array(doc["vector"]) + doc["intercept"] == pytest.approx(0.5, abs=1e-4)


def test_edit_with_psi_records_the_truncation(trained, tmp_path):
    code, _, err = latentkit(
        "edit", "--model", trained["bundle"], "--seeds", "2", "--psi", 0.5, "--out", tmp_path
    )
    assert code == 0, err
    m = manifest(tmp_path / "seed0002.png")
    assert m["edits"] == [{"truncation": {"psi": 0.5, "mean": "zero"}}]
    np.testing.assert_allclose(decode_latent(m["latent"]), 0.5 * sample_latent(2, 16), rtol=1e-6)


RECIPE_TOML = """
[[jobs]]
name = "smiling"
seeds = "1"
edits = { smile = 1.5 }

[[jobs]]
name = "older"
seeds = "2"
edits = { age = 1.0 }
hold = ["glasses"]
"""


@pytest.mark.parametrize("suffix", [".toml", ".json"])
def test_recipe_runs_every_job_into_its_own_folder(trained, tmp_path, suffix):
    recipe = tmp_path / f"recipe{suffix}"
    if suffix == ".toml":
        recipe.write_text(RECIPE_TOML)
    else:
        jobs = [
            {"name": "smiling", "seeds": "1", "edits": {"smile": 1.5}},
            {"name": "older", "seeds": "2", "edits": {"age": 1.0}, "hold": ["glasses"]},
        ]
        recipe.write_text(json.dumps({"jobs": jobs}))
    code, _, err = latentkit(
        "edit", "--model", trained["bundle"], "--recipe", recipe, "--out", tmp_path / "out"
    )
    assert code == 0, err
    assert manifest(tmp_path / "out" / "smiling" / "seed0001.png")["edits"][0]["direction"] == "smile"
    older = manifest(tmp_path / "out" / "older" / "seed0002.png")["edits"][0]
    assert older["direction"] == "age" and older["hold"] == ["glasses"]


def test_recipe_errors_name_the_file_and_job(trained, tmp_path):
    recipe = tmp_path / "r.json"
    recipe.write_text(json.dumps([{"seeds": "1", "edit": {"smile": 1}}]))
    code, _, err = latentkit(
        "edit", "--model", trained["bundle"], "--recipe", recipe, "--out", tmp_path / "o"
    )
    assert code == 2
    assert "r.json: job 1: unknown key 'edit'" in err
    recipe.write_text(json.dumps([{"seeds": "1", "edits": {"smiel": 1}}]))
    code, _, err = latentkit(
        "edit", "--model", trained["bundle"], "--recipe", recipe, "--out", tmp_path / "o"
    )
    assert code == 2 and "known directions: smile, age, glasses, sefa0, sefa1" in err
    recipe.write_text(json.dumps([{"name": "a", "seeds": "1"}, {"name": "a", "seeds": "2"}]))
    code, _, err = latentkit(
        "edit", "--model", trained["bundle"], "--recipe", recipe, "--out", tmp_path / "o"
    )
    assert code == 2 and "job 2: name 'a' is used by an earlier job" in err
    assert not (tmp_path / "o").exists()  # checked before anything is written


def test_interpolate_writes_signed_frames_from_keyframe_to_keyframe(trained, tmp_path):
    code, _, err = latentkit(
        "interpolate",
        "--model",
        trained["bundle"],
        "--seeds",
        "3,7",
        "--frames",
        2,
        "--size",
        64,
        "--out",
        tmp_path,
    )
    assert code == 0, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["frame0000.png", "frame0001.png", "frame0002.png"]
    first, mid, last = (manifest(tmp_path / f"frame000{i}.png") for i in range(3))
    np.testing.assert_array_equal(decode_latent(first["latent"]), sample_latent(3, 16))
    np.testing.assert_array_equal(decode_latent(last["latent"]), sample_latent(7, 16))
    assert mid["interpolation"]["method"] == "slerp" and mid["interpolation"]["t"] == 0.5
    assert mid["interpolation"]["endpoints"] == [{"seed": 3, "psi": 1.0}, {"seed": 7, "psi": 1.0}]


def test_interpolate_to_a_gif_writes_one_signed_animation_that_verifies(trained, tmp_path, cli):
    gif = tmp_path / "walk.gif"
    made = cli("interpolate", "--model", trained["bundle"], "--seeds", "3,7,9", "--frames", 3, "--out", gif)
    assert made.returncode == 0, made.stderr
    assert "wrote" in made.stdout and "7 frames at 12 fps" in made.stdout
    checked = cli("verify", gif)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "GIF 256x256, 7 frame(s)" in checked.stdout and "verified   yes" in checked.stdout
    m = manifest(gif)
    assert m["interpolation"]["keyframes"] == [{"seed": s, "psi": 1.0} for s in (3, 7, 9)]
    assert m["interpolation"]["t"][1] == [0, 1 / 3] and m["animation"]["frames"] == 7


def test_interpolate_to_an_image_suffix_says_folder_or_animation(trained, tmp_path):
    code, _, err = latentkit("interpolate", "--model", trained["bundle"], "--out", tmp_path / "path.png")
    assert code == 2 and "give a folder for signed PNG frames, or a .gif or .mp4 file" in err


def test_interpolate_over_the_frame_cap_is_refused_before_rendering(trained, tmp_path):
    code, _, err = latentkit(
        "interpolate", "--model", trained["bundle"], "--frames", 601, "--out", tmp_path / "long.gif"
    )
    assert code == 2 and "602 frames is over the 600-frame limit" in err
    assert not (tmp_path / "long.gif").exists()


def test_directions_report_writes_json_markdown_grids_and_curves(trained, tmp_path):
    code, _, err = latentkit(
        "directions",
        "report",
        "--model",
        trained["bundle"],
        "--predictor",
        trained["pred"],
        "--directions",
        "age,glasses",
        "--samples",
        4,
        "--strengths=-1:1:3",
        "--out",
        tmp_path,
        "--no-progress",
    )
    assert code == 0, err
    report = json.loads((tmp_path / "report.json").read_text())
    assert set(report["directions"]) == {
        "age",
        "age_hold_smile_glasses",
        "glasses",
        "glasses_hold_smile_age",
        "random",
    }
    assert report["directions"]["random"]["kind"] == "baseline"
    age = report["directions"]["age"]
    assert age["strengths"] == [-1.0, 0.0, 1.0] and len(age["identity_drift"]) == 3
    assert age["identity_drift"][1] == 0.0 and 0.0 <= age["monotonicity"] <= 1.0
    assert set(age["mean_abs_change"]) == set(report["attributes"]) and age["mean_abs_change"]["age"] >= 0
    assert set(report["entanglement"]["plain"]) == {"age", "glasses"}
    assert {"smile", "age", "glasses", "pose"} <= set(report["entanglement"]["held"]["age"])
    for figure in report["figures"].values():
        assert (tmp_path / figure).is_file()
    assert "Entanglement (held)" in (tmp_path / "report.md").read_text()


# --- bad input -----------------------------------------------------------------------------------


def test_unknown_direction_lists_the_known_ones(trained, tmp_path):
    code, _, err = latentkit(
        "edit", "--model", trained["bundle"], "--seeds", "0", "--edit", "smiel=1", "--out", tmp_path
    )
    assert code == 2
    assert "unknown direction 'smiel'; known directions: smile, age, glasses, sefa0, sefa1" in err


def test_directions_file_of_another_model_is_refused(trained, tmp_path):
    other = _bundle(tmp_path / "other", seed=1)
    shutil.copy(trained["bundle"] / "directions.json", other / "directions.json")
    code, _, err = latentkit(
        "edit", "--model", other, "--seeds", "0", "--edit", "smile=1", "--out", tmp_path / "o"
    )
    assert code == 2 and "made for another model" in err


def test_edit_with_a_users_directions_file(trained, tmp_path):
    from latentkit.latent.directions import Direction, load_directions, save_directions
    from latentkit.models import load_bundle

    bundle = load_bundle(trained["bundle"])
    vector = np.zeros(16)
    vector[0] = 1.0
    user = save_directions(
        bundle, {"beard": Direction("beard", vector, 0.0, {"kind": "custom"})}, tmp_path / "u.json"
    )
    out = tmp_path / "o"
    code, _, err = latentkit(
        "edit", "--model", trained["bundle"], "--directions", user, "--seeds", "2", "--edit", "beard=1.5",
        "--edit", "smile=1", "--out", out,
    )  # fmt: skip
    assert code == 0, err
    edits = manifest(out / "seed0002.png")["edits"]
    assert [(e["direction"], e.get("directions_file")) for e in edits] == [
        ("beard", "u.json"),
        ("smile", None),
    ]
    z = decode_latent(manifest(out / "seed0002.png")["latent"])
    smile = load_directions(bundle)["smile"].vector
    np.testing.assert_allclose(z, sample_latent(2, 16) + 1.5 * vector + smile, atol=1e-5)


def test_edit_directions_file_of_another_model_exits_2_without_traceback(trained, tmp_path, cli):
    other = _bundle(tmp_path / "other", seed=1)
    shutil.copy(trained["bundle"] / "directions.json", tmp_path / "mine.json")
    done = cli(
        "edit", "--model", other, "--directions", tmp_path / "mine.json", "--seeds", "0", "--edit", "smile=1",
        "--out", tmp_path / "o",
    )  # fmt: skip
    assert done.returncode == 2
    assert "mine.json: made for another model" in done.stderr and "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and not (tmp_path / "o").exists()


@pytest.mark.parametrize(
    ("latent", "message"), [(np.zeros((1, 8)), "the model needs (16,)"), (np.full((1, 16), np.nan), "NaN")]
)
def test_bad_latent_files_exit_2_with_the_reason(trained, tmp_path, latent, message):
    np.save(tmp_path / "z.npy", latent)
    code, _, err = latentkit(
        "edit",
        "--model",
        trained["bundle"],
        "--latent",
        tmp_path / "z.npy",
        "--edit",
        "smile=1",
        "--out",
        tmp_path / "o",
    )
    assert code == 2 and message in err and "z.npy" in err


def test_strength_beyond_ten_warns_but_still_writes(trained, tmp_path):
    with pytest.warns(UserWarning, match="smile=12"):
        code, _, _ = latentkit(
            "edit", "--model", trained["bundle"], "--seeds", "0", "--edit", "smile=12", "--out", tmp_path
        )
    assert code == 0 and (tmp_path / "seed0000.png").is_file()


def test_fit_without_a_predictor_says_how_to_get_one(trained):
    code, _, err = latentkit("directions", "fit", "--model", trained["bundle"], "--attributes", "smile")
    assert code == 2 and "latentkit attributes train" in err


def test_directions_fit_stores_held_variants_as_named_directions(trained, tmp_path):
    out = tmp_path / "dirs.json"
    args = ["directions", "fit", "--model", trained["bundle"], "--predictor", trained["pred"], "--attributes"]
    code, stdout, err = latentkit(*args, "age,glasses", "--samples", 500, "--held-variant", "age:glasses",
                                  "--out", out, "--no-progress")  # fmt: skip
    assert code == 0, err
    assert "age_hold_glasses" in stdout and "glasses held fixed" in stdout
    from latentkit.latent.directions import load_directions
    from latentkit.models import load_bundle

    found = load_directions(load_bundle(trained["bundle"]), out)
    assert found["age_hold_glasses"].meta["hold"] == ["glasses"]
    code, _, err = latentkit(*args, "age", "--samples", 500, "--held-variant", "age:beard", "--out", out)
    assert code == 2 and "unknown direction 'beard'" in err


def test_old_conditional_spellings_still_work_with_one_deprecation_line(trained, tmp_path):
    out = tmp_path / "dirs.json"
    args = ["directions", "fit", "--model", trained["bundle"], "--predictor", trained["pred"], "--attributes"]
    code, stdout, err = latentkit(*args, "age,glasses", "--samples", 500, "--conditional", "age:glasses",
                                  "--out", out, "--no-progress")  # fmt: skip
    assert code == 0, err
    assert err.strip() == "latentkit: warning: --conditional is deprecated; use --held-variant"
    assert "age_hold_glasses" in stdout
    edit = ["edit", "--model", trained["bundle"], "--seeds", "1", "--edit", "age=1", "--no-progress"]
    code, _, err = latentkit(*edit, "--conditional", "glasses", "--out", tmp_path / "e")
    assert code == 0, err
    assert "--conditional is deprecated; use --hold" in err
    assert manifest(tmp_path / "e" / "seed0001.png")["edits"][0]["hold"] == ["glasses"]
