"""Latents know their space: z, w and w+ of a style-based model through the editor, files, manifests,
`reproduce` and interpolation; a Z-only model keeps Z."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from latentkit.errors import LatentkitError
from latentkit.latent.directions import (
    Direction,
    draw_latents,
    fit_directions,
    latent_scale,
    load_directions,
    sampled_scale,
    save_directions,
)
from latentkit.latent.editor import Editor, load_latents, save_latents
from latentkit.latent.interpolate import default_method, keyframe_path
from latentkit.latent.sampling import sample_latent
from latentkit.models import DCGANConfig, build_generator, load_bundle, save_bundle
from latentkit.models.latents import edit_space, latent_shape, map_to_w, synthesize, truncate_w
from latentkit.provenance.manifest import decode_latent, decode_latents, latent_space
from latentkit.provenance.reproduce import reproduce_image
from latentkit.provenance.verify import format_report, verify_image

D = 16


def unit(i: int) -> np.ndarray:
    v = np.zeros(D)
    v[i] = 1.0
    return v


@pytest.fixture(scope="module")
def style_dir(tmp_path_factory):
    torch.manual_seed(0)
    cfg = DCGANConfig(resolution=32, latent_dim=D, ngf=8, ndf=8, g_norm="none", mapping_layers=2)
    G = build_generator(cfg)
    G.mapping.w_avg.copy_(torch.randn(D) * 0.1)  # as training would leave it: not the origin
    return save_bundle(tmp_path_factory.mktemp("style") / "s", G, cfg, name="style")


@pytest.fixture(scope="module")
def editor(style_dir):
    dirs = {
        "smile": Direction("smile", unit(0), 0.2, {"kind": "supervised", "method": "svm"}, "w"),
        "age": Direction("age", unit(1), -0.1, {"kind": "supervised", "method": "svm"}, "w"),
    }
    return Editor(load_bundle(style_dir), dirs)


def test_a_style_model_edits_in_w_and_a_seed_maps_through_its_mapping(editor):
    G = editor.bundle.generator
    assert editor.space == edit_space(G) == "w" and editor.latent_shape == (D,)
    z = sample_latent(3, D)
    w = map_to_w(G, z[None])[0]
    np.testing.assert_array_equal(editor.sample(3), w)
    np.testing.assert_allclose(editor.sample(3, psi=0.5), truncate_w(G, w, 0.5))
    centre = G.mapping.w_avg.numpy()
    np.testing.assert_allclose(editor.sample(3, psi=0.0), centre, atol=1e-7)  # psi 0: the mean face
    with torch.no_grad():  # rendering z and rendering its w are the same image
        torch.testing.assert_close(
            synthesize(G, torch.from_numpy(w[None]), "w"), G(torch.from_numpy(z[None]))
        )


def test_relative_edits_in_w_add_the_unit_direction_and_absolute_ones_set_the_distance(editor):
    w = editor.sample(1)
    moved = editor.edit(w, {"smile": 2.0})
    np.testing.assert_allclose(moved - w, 2.0 * unit(0), atol=1e-6)
    np.testing.assert_allclose(editor.distance(moved, "smile") - editor.distance(w, "smile"), 2.0, atol=1e-5)
    set_ = editor.edit(w, {"smile": 1.5, "age": -0.5}, mode="absolute")
    np.testing.assert_allclose(editor.distance(set_, "smile"), 1.5, atol=1e-5)
    np.testing.assert_allclose(editor.distance(set_, "age"), -0.5, atol=1e-5)


def test_w_strengths_are_in_standard_deviations_of_sampled_w_along_the_direction(editor):
    G = editor.bundle.generator
    w = map_to_w(G, np.stack([sample_latent(s, D) for s in range(4096)]))
    scale = sampled_scale(editor.bundle, "w", unit(0))
    assert scale == pytest.approx(w[:, 0].std(), rel=0.1)
    assert scale == latent_scale(map_to_w(G, draw_latents(4096, D, 12_345)), unit(0))
    scaled = Direction("smile", unit(0), 0.2, {"kind": "supervised", "scale": scale}, "w")
    ed = Editor(editor.bundle, {"smile": scaled})
    x = ed.sample(1)
    np.testing.assert_allclose(ed.edit(x, {"smile": 3.0}) - x, 3.0 * scale * unit(0), atol=1e-5)
    np.testing.assert_allclose(
        ed.distance(ed.edit(x, {"smile": 1.5}, mode="absolute"), "smile"), 1.5, atol=1e-5
    )
    assert sampled_scale(editor.bundle, "z", unit(0)) == 1.0  # Z: unit by definition, edits unchanged


def test_a_w_plus_latent_moves_every_layer_alike(style_dir, editor):
    plus = Editor(editor.bundle, editor.directions, space="w+")
    x = plus.sample(2)
    assert x.shape == latent_shape(editor.bundle.generator, "w+") == (editor.bundle.generator.num_ws, D)
    x[0] += 0.3  # a w+ latent whose layers differ
    moved = plus.edit(x, {"smile": 1.0})
    np.testing.assert_allclose(moved - x, np.tile(unit(0), (len(x), 1)), atol=1e-6)
    assert plus.render(x, 64).shape == (64, 64, 3)


def test_a_z_direction_is_refused_by_a_w_editor_with_a_clear_line(editor):
    wrong = Editor(editor.bundle, {"smile": Direction("smile", unit(0), 0.0, {"kind": "custom"}, "z")})
    with pytest.raises(LatentkitError, match="fitted in Z; this editor edits w latents"):
        wrong.edit(wrong.sample(0), {"smile": 1.0})


@pytest.mark.parametrize("space", ["z", "w", "w+"])
def test_latents_of_every_space_round_trip_through_json_with_their_space(editor, tmp_path, space):
    ed = Editor(editor.bundle, editor.directions, space=space)
    x = np.stack([ed.sample(s) for s in (0, 5)])
    path = ed.write_latents(tmp_path / "l.json", x)
    again = ed.read_latents(path)
    np.testing.assert_array_equal(again, x)  # bit-exact
    assert again.dtype == np.float32


def test_a_npy_file_holds_only_z_and_z_files_are_mapped_into_w(editor, tmp_path):
    with pytest.raises(LatentkitError, match=r"save w latents as \.json"):
        save_latents(tmp_path / "w.npy", editor.sample(0), space="w")
    z = np.stack([sample_latent(s, D) for s in (4, 9)])
    save_latents(tmp_path / "z.npy", z)
    np.testing.assert_array_equal(
        editor.read_latents(tmp_path / "z.npy"), map_to_w(editor.bundle.generator, z)
    )
    with pytest.raises(LatentkitError, match="holds w latents, expected z"):
        load_latents(editor.write_latents(tmp_path / "w.json", editor.sample(0)), D, space="z")


def test_a_z_only_model_has_no_w_space(tmp_path):
    cfg = DCGANConfig(resolution=32, latent_dim=D, ngf=8, ndf=8)
    bundle = load_bundle(save_bundle(tmp_path / "z", build_generator(cfg), cfg, name="z"))
    assert Editor(bundle).space == "z"
    with pytest.raises(LatentkitError, match="no W space"):
        Editor(bundle, space="w")
    save_latents(tmp_path / "w.json", np.zeros(D, np.float32), space="w")
    with pytest.raises(LatentkitError, match="holds w latents; this editor takes z"):
        Editor(bundle).read_latents(tmp_path / "w.json")


@pytest.mark.parametrize("space", ["w", "w+"])
def test_exports_record_the_space_and_reproduce_bit_exactly(home, editor, tmp_path, space):
    ed = Editor(editor.bundle, editor.directions, space=space)
    x = ed.edit(ed.sample(7, psi=0.8), {"smile": 1.0})
    result = ed.export(x, tmp_path, "face.png", seed=7, edits=ed.edit_record({"smile": 1.0}))
    m = result.manifest
    assert latent_space(m["latent"]) == space and m["edits"][0]["space"] == "w"
    np.testing.assert_array_equal(decode_latent(m["latent"]), x)
    report = verify_image(result.path)
    assert report.verified and f"{D * (len(x) if space == 'w+' else 1)}-d {space} latent" in format_report(
        report
    )
    again = reproduce_image(result.path, tmp_path / "again.png", model=editor.bundle.path)
    assert again.identical


def test_an_animation_in_w_plus_records_its_frames_exactly(home, editor, tmp_path):
    from latentkit.provenance.export import export_animation

    plus = Editor(editor.bundle, editor.directions, space="w+")
    keys = np.stack([plus.sample(s) for s in (0, 1)])
    path, _ = keyframe_path(keys, 3, default_method("w+"))
    assert path.shape == (4, *keys.shape[1:])
    np.testing.assert_array_equal(path[0], keys[0])
    result = export_animation(editor.bundle, path, tmp_path, "a.gif", fps=8, space="w+")
    np.testing.assert_array_equal(decode_latents(result.manifest["animation"]["latents"]), path)
    assert reproduce_image(result.path, tmp_path / "b.gif", model=editor.bundle.path).identical


def test_interpolation_defaults_to_lerp_in_w_and_slerp_in_z():
    assert default_method("w") == "lerp" and default_method("w+") == "lerp" and default_method("z") == "slerp"


def test_directions_fit_in_w_are_stored_and_read_with_their_space(editor, tmp_path):
    found = fit_directions(editor.bundle, pca=2, sefa=2, progress=False)
    assert {d.space for d in found.values()} == {"w"}
    assert all(d.scale > 0 and "scale" in d.meta for d in found.values())
    path = save_directions(editor.bundle, found, tmp_path / "d.json")
    loaded = load_directions(editor.bundle, path)
    assert {d.space for d in loaded.values()} == {"w"}
    np.testing.assert_allclose(loaded["sefa0"].vector, found["sefa0"].vector)
    assert loaded["pca1"].scale == found["pca1"].scale
    in_z = fit_directions(editor.bundle, sefa=0, pca=0, progress=False, space="z")
    assert in_z == {}
    with pytest.raises(LatentkitError, match="one latent space"):
        save_directions(editor.bundle, {"x": Direction("x", unit(2), 0.0, {"kind": "custom"}, "z")}, path)


def test_the_editor_app_edits_a_style_model_in_w_and_exports_w_latents(home, style_dir, tmp_path):
    from latentkit.app.core import EditorApp

    save_directions(
        load_bundle(style_dir),
        {
            "smile": Direction(
                "smile", unit(0), 0.0, {"kind": "supervised", "method": "svm", "scale": 2.0}, "w"
            )
        },
    )
    app = EditorApp(style_dir, workdir=tmp_path / "work")
    s = app.new_session()
    assert app.editor(s).space == "w"
    base = app.editor(s).sample(0)
    np.testing.assert_array_equal(s.now.latent, base)  # the session starts at seed 0's w
    moved = app.editor(s).edit(base, {"smile": 1.0})
    np.testing.assert_allclose(moved - base, 2.0 * unit(0), atol=1e-6)  # one unit = the stored scale
    path = app.export(moved, app.fresh_folder(), "face.png", 128, seed=0)
    m = verify_image(path).manifest
    assert latent_space(m["latent"]) == "w"
    np.testing.assert_array_equal(decode_latent(m["latent"]), moved)


def test_small_exports_record_their_watermark_carrier_and_older_ones_reproduce_unchanged(
    home, editor, tmp_path
):
    from latentkit.provenance.export import export_image

    fresh = editor.export(editor.sample(3), tmp_path, "small.png", size=128)
    assert fresh.manifest["watermark"] == {
        "scheme": "latentkit-iss/1",
        "export_id": fresh.export_id,
        "carrier": "small",
    }
    assert verify_image(fresh.path).watermark.found
    assert reproduce_image(fresh.path, tmp_path / "small2.png", model=editor.bundle.path).identical
    # An export made before the small carrier existed: a 6-digit id on the main carrier, no record.
    old = export_image(
        editor.bundle, editor.sample(3), tmp_path, "old.png", size=128, export_id="abc123", space="w"
    )
    assert "carrier" not in old.manifest["watermark"]
    assert reproduce_image(old.path, tmp_path / "old2.png", model=editor.bundle.path).identical
