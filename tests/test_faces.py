"""The procedural faces: deterministic, labelled, each attribute drawing where its name says."""

import numpy as np
import pytest

from latentkit.data import load_dataset
from latentkit.data.faces import (
    ATTRIBUTES,
    FaceAttributes,
    glasses_probability,
    load_faces,
    render_face,
    render_faces,
    sample_attributes,
)
from latentkit.errors import LatentkitError


def _diff(a: FaceAttributes, b: FaceAttributes, size: int = 64) -> np.ndarray:
    """Per-pixel absolute difference (H, W) between two rendered faces."""
    return np.abs(render_face(a, size).astype(int) - render_face(b, size).astype(int)).sum(-1)


def _share(diff: np.ndarray, rows: slice, cols: slice) -> float:
    return diff[rows, cols].sum() / diff.sum()


def test_same_seed_gives_identical_pixels_and_labels():
    a_img, a_lab = render_faces(24, 32, seed=5, workers=1)
    b_img, b_lab = render_faces(24, 32, seed=5, workers=2)
    assert np.array_equal(a_img, b_img)
    assert all(np.array_equal(a_lab[k], b_lab[k]) for k in ATTRIBUTES)
    c_img, _ = render_faces(24, 32, seed=6, workers=1)
    assert not np.array_equal(a_img, c_img)


def test_face_i_does_not_depend_on_set_size():
    small, _ = render_faces(5, 32, seed=1, workers=1)
    large, _ = render_faces(300, 32, seed=1, workers=2)
    assert np.array_equal(small, large[:5])


@pytest.mark.parametrize("size", [32, 64, 128])
def test_dataset_shapes_and_label_ranges(size):
    ds = load_faces(size=size, n=40, seed=0, cache=False, workers=1)
    assert ds.data.shape == (40, 3, size, size) and ds.is_image
    assert set(ds.labels) == set(ATTRIBUTES)
    assert ds.labels["smile"].min() >= -1 and ds.labels["smile"].max() <= 1
    assert set(np.unique(ds.labels["glasses"])) <= {0.0, 1.0}
    x = ds.batch(np.arange(4))
    assert x.min() >= -1 and x.max() <= 1


def test_smile_changes_mostly_the_mouth():
    d = _diff(FaceAttributes(smile=-1), FaceAttributes(smile=1))
    assert _share(d, slice(38, 58), slice(16, 48)) > 0.95


def test_age_changes_hair_and_wrinkles_not_the_mouth():
    d = _diff(FaceAttributes(age=0.0), FaceAttributes(age=1.0))
    assert _share(d, slice(0, 34), slice(0, 64)) > 0.85  # hair, forehead, eye corners
    assert _share(d, slice(42, 58), slice(20, 44)) < 0.02  # mouth


def test_glasses_draw_around_the_eyes():
    d = _diff(FaceAttributes(glasses=0), FaceAttributes(glasses=1))
    assert _share(d, slice(22, 38), slice(0, 64)) > 0.95


def test_pose_shifts_features_sideways():
    left = render_face(FaceAttributes(pose=-1)).astype(float).sum(-1)
    right = render_face(FaceAttributes(pose=1)).astype(float).sum(-1)
    # Dark features (eyes) move: the darkest column of the eye row lies further right when turned right.
    assert np.argmin(right[30]) > np.argmin(left[30])


def test_older_faces_wear_glasses_more_often():
    rng = np.random.default_rng(0)
    faces = [sample_attributes(rng) for _ in range(20_000)]
    age = np.array([f.age for f in faces])
    glasses = np.array([f.glasses for f in faces])
    young, old = glasses[age < 0.2].mean(), glasses[age > 0.8].mean()
    assert abs(young - glasses_probability(0.1)) < 0.03 and abs(old - glasses_probability(0.9)) < 0.03
    assert glasses_probability(0.0) == pytest.approx(0.15) and glasses_probability(1.0) == pytest.approx(0.6)
    assert np.corrcoef(age, glasses)[0, 1] > 0.2


def test_correlation_switch_makes_glasses_independent_of_age():
    rng = np.random.default_rng(0)
    faces = [sample_attributes(rng, glasses_age_correlation=0.0) for _ in range(20_000)]
    age = np.array([f.age for f in faces])
    glasses = np.array([f.glasses for f in faces])
    assert abs(np.corrcoef(age, glasses)[0, 1]) < 0.03
    assert abs(glasses.mean() - 0.375) < 0.02


def test_second_load_comes_from_the_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("LATENTKIT_CACHE", str(tmp_path))
    first = load_dataset("faces", size=32, n=50, seed=3)
    files = list((tmp_path / "faces").glob("*.npz"))
    assert len(files) == 1
    second = load_dataset("faces", size=32, n=50, seed=3)
    assert np.array_equal(first.data.numpy(), second.data.numpy())
    assert np.array_equal(first.labels["age"], second.labels["age"])
    # A different parameter is a different cache entry.
    load_dataset("faces", size=32, n=50, seed=3, glasses_age_correlation=0.0)
    assert len(list((tmp_path / "faces").glob("*.npz"))) == 2


def test_damaged_cache_is_rendered_again(tmp_path, monkeypatch):
    monkeypatch.setenv("LATENTKIT_CACHE", str(tmp_path))
    first = load_faces(size=32, n=20, seed=0, workers=1)
    (cache_file,) = (tmp_path / "faces").glob("*.npz")
    cache_file.write_bytes(cache_file.read_bytes()[:100])
    again = load_faces(size=32, n=20, seed=0, workers=1)
    assert np.array_equal(first.data.numpy(), again.data.numpy())


def test_bad_size_is_a_clear_error():
    with pytest.raises(LatentkitError, match="size 48"):
        load_faces(size=48, n=4, cache=False)


def test_preview_cli_writes_a_grid_sorted_by_an_attribute(cli, tmp_path):
    out = tmp_path / "grid.png"
    r = cli(
        "data", "preview", "--dataset", "faces", "--size", "32", "--n", "16", "--by", "smile", "--out", out
    )
    assert r.returncode == 0, r.stderr
    assert out.stat().st_size > 1000


def test_preview_cli_unknown_label_exits_2_with_one_line(cli, tmp_path):
    r = cli("data", "preview", "--size", "32", "--n", "8", "--by", "nope", "--out", tmp_path / "g.png")
    assert r.returncode == 2
    assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert "--by nope" in r.stderr
    assert not (tmp_path / "g.png").exists()


def test_unknown_dataset_names_the_builtins(cli, tmp_path):
    r = cli("data", "preview", "--dataset", "no-such-set", "--out", tmp_path / "g.png")
    assert r.returncode == 2 and "faces" in r.stderr and "Traceback" not in r.stderr
