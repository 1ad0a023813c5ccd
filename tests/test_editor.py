"""Interpolation maths, the Editor (relative/absolute edits, holding directions fixed), latents on disk,
exports."""

import io
import json
import warnings

import numpy as np
import pytest
import torch

from latentkit.errors import LatentkitError
from latentkit.latent import sample_latent
from latentkit.latent.directions import Direction, save_directions
from latentkit.latent.editor import Editor, load_latents, parse_edit, parse_sweep, save_latents
from latentkit.latent.interpolate import angle, keyframe_path, lerp, slerp, truncate
from latentkit.models import DCGANConfig, build_generator, load_bundle, save_bundle
from latentkit.provenance import verify_image

# --- interpolation -------------------------------------------------------------------------------


def test_slerp_keeps_the_norm_statistics_of_gaussian_latents_and_lerp_does_not():
    rng = np.random.default_rng(0)
    d = 128
    z0, z1 = rng.standard_normal((2, 2000, d))
    norms = np.linalg.norm(z0, axis=1)
    mid_slerp = np.linalg.norm([slerp(a, b, 0.5) for a, b in zip(z0, z1, strict=True)], axis=1)
    mid_lerp = np.linalg.norm([lerp(a, b, 0.5) for a, b in zip(z0, z1, strict=True)], axis=1)
    # chi distribution with 128 dof: mean ~11.29, std ~0.71
    assert mid_slerp.mean() == pytest.approx(norms.mean(), rel=0.01)
    assert mid_slerp.std() == pytest.approx(norms.std(), rel=0.3)
    assert mid_lerp.mean() == pytest.approx(norms.mean() / np.sqrt(2), rel=0.02)


def test_slerp_hits_both_endpoints_and_returns_one_row_per_t():
    z0, z1 = sample_latent(1, 64), sample_latent(2, 64)
    path = slerp(z0, z1, np.linspace(0, 1, 5))
    assert path.shape == (5, 64) and path.dtype == np.float32
    np.testing.assert_array_equal(path[0], z0)
    np.testing.assert_array_equal(path[-1], z1)
    assert slerp(z0, z1, 0.5).shape == (64,)
    # between latents of equal norm: equal angular steps along the great circle, norm kept
    z1 = z1 * np.linalg.norm(z0) / np.linalg.norm(z1)
    path = slerp(z0, z1, np.linspace(0, 1, 5))
    np.testing.assert_allclose(np.linalg.norm(path, axis=1), np.linalg.norm(z0), rtol=1e-5)
    steps = [angle(path[i], path[i + 1]) for i in range(4)]
    np.testing.assert_allclose(steps, angle(z0, z1) / 4, rtol=1e-5)


def test_slerp_of_near_parallel_latents_is_finite_and_stays_between_them():
    z0 = sample_latent(1, 64).astype(np.float64)
    z1 = z0 + 1e-9 * sample_latent(2, 64)
    mid = slerp(z0, z1, 0.5)
    assert np.isfinite(mid).all()
    np.testing.assert_allclose(mid, (z0 + z1) / 2, rtol=1e-6)
    np.testing.assert_array_equal(slerp(z0, z0, 0.3), z0.astype(np.float32))


def test_angle_is_accurate_for_tiny_angles_where_arccos_is_not():
    u = np.array([1.0, 0.0, 0.0])
    v = np.array([np.cos(1e-8), np.sin(1e-8), 0.0])
    assert angle(u, v) == pytest.approx(1e-8, rel=1e-6)


def test_slerp_of_opposite_latents_is_an_error():
    z = sample_latent(1, 8)
    with pytest.raises(LatentkitError, match="opposite"):
        slerp(z, -z, 0.5)


def test_keyframe_path_passes_through_every_keyframe_and_loops_back():
    keys = np.stack([sample_latent(s, 16) for s in (3, 7, 11)])
    path, where = keyframe_path(keys, frames=4)
    assert path.shape == (9, 16) and len(where) == 9
    for i in range(3):
        np.testing.assert_array_equal(path[4 * i], keys[i])
    assert where[5] == (1, 0.25) and where[-1] == (1, 1.0)
    looped, _ = keyframe_path(keys, frames=4, loop=True)
    assert looped.shape == (12, 16)
    np.testing.assert_allclose(slerp(keys[2], keys[0], 0.75), looped[-1], rtol=1e-6)
    with pytest.raises(LatentkitError, match="at least 2 keyframes"):
        keyframe_path(keys[:1], frames=4)


def test_truncation_pulls_latents_toward_the_zero_mean():
    z = sample_latent(0, 32)
    np.testing.assert_allclose(truncate(z, 0.7), 0.7 * z, rtol=1e-6)
    np.testing.assert_array_equal(truncate(z, 1.0), z)
    assert not truncate(z, 0.0).any()
    with pytest.raises(LatentkitError, match=r"psi 1\.5"):
        truncate(z, 1.5)


# --- the editor ----------------------------------------------------------------------------------


def _unit(seed, d=16):
    v = np.random.default_rng(seed).standard_normal(d)
    return v / np.linalg.norm(v)


@pytest.fixture(scope="module")
def editor(tmp_path_factory):
    torch.manual_seed(0)
    cfg = DCGANConfig(resolution=32, ngf=8, latent_dim=16)
    bundle = load_bundle(save_bundle(tmp_path_factory.mktemp("b") / "tiny", build_generator(cfg), cfg))
    # correlated like age and glasses (cosine ~0.5), so holding one fixed has something to remove
    age = _unit(2)
    glasses = 0.5 * age + np.sqrt(0.75) * condition_free(_unit(3), age)
    dirs = {
        "smile": Direction("smile", _unit(1), 0.2, {"kind": "supervised", "method": "svm"}),
        "age": Direction("age", age, -0.1, {"kind": "supervised", "method": "svm"}),
        "glasses": Direction("glasses", glasses, 0.0, {"kind": "supervised", "method": "svm"}),
    }
    save_directions(bundle, dirs)
    return Editor(bundle.path)


def condition_free(v, away):
    r = v - (v @ away) * away
    return r / np.linalg.norm(r)


def test_editor_samples_the_same_latent_as_generate_with_optional_truncation(editor):
    np.testing.assert_array_equal(editor.sample(3), sample_latent(3, 16))
    np.testing.assert_allclose(editor.sample(3, psi=0.5), 0.5 * sample_latent(3, 16), rtol=1e-6)


def test_relative_edit_moves_each_signed_distance_by_its_strength(editor):
    z = editor.sample(0)
    z2 = editor.edit(z, {"smile": 1.5})
    assert editor.distance(z2, "smile") - editor.distance(z, "smile") == pytest.approx(1.5, abs=1e-5)
    assert np.linalg.norm(z2 - z) == pytest.approx(1.5, abs=1e-5)


def test_edit_with_hold_leaves_the_held_distances_unchanged(editor):
    z = editor.sample(0)
    plain = editor.edit(z, {"age": 2.0})
    held = editor.edit(z, {"age": 2.0}, hold=["glasses"])
    assert editor.distance(plain, "glasses") - editor.distance(z, "glasses") == pytest.approx(1.0, abs=1e-4)
    assert editor.distance(held, "glasses") == pytest.approx(editor.distance(z, "glasses"), abs=1e-5)
    assert editor.distance(held, "age") > editor.distance(z, "age") + 1.0
    np.testing.assert_array_equal(editor.edit(z, {"age": 2.0}, ["glasses"]), held)  # hold is 3rd positional


def test_hold_all_holds_every_other_attribute_and_nothing_of_the_edited_one(editor):
    z = editor.sample(0)
    assert editor.attributes == ["smile", "age", "glasses"]
    np.testing.assert_array_equal(
        editor.edit(z, {"age": 2.0}, ["all"]), editor.edit(z, {"age": 2.0}, ["smile", "glasses"])
    )
    out = editor.edit(z, {"age": 2.0}, hold=["all"])
    for other in ("smile", "glasses"):
        assert editor.distance(out, other) == pytest.approx(editor.distance(z, other), abs=1e-5)
    assert editor.distance(out, "age") > editor.distance(z, "age") + 1.0
    assert editor.edit_record({"age": 2.0}, ["all"])[0]["hold"] == ["smile", "glasses"]  # written out
    # a held variant of age, PCA and custom directions are not attributes; editing the variant
    # while holding all holds neither age (its base) nor itself
    extra = {
        "age_hold_glasses": Direction("age_hold_glasses", editor.direction("age", ["glasses"]), 0.0,
                                      {"kind": "held", "base": "age", "hold": ["glasses"]}),
        "pca0": Direction("pca0", _unit(4), 0.0, {"kind": "pca"}),
    }  # fmt: skip
    wider = Editor(editor.bundle, {**editor.directions, **extra})
    assert wider.attributes == ["smile", "age", "glasses"]
    assert wider.held(["all"], "age_hold_glasses") == ["smile", "glasses"]
    assert wider.held(["all", "pca0"], "age") == ["smile", "glasses", "pca0"]
    moved = wider.edit(z, {"age_hold_glasses": 2.0}, hold=["all"])
    assert wider.distance(moved, "age") > wider.distance(z, "age") + 1.0
    with pytest.raises(LatentkitError, match="'beard'"):
        editor.edit(z, {"age": 1.0}, hold=["all", "beard"])


def test_no_direction_may_be_called_all(editor):
    from latentkit.latent.directions import check_direction_name

    with pytest.raises(LatentkitError, match="'all' is reserved"):
        check_direction_name("all")
    with pytest.raises(LatentkitError, match="reserved"):
        save_directions(editor.bundle, {"all": Direction("all", _unit(5), 0.0, {"kind": "supervised"})})


def test_the_old_conditional_keyword_still_holds_but_warns(editor):
    z = editor.sample(0)
    with pytest.warns(DeprecationWarning, match="conditional= keyword is now hold="):
        old = editor.edit(z, {"age": 2.0}, conditional=["glasses"])
    np.testing.assert_array_equal(old, editor.edit(z, {"age": 2.0}, hold=["glasses"]))
    with pytest.warns(DeprecationWarning):
        assert editor.edit_record({"age": 2.0}, conditional=["glasses"])[0]["hold"] == ["glasses"]
    with pytest.warns(DeprecationWarning), pytest.raises(LatentkitError, match="not both"):
        editor.edit(z, {"age": 2.0}, hold=["smile"], conditional=["glasses"])
    with pytest.raises(LatentkitError, match=r"hold='glasses': pass a list"):
        editor.edit(z, {"age": 2.0}, hold="glasses")


def test_absolute_edit_sets_the_signed_distances_jointly(editor):
    z = np.stack([editor.sample(s) for s in range(4)])
    out = editor.edit(z, {"age": 1.0, "glasses": -0.5}, mode="absolute")
    assert out.shape == (4, 16)
    np.testing.assert_allclose(editor.distance(out, "age"), 1.0, atol=1e-5)
    np.testing.assert_allclose(editor.distance(out, "glasses"), -0.5, atol=1e-5)
    # 0 means the fitted boundary, intercept included
    at_boundary = editor.edit(z[0], {"smile": 0.0}, mode="absolute")
    assert float(at_boundary @ _unit(1)) == pytest.approx(-0.2, abs=1e-5)


def test_absolute_edit_with_hold_keeps_the_held_distance_and_reaches_the_target(editor):
    z = editor.sample(5)
    out = editor.edit(z, {"age": 2.0}, hold=["glasses"], mode="absolute")
    assert editor.distance(out, "age") == pytest.approx(2.0, abs=1e-5)
    assert editor.distance(out, "glasses") == pytest.approx(editor.distance(z, "glasses"), abs=1e-5)


def test_strength_beyond_ten_warns_and_nan_strength_is_an_error(editor):
    z = editor.sample(0)
    with pytest.warns(UserWarning, match="smile=12"):
        editor.edit(z, {"smile": 12})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        editor.edit(z, {"smile": -10})
    with pytest.raises(LatentkitError, match="must be finite"):
        editor.edit(z, {"smile": float("nan")})


def test_bad_latents_and_names_are_one_line_errors(editor):
    with pytest.raises(LatentkitError, match=r"shape \(8,\), the model needs \(16,\)"):
        editor.edit(np.zeros(8), {"smile": 1})
    z = editor.sample(0)
    z[3] = np.nan
    with pytest.raises(LatentkitError, match="NaN"):
        editor.edit(z, {"smile": 1})
    with pytest.raises(
        LatentkitError, match="unknown direction 'smiel'; known directions: smile, age, glasses"
    ):
        editor.edit(editor.sample(0), {"smiel": 1})
    with pytest.raises(LatentkitError, match="mode 'sideways'"):
        editor.edit(editor.sample(0), {"smile": 1}, mode="sideways")


def test_edited_export_verifies_and_records_the_edit(editor, home, tmp_path):
    edits = {"smile": 1.5, "age": -1.0}
    z = editor.edit(editor.sample(3), edits, hold=["glasses"])
    record = editor.edit_record(edits, ["glasses"])
    result = editor.export(z, tmp_path, "face.png", seed=3, edits=record)
    report = verify_image(result.path)
    assert report.verified
    assert report.manifest["edits"] == [
        {
            "direction": "smile",
            "strength": 1.5,
            "mode": "relative",
            "hold": ["glasses"],
            "method": "svm",
            "space": "z",
        },
        {
            "direction": "age",
            "strength": -1.0,
            "mode": "relative",
            "hold": ["glasses"],
            "method": "svm",
            "space": "z",
        },
    ]
    assert report.manifest["latent"]["seed"] == 3


def test_an_old_edit_record_with_conditioned_on_still_verifies_and_reproduces(editor, home, tmp_path):
    from latentkit.provenance.reproduce import reproduce_image

    old = [{"direction": "age", "strength": 2.0, "mode": "relative", "conditioned_on": ["glasses"]}]
    z = editor.edit(editor.sample(4), {"age": 2.0}, hold=["glasses"])
    editor.export(z, tmp_path, "old.png", seed=4, edits=old, size=64)
    assert verify_image(tmp_path / "old.png").verified
    result = reproduce_image(tmp_path / "old.png", tmp_path / "copy.png", model=editor.bundle.path)
    assert result.identical
    copy = verify_image(tmp_path / "copy.png")
    assert copy.verified and copy.manifest["edits"] == old  # the record is kept as written


def test_render_gives_model_pixels_upscaled(editor):
    img = editor.render(editor.sample(0), size=64)
    assert img.shape == (64, 64, 3) and img.dtype == np.uint8


# --- latents on disk -----------------------------------------------------------------------------


@pytest.mark.parametrize("suffix", [".npy", ".json"])
def test_latents_round_trip_exactly(tmp_path, suffix):
    z = np.stack([sample_latent(s, 16) for s in range(3)])
    loaded = load_latents(save_latents(tmp_path / f"z{suffix}", z), 16)
    assert loaded.dtype == np.float32
    np.testing.assert_array_equal(loaded, z)
    one = load_latents(save_latents(tmp_path / f"one{suffix}", z[0]), 16)
    assert one.shape == (1, 16)


def test_pickled_npy_is_refused(tmp_path):
    buf = io.BytesIO()
    np.save(buf, np.array([{"evil": 1}], dtype=object), allow_pickle=True)
    (tmp_path / "z.npy").write_bytes(buf.getvalue())
    with pytest.raises(LatentkitError, match=r"z\.npy: not a plain numeric \.npy"):
        load_latents(tmp_path / "z.npy", 16)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ([[0.0] * 8], r"shape \(1, 8\), the model needs \(16,\) or \(N, 16\)"),
        ([[float("nan")] * 16], "NaN"),
        ({"latents": "zzz"}, "expected a list"),
        ([[1.0] * 16, [1.0] * 15], "equal length"),
    ],
)
def test_bad_latent_files_name_the_file_and_the_problem(tmp_path, content, message):
    path = tmp_path / "z.json"
    path.write_text(json.dumps(content))
    with pytest.raises(LatentkitError, match=message):
        load_latents(path, 16)


def test_edit_and_sweep_flags_parse_or_explain():
    assert parse_edit("smile=1.5") == ("smile", 1.5)
    name, values = parse_sweep("age=-3:3:7")
    assert name == "age"
    np.testing.assert_allclose(values, [-3, -2, -1, 0, 1, 2, 3])
    with pytest.raises(LatentkitError, match="NAME=STRENGTH"):
        parse_edit("smile")
    with pytest.raises(LatentkitError, match="START:STOP:COUNT"):
        parse_sweep("smile=-3:3")
