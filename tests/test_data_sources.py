"""Specifications of the 2D mixtures, the digits, and the image-folder loader."""

from __future__ import annotations

import re
import struct
import warnings
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from latentkit.data import folder as folder_module
from latentkit.data import load_dataset
from latentkit.data.digits import load_digits_dataset
from latentkit.data.folder import load_folder, read_image
from latentkit.data.mixtures import assign_modes, load_mixture, mixture_means, mixture_std, sample_mixture
from latentkit.errors import LatentkitError

# 99.9% quantiles of the chi-square distribution with K - 1 degrees of freedom (ring K=8, grid K=25).
CHI2_999 = {8: 24.32, 25: 51.18}


# --- 2D mixtures --------------------------------------------------------------------------------------


def _check_mixture_statistics(name: str, n: int) -> None:
    ds = load_dataset(name, n=n, seed=1)
    means, std = mixture_means(name), mixture_std(name)
    points, modes = ds.data.numpy().astype(np.float64), ds.labels["mode"].astype(np.int64)
    k = len(means)
    assert ds.info["modes"] == k and np.unique(modes).tolist() == list(range(k))

    counts = np.bincount(modes, minlength=k)
    chi2 = ((counts - n / k) ** 2 / (n / k)).sum()
    assert chi2 < CHI2_999[k], f"mode frequencies {counts} are not uniform (chi2={chi2:.1f})"

    for m in range(k):
        p = points[modes == m]
        # The sample mean of each coordinate has standard error std / sqrt(n_m); allow 5 of them.
        np.testing.assert_allclose(p.mean(axis=0), means[m], atol=5 * std / np.sqrt(len(p)))
        # The sample std has relative standard error ~ 1 / sqrt(2 n_m) (~3% here); allow 15%.
        np.testing.assert_allclose(p.std(axis=0), [std, std], rtol=0.15)


def test_ring_has_8_equiprobable_modes_on_unit_circle_with_std_001() -> None:
    angles = 2 * np.pi * np.arange(8) / 8
    np.testing.assert_allclose(mixture_means("ring"), np.stack([np.cos(angles), np.sin(angles)], 1))
    assert mixture_std("ring") == 0.01
    _check_mixture_statistics("ring", n=8000)


def test_grid_has_25_equiprobable_modes_at_even_coordinates_with_std_005() -> None:
    means = mixture_means("grid")
    assert means.shape == (25, 2)
    assert {tuple(m) for m in means} == {(i, j) for i in (-4, -2, 0, 2, 4) for j in (-4, -2, 0, 2, 4)}
    assert mixture_std("grid") == 0.05
    _check_mixture_statistics("grid", n=25_000)


def test_mixture_dataset_is_float32_points_with_mode_labels_and_info() -> None:
    ds = load_mixture("ring", n=500, seed=0)
    assert ds.data.dtype == torch.float32 and ds.data.shape == (500, 2) and not ds.is_image
    assert ds.labels["mode"].dtype == np.float32
    assert ds.info["modes"] == 8 and ds.info["std"] == 0.01 and len(ds.info["means"]) == 8
    assert len(load_dataset("grid")) == 100_000  # load_dataset's default size


def test_mixture_is_deterministic_per_seed() -> None:
    a, b, c = (load_mixture("grid", n=300, seed=s) for s in (7, 7, 8))
    assert torch.equal(a.data, b.data) and np.array_equal(a.labels["mode"], b.labels["mode"])
    assert not torch.equal(a.data, c.data)


def test_sample_mixture_returns_points_and_int64_modes() -> None:
    points, modes = sample_mixture("ring", 50, np.random.default_rng(0))
    assert points.shape == (50, 2) and points.dtype == np.float32
    assert modes.shape == (50,) and modes.dtype == np.int64 and modes.max() < 8


def test_assign_modes_recovers_generating_mode_and_distance() -> None:
    points, modes = sample_mixture("grid", 2000, np.random.default_rng(3))
    nearest, distance = assign_modes(torch.from_numpy(points), "grid")
    assert np.array_equal(nearest, modes)  # modes are 2 apart, 40 std: no sample crosses over
    # Distance to the centre of a 2D isotropic Gaussian is Rayleigh: mean std * sqrt(pi / 2).
    assert distance.mean() == pytest.approx(0.05 * np.sqrt(np.pi / 2), rel=0.05)
    nearest, distance = assign_modes(np.array([[0.0, 1.0], [-0.9, 0.05]]), "ring")
    assert nearest.tolist() == [2, 4]
    np.testing.assert_allclose(distance, [0.0, np.hypot(0.1, 0.05)], atol=1e-12)


def test_unknown_mixture_name_is_a_user_error() -> None:
    with pytest.raises(LatentkitError, match="spiral"):
        load_mixture("spiral")
    with pytest.raises(LatentkitError, match="spiral"):
        mixture_means("spiral")


# --- digits -------------------------------------------------------------------------------------------


def _sklearn_digits_at_8px() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits

    bunch = load_digits()
    return np.round(bunch.images * 255 / 16).astype(np.uint8), bunch.target


def test_digits_are_all_1797_images_as_uint8_with_digit_labels() -> None:
    ds = load_dataset("digits", size=16)
    assert ds.data.shape == (1797, 1, 16, 16) and ds.data.dtype == torch.uint8
    assert ds.data.min() == 0 and ds.data.max() == 255
    assert ds.labels["digit"].dtype == np.float32
    assert sorted(np.unique(ds.labels["digit"]).tolist()) == list(range(10))
    assert ds.info["modes"] == 10


def test_digits_at_8px_are_sklearn_images_scaled_to_255() -> None:
    images, target = _sklearn_digits_at_8px()
    ds = load_digits_dataset(size=8)
    assert np.array_equal(ds.data[:, 0].numpy(), images)
    assert np.array_equal(ds.labels["digit"], target.astype(np.float32))


def test_digits_with_n_sample_with_replacement_deterministically() -> None:
    a = load_digits_dataset(size=8, n=3000, seed=5)
    b = load_digits_dataset(size=8, n=3000, seed=5)
    assert a.data.shape == (3000, 1, 8, 8)  # more than 1797: drawn with replacement
    assert torch.equal(a.data, b.data) and np.array_equal(a.labels["digit"], b.labels["digit"])
    images, target = _sklearn_digits_at_8px()
    label_of = {img.tobytes(): t for img, t in zip(images, target, strict=True)}
    assert all(
        label_of[img.tobytes()] == d for img, d in zip(a.data[:, 0].numpy(), a.labels["digit"], strict=True)
    )


def test_stacked_digits_mode_matches_channel_digits_and_channel_images() -> None:
    ds = load_dataset("stacked-digits", size=8, n=500, seed=2)
    assert ds.data.shape == (500, 3, 8, 8) and ds.data.dtype == torch.uint8
    r, g, b = (ds.labels[f"digit_{c}"] for c in "rgb")
    np.testing.assert_array_equal(ds.labels["mode"], 100 * r + 10 * g + b)
    images, target = _sklearn_digits_at_8px()
    labels_of: dict[bytes, set[int]] = {}
    for img, t in zip(images, target, strict=True):
        labels_of.setdefault(img.tobytes(), set()).add(int(t))
    for c, digit in enumerate((r, g, b)):
        for img, d in zip(ds.data[:, c].numpy(), digit, strict=True):
            assert int(d) in labels_of[img.tobytes()]


def test_stacked_digits_default_has_50000_samples_covering_all_1000_modes() -> None:
    ds = load_digits_dataset(size=8, stacked=True)
    assert len(ds) == 50_000 and ds.info["modes"] == 1000
    # 50 draws per mode on average: missing one has probability ~1000 * e^-50.
    assert len(np.unique(ds.labels["mode"])) == 1000


def test_stacked_digits_are_deterministic_per_seed() -> None:
    a, b, c = (load_digits_dataset(size=8, stacked=True, n=200, seed=s) for s in (4, 4, 5))
    assert torch.equal(a.data, b.data) and np.array_equal(a.labels["mode"], b.labels["mode"])
    assert not np.array_equal(a.labels["mode"], c.labels["mode"])


@pytest.mark.parametrize("size", [4, 12, 48])
def test_digits_size_must_be_a_power_of_two_at_least_8(size: int) -> None:
    with pytest.raises(LatentkitError, match="power of two"):
        load_digits_dataset(size=size)


# --- image folders ------------------------------------------------------------------------------------

RED, GREEN, BLUE = (255, 0, 0), (0, 255, 0), (0, 0, 255)


def _save(path: Path, color: tuple[int, int, int] = RED, size: tuple[int, int] = (24, 24)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, color).save(path)
    return path


def _mean_color(image: torch.Tensor) -> list[float]:
    return image.float().mean(dim=(1, 2)).tolist()


def test_folder_finds_nested_images_of_all_suffixes_sorted_by_relative_path(tmp_path: Path) -> None:
    _save(tmp_path / "b.png", GREEN)
    _save(tmp_path / "a" / "z.JPG", RED)
    _save(tmp_path / "a" / "deep" / "x.webp", BLUE)
    _save(tmp_path / "c.jpeg", (255, 255, 255))
    (tmp_path / "notes.txt").write_text("not an image")
    _save(tmp_path / ".hidden" / "h.png")
    ds = load_dataset(str(tmp_path), size=16)
    assert ds.info["files"] == ["a/deep/x.webp", "a/z.JPG", "b.png", "c.jpeg"]
    assert ds.info["root"] == str(tmp_path) and ds.labels == {}
    assert ds.data.shape == (4, 3, 16, 16) and ds.data.dtype == torch.uint8
    expected = [BLUE, RED, GREEN, (255, 255, 255)]
    for image, color in zip(ds.data, expected, strict=True):
        # webp and JPEG are lossy: a flat colour comes back within a few levels.
        np.testing.assert_allclose(_mean_color(image), color, atol=6)


@pytest.mark.parametrize("landscape", [True, False])
def test_folder_resizes_short_side_then_centre_crops(tmp_path: Path, landscape: bool) -> None:
    # 40 x 20: 10 red, 20 green, 10 blue columns. The centre square is exactly the green part.
    stripes = np.zeros((20, 40, 3), np.uint8)
    stripes[:, :10] = RED
    stripes[:, 10:30] = GREEN
    stripes[:, 30:] = BLUE
    if not landscape:
        stripes = stripes.transpose(1, 0, 2).copy()
    Image.fromarray(stripes).save(tmp_path / "stripes.png")
    image = load_folder(tmp_path, size=10).data[0]
    assert image.shape == (3, 10, 10)
    inner = image[:, 2:-2, 2:-2]  # LANCZOS may pull a little colour from just outside the crop at edges
    assert inner[1].min() >= 250 and inner[0].max() <= 5 and inner[2].max() <= 5


def test_folder_decodes_large_jpeg_via_draft_to_requested_size(tmp_path: Path) -> None:
    Image.new("RGB", (1600, 1200), BLUE).save(tmp_path / "big.jpg", quality=90)
    image = load_folder(tmp_path, size=32).data[0]
    assert image.shape == (3, 32, 32)
    np.testing.assert_allclose(_mean_color(image), BLUE, atol=6)


def test_folder_max_images_keeps_first_in_sorted_order(tmp_path: Path) -> None:
    for i in range(5):
        _save(tmp_path / f"{i}.png")
    ds = load_folder(tmp_path, size=8, max_images=2)
    assert ds.info["files"] == ["0.png", "1.png"] and len(ds) == 2


def test_folder_labels_csv_gives_numeric_labels_in_image_order(tmp_path: Path) -> None:
    _save(tmp_path / "b.png")
    _save(tmp_path / "sub" / "a.png")
    (tmp_path / "labels.csv").write_text("filename,smile,age\nb.png,1,30.5\n./sub/a.png, 0 ,42\n")
    ds = load_folder(tmp_path, size=8)
    assert ds.info["files"] == ["b.png", "sub/a.png"]
    assert ds.labels["smile"].tolist() == [1.0, 0.0] and ds.labels["age"].tolist() == [30.5, 42.0]
    assert ds.labels["age"].dtype == np.float32


def _write_celeba(
    root: Path, attr_lines: list[str], images: tuple[str, ...] = ("000001.jpg", "000002.jpg")
) -> None:
    for name in images:
        _save(root / "img_align_celeba" / name)
    (root / "list_attr_celeba.txt").write_text("\n".join(attr_lines) + "\n")


def test_folder_reads_celeba_layout_with_attributes_mapped_to_0_1(tmp_path: Path) -> None:
    _write_celeba(
        tmp_path,
        [
            "3",
            "Eyeglasses Male Smiling ",
            "000001.jpg -1  1  1",
            "000002.jpg  1 -1 -1",
            "000003.jpg  1  1  1",  # not downloaded: a subset of CelebA is fine
        ],
    )
    ds = load_dataset(str(tmp_path), size=8)
    assert ds.info["files"] == ["img_align_celeba/000001.jpg", "img_align_celeba/000002.jpg"]
    assert ds.labels["Eyeglasses"].tolist() == [0.0, 1.0]
    assert ds.labels["Male"].tolist() == [1.0, 0.0] and ds.labels["Smiling"].tolist() == [1.0, 0.0]


def test_folder_skips_corrupt_images_with_one_warning_naming_them(tmp_path: Path) -> None:
    _save(tmp_path / "good.png", GREEN)
    (tmp_path / "bad1.png").write_bytes(b"this is not a png")
    _save(tmp_path / "bad2.jpg", RED, (64, 64))
    data = (tmp_path / "bad2.jpg").read_bytes()
    (tmp_path / "bad2.jpg").write_bytes(data[: len(data) // 3])  # truncated download
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ds = load_folder(tmp_path, size=8)
    assert [w.category for w in caught] == [UserWarning]
    message = str(caught[0].message)
    assert "skipped 2" in message and "bad1.png" in message and "bad2.jpg" in message
    assert ds.info["files"] == ["good.png"] and len(ds) == 1


def test_folder_treats_images_over_pixel_limit_as_unreadable(tmp_path: Path, monkeypatch) -> None:
    global_limit = Image.MAX_IMAGE_PIXELS
    monkeypatch.setattr(folder_module, "MAX_PIXELS", 30 * 30)  # stands in for ~50 Mpixel
    _save(tmp_path / "small.png", size=(30, 30))
    _save(tmp_path / "bomb.png", size=(31, 30))
    with pytest.warns(UserWarning, match="bomb.png"):
        ds = load_folder(tmp_path, size=8)
    assert ds.info["files"] == ["small.png"]
    assert global_limit == Image.MAX_IMAGE_PIXELS  # PIL's global limit untouched


def _png_header_only(path: Path, width: int, height: int) -> None:
    """A PNG claiming width x height pixels with no pixel data: a decompression bomb's header."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit RGB
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IEND", b""))


def test_read_image_refuses_over_50_mpixel_from_the_header(tmp_path: Path) -> None:
    _png_header_only(tmp_path / "big.png", 8000, 7000)  # 56 Mpixel: under PIL's own 89 Mpixel warning
    with pytest.raises(ValueError, match="8000x7000 exceeds 50000000 pixels"):
        read_image(tmp_path / "big.png", 8)


def test_folder_skips_decompression_bombs_with_only_its_own_warning(tmp_path: Path) -> None:
    _save(tmp_path / "ok.png")
    # 56 Mpixel (our limit), 100 Mpixel (PIL warns), 400 Mpixel (PIL raises).
    for side in ((8000, 7000), (10_000, 10_000), (20_000, 20_000)):
        _png_header_only(tmp_path / f"bomb_{side[0]}.png", *side)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ds = load_folder(tmp_path, size=8)
    assert [w.category for w in caught] == [UserWarning]
    assert "skipped 3" in str(caught[0].message)
    assert ds.info["files"] == ["ok.png"]


def test_folder_where_every_image_is_corrupt_is_a_user_error(tmp_path: Path) -> None:
    (tmp_path / "a.png").write_bytes(b"junk")
    with pytest.raises(LatentkitError, match="none of the 1 image files"):
        load_folder(tmp_path)


def test_empty_folder_is_a_user_error_naming_it(tmp_path: Path) -> None:
    (tmp_path / "readme.txt").write_text("no images here")
    with pytest.raises(LatentkitError, match=re.escape(str(tmp_path))):
        load_folder(tmp_path)


def test_missing_folder_is_a_user_error(tmp_path: Path) -> None:
    with pytest.raises(LatentkitError, match="nope"):
        load_folder(tmp_path / "nope")


@pytest.mark.parametrize(
    ("csv_text", "error"),
    [
        ("filename,smile\na.png,1\ngone.png,0\n", r"labels\.csv, line 3: 'gone.png' is not an image"),
        ("filename,smile\na.png,1,7\n", r"labels\.csv, line 2: expected 2 columns, found 3"),
        ("filename,smile\n\na.png,yes\n", r"labels\.csv, line 3: smile='yes' is not a finite number"),
        ("filename,smile\na.png,nan\n", r"labels\.csv, line 2: smile='nan' is not a finite number"),
        ("name,smile\na.png,1\n", r"labels\.csv, line 1: header must start with 'filename'"),
        ("filename,smile\na.png,1\na.png,0\n", r"labels\.csv, line 3: 'a.png' already has a row \(line 2\)"),
        ("filename,smile\n", r"labels\.csv: no row for image 'a.png'"),
    ],
)
def test_bad_labels_csv_is_a_user_error_naming_file_and_line(
    tmp_path: Path, csv_text: str, error: str
) -> None:
    _save(tmp_path / "a.png")
    (tmp_path / "labels.csv").write_text(csv_text)
    with pytest.raises(LatentkitError, match=error):
        load_folder(tmp_path, size=8)


@pytest.mark.parametrize(
    ("attr_lines", "error"),
    [
        (["two", "Male", "000001.jpg 1", "000002.jpg 1"], "line 1: expected the image count"),
        (["2", "Male Smiling", "000001.jpg 1 1", "000002.jpg 1"], "line 4: expected a filename and 2 values"),
        (["2", "Male", "000001.jpg 1", "000002.jpg 0"], "line 4: attribute values must be -1 or 1"),
        (["3", "Male", "000001.jpg 1", "000002.jpg -1"], "line 1: declares 3 images but the file lists 2"),
        (["1", "Male", "000001.jpg 1"], "no row for image '000002.jpg'"),
    ],
)
def test_malformed_celeba_attribute_file_is_a_user_error_naming_file_and_line(
    tmp_path: Path, attr_lines: list[str], error: str
) -> None:
    _write_celeba(tmp_path, attr_lines)
    with pytest.raises(LatentkitError, match=rf"list_attr_celeba\.txt.*{error}"):
        load_folder(tmp_path, size=8)
