"""FID, KID, precision/recall, density/coverage, and the mode-collapse metrics."""

import math

import numpy as np
import pytest
import scipy.linalg
import torch

from latentkit.data.mixtures import mixture_means, sample_mixture
from latentkit.errors import LatentkitError
from latentkit.metrics import METRICS, compute_metrics, real_floor
from latentkit.metrics.fid import feature_stats, fid, frechet_distance, kid
from latentkit.metrics.knn import density_coverage, intrinsic_dimensions, precision_recall, twonn_dimension
from latentkit.metrics.modes import kl_to_uniform, mode_metrics, stacked_mode_metrics


def gaussian(n: int, d: int = 8, shift: float = 0.0, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(n, d)) + shift


def random_spd(d: int, rng: np.random.Generator) -> np.ndarray:
    a = rng.normal(size=(d, d))
    return a @ a.T + 0.1 * np.eye(d)


# ---- FID ----------------------------------------------------------------------------------------


def test_fid_of_identical_sets_is_zero():
    x = gaussian(500)
    assert fid(x, x) == pytest.approx(0.0, abs=1e-8)


def test_frechet_distance_of_diagonal_gaussians_matches_closed_form():
    # With commuting covariances tr((S1 S2)^1/2) = sum sqrt(a_i b_i), so
    # FD = ||mu1 - mu2||^2 + sum (sqrt(a_i) - sqrt(b_i))^2.
    # mu1 - mu2 = (1, 2, 0) -> 5;  a = (1, 4, 9), b = (4, 1, 9) -> (1-2)^2 + (2-1)^2 + 0 = 2.  FD = 7.
    mu1, mu2 = np.array([1.0, 2.0, 3.0]), np.array([0.0, 0.0, 3.0])
    s1, s2 = np.diag([1.0, 4.0, 9.0]), np.diag([4.0, 1.0, 9.0])
    assert frechet_distance(mu1, s1, mu2, s2) == pytest.approx(7.0, abs=1e-12)


def test_frechet_distance_of_rotated_gaussians_matches_closed_form():
    # Same eigenvectors Q: the closed form above holds in the rotated basis.
    rng = np.random.default_rng(0)
    q, _ = np.linalg.qr(rng.normal(size=(5, 5)))
    a, b = rng.uniform(0.5, 3.0, 5), rng.uniform(0.5, 3.0, 5)
    mu1, mu2 = rng.normal(size=5), rng.normal(size=5)
    expected = np.sum((mu1 - mu2) ** 2) + np.sum((np.sqrt(a) - np.sqrt(b)) ** 2)
    got = frechet_distance(mu1, q @ np.diag(a) @ q.T, mu2, q @ np.diag(b) @ q.T)
    assert got == pytest.approx(expected, rel=1e-10)


def test_frechet_distance_agrees_with_scipy_sqrtm_for_general_covariances():
    rng = np.random.default_rng(1)
    for _ in range(5):
        s1, s2 = random_spd(6, rng), random_spd(6, rng)
        mu1, mu2 = rng.normal(size=6), rng.normal(size=6)
        root = scipy.linalg.sqrtm(s1 @ s2).real
        expected = np.sum((mu1 - mu2) ** 2) + np.trace(s1 + s2 - 2 * root)
        assert frechet_distance(mu1, s1, mu2, s2) == pytest.approx(expected, rel=1e-8)


def test_fid_of_samples_approaches_the_gaussians_distance():
    # N(0, I) vs N((3, 0), 4 I) in 2-D: FD = 9 + 2 * (1 - 2)^2 = 11.
    rng = np.random.default_rng(2)
    a = rng.normal(size=(40_000, 2))
    b = rng.normal(size=(40_000, 2)) * 2.0 + np.array([3.0, 0.0])
    assert fid(a, b) == pytest.approx(11.0, rel=0.02)


def test_fid_is_finite_and_non_negative_with_fewer_samples_than_dimensions():
    value = fid(gaussian(10, d=64, seed=0), gaussian(10, d=64, seed=1))
    assert math.isfinite(value) and value > 0


def test_feature_stats_needs_two_samples():
    mu, cov = feature_stats(np.array([[1.0, 2.0], [3.0, 6.0]]))
    np.testing.assert_allclose(mu, [2.0, 4.0])
    np.testing.assert_allclose(cov, [[2.0, 4.0], [4.0, 8.0]])
    with pytest.raises(LatentkitError, match="at least 2 samples"):
        feature_stats(np.ones((1, 4)))


def test_fid_rejects_mismatched_feature_sizes():
    with pytest.raises(LatentkitError, match="feature sizes differ"):
        fid(gaussian(10, d=4), gaussian(10, d=5))


# ---- KID ----------------------------------------------------------------------------------------


def test_kid_is_near_zero_for_the_same_distribution_and_positive_when_shifted():
    a, b = gaussian(400, seed=0), gaussian(400, seed=1)
    same_mean, same_std = kid(a, b, subsets=20, subset_size=200)
    shifted_mean, _ = kid(a, gaussian(400, shift=1.0, seed=1), subsets=20, subset_size=200)
    assert abs(same_mean) < 3 * same_std + 0.01
    assert shifted_mean > 0.3
    assert shifted_mean > 20 * abs(same_mean)


def test_kid_is_deterministic_per_seed():
    a, b = gaussian(300, seed=0), gaussian(300, shift=0.5, seed=1)
    assert kid(a, b, subsets=5, subset_size=100, seed=3) == kid(a, b, subsets=5, subset_size=100, seed=3)


def test_kid_of_one_subset_matches_the_unbiased_formula():
    # MMD^2_u = mean_{i != j} k(x_i, x_j) + mean_{i != j} k(y_i, y_j) - 2 mean_{i, j} k(x_i, y_j).
    x, y = gaussian(6, d=3, seed=0), gaussian(6, d=3, shift=0.5, seed=1)

    def k(u, v):
        return (u @ v / 3 + 1) ** 3

    off = [(i, j) for i in range(6) for j in range(6) if i != j]
    expected = (
        np.mean([k(x[i], x[j]) for i, j in off])
        + np.mean([k(y[i], y[j]) for i, j in off])
        - 2 * np.mean([k(x[i], y[j]) for i in range(6) for j in range(6)])
    )
    mean, std = kid(x, y, subsets=1, subset_size=6)
    assert mean == pytest.approx(expected, rel=1e-12)
    assert std == 0.0


# ---- precision / recall, density / coverage -----------------------------------------------------


def test_identical_sets_have_precision_recall_density_coverage_one():
    x = gaussian(300)
    assert precision_recall(x, x) == {"precision": 1.0, "recall": 1.0}
    dc = density_coverage(x, x)
    assert dc["coverage"] == 1.0
    assert dc["density"] == pytest.approx(1.0, abs=0.3)


def test_disjoint_sets_have_zero_precision_recall_and_coverage():
    real, fake = gaussian(300, seed=0), gaussian(300, shift=50.0, seed=1)
    assert precision_recall(real, fake) == {"precision": 0.0, "recall": 0.0}
    assert density_coverage(real, fake) == {"density": 0.0, "coverage": 0.0}


def test_same_distribution_scores_high_and_accepts_tensors():
    real, fake = torch.from_numpy(gaussian(600, d=4, seed=0)), torch.from_numpy(gaussian(600, d=4, seed=1))
    pr = precision_recall(real, fake)
    assert pr["precision"] > 0.85 and pr["recall"] > 0.85
    assert density_coverage(real, fake)["coverage"] > 0.85


def test_collapsed_fakes_keep_precision_but_lose_recall():
    real = gaussian(500, d=2, seed=0)
    fake = gaussian(500, d=2, seed=1) * 0.05  # every fake sits near the real mean
    pr = precision_recall(real, fake)
    assert pr["precision"] > 0.95
    assert pr["recall"] < 0.2


def test_twonn_dimension_recovers_the_dimension_of_a_linear_sheet():
    rng = np.random.default_rng(0)
    for d in (2, 5):
        sheet = rng.uniform(size=(2000, d)) @ rng.normal(size=(d, 20))  # a d-dim sheet in 20 dims
        assert twonn_dimension(sheet) == pytest.approx(d, rel=0.15)


def test_matched_marginals_on_a_lower_sheet_keep_precision_and_lose_recall_and_dimension():
    # What the faces candidates do: each coordinate's spread matches, but the fakes lie on a
    # 2-dim sheet of the 6-dim cube, so recall falls and the fake dimension says why.
    rng = np.random.default_rng(0)
    real = rng.uniform(size=(1500, 6))
    t = rng.uniform(size=(1500, 2))
    fake = np.concatenate([t, t, t], axis=1)  # uniform marginals, 2 free coordinates
    dims = intrinsic_dimensions(real, fake)
    assert dims["dimension_real"] == pytest.approx(6, rel=0.2)
    assert dims["dimension_fake"] == pytest.approx(2, rel=0.2)
    assert precision_recall(real, fake)["recall"] < 0.1


def test_twonn_dimension_leaves_out_duplicates_and_rejects_all_duplicates():
    x = np.random.default_rng(0).uniform(size=(1000, 3))
    assert twonn_dimension(np.concatenate([x, x[:10]])) == pytest.approx(twonn_dimension(x), rel=0.05)
    with pytest.raises(LatentkitError, match="need at least 3 distinct samples, got 1"):
        twonn_dimension(np.zeros((10, 3)))


def test_knn_metrics_need_more_than_k_samples():
    with pytest.raises(LatentkitError, match="need more than k=3 samples, got 3"):
        precision_recall(gaussian(3), gaussian(10))
    with pytest.raises(LatentkitError, match="fake features: need more than k=3 samples, got 2"):
        precision_recall(gaussian(10), gaussian(2))
    with pytest.raises(LatentkitError, match="need more than k=5 samples, got 5"):
        density_coverage(gaussian(5), gaussian(10))


def test_one_mode_generator_covers_one_eighth_of_the_ring():
    rng = np.random.default_rng(0)
    real, real_modes = sample_mixture("ring", 2000, rng)
    fake = mixture_means("ring")[0] + rng.normal(0.0, 0.01, size=(2000, 2))  # mode 0 only
    assert mode_metrics(fake, "ring")["modes_covered"] == 1
    dc = density_coverage(real, fake)
    assert dc["coverage"] == pytest.approx(np.mean(real_modes == 0), abs=0.01)
    assert dc["coverage"] == pytest.approx(1 / 8, abs=0.03)


# ---- mode metrics -------------------------------------------------------------------------------


def test_perfect_ring_sample_covers_8_modes_with_high_quality_and_near_zero_reverse_kl():
    points, _ = sample_mixture("ring", 10_000, np.random.default_rng(1))
    m = mode_metrics(points, "ring")
    assert m["modes_covered"] == 8
    # In 2-D, P(|x - mu| <= 3 std) = 1 - exp(-9/2) = 0.989.
    assert m["high_quality"] == pytest.approx(1 - math.exp(-4.5), abs=0.005)
    assert m["reverse_kl"] < 0.002


def test_perfect_grid_sample_covers_25_modes():
    points, _ = sample_mixture("grid", 10_000, np.random.default_rng(2))
    m = mode_metrics(torch.from_numpy(points), "grid")
    assert m["modes_covered"] == 25
    assert m["reverse_kl"] < 0.005


def test_single_mode_has_reverse_kl_log_k_and_scattered_points_are_low_quality():
    centre = np.repeat(mixture_means("ring")[3][None], 100, axis=0)
    m = mode_metrics(centre, "ring")
    assert m == {"modes_covered": 1, "high_quality": 1.0, "reverse_kl": pytest.approx(math.log(8))}
    far = mode_metrics(np.zeros((50, 2)), "ring")  # the ring's centre is 1 = 100 std from every mode
    assert far["modes_covered"] == 0 and far["high_quality"] == 0.0 and far["reverse_kl"] == math.inf


def test_min_count_makes_mode_coverage_stricter():
    means = mixture_means("ring")
    points = np.concatenate([np.repeat(means[:1], 50, axis=0), means[1:2]])  # 50 on mode 0, 1 on mode 1
    assert mode_metrics(points, "ring")["modes_covered"] == 2
    assert mode_metrics(points, "ring", min_count=5)["modes_covered"] == 1


def test_uniform_stacked_mode_ids_cover_1000_modes_with_zero_kl():
    m = stacked_mode_metrics(np.repeat(np.arange(1000), 10))
    assert m["modes_covered"] == 1000
    assert m["kl"] == pytest.approx(0.0, abs=1e-12)


def test_collapsed_stacked_modes():
    m = stacked_mode_metrics(torch.full((500,), 7))
    assert m["modes_covered"] == 1 and m["kl"] == pytest.approx(math.log(1000))
    assert m["channel_kl"] == pytest.approx([math.log(10)] * 3)  # mode 007: every channel one digit
    # Half on one mode, half on another: KL = log 1000 - log 2.
    assert stacked_mode_metrics([1] * 10 + [2] * 10)["kl"] == pytest.approx(math.log(500))
    with pytest.raises(LatentkitError, match=r"0\.\.999"):
        stacked_mode_metrics([1000])


def test_stacked_channel_kls_and_dependence_add_up_to_the_joint_kl():
    # R is always G and B is uniform and independent: R and G each uniform over 10 digits (channel KL
    # 0), but tied together, so the joint covers 100 of 1000 modes: KL log 10, all of it dependence.
    ids = [100 * a + 10 * a + b for a in range(10) for b in range(10)]
    m = stacked_mode_metrics(ids * 3)
    assert m["modes_covered"] == 100
    assert m["channel_kl"] == pytest.approx([0.0, 0.0, 0.0], abs=1e-12)
    assert m["kl"] == pytest.approx(math.log(10))
    # Channels independent, R never 0 or 1: the joint KL is exactly R's channel KL, log(10 / 8).
    ids = [100 * a + 10 * b + c for a in range(2, 10) for b in range(10) for c in range(10)]
    m = stacked_mode_metrics(ids)
    assert m["channel_kl"] == pytest.approx([math.log(10 / 8), 0.0, 0.0], abs=1e-12)
    assert m["kl"] == pytest.approx(math.log(10 / 8))


def test_kl_to_uniform_by_hand():
    # p = (1/2, 1/2, 0, 0) against uniform 1/4: 2 * 1/2 log((1/2) / (1/4)) = log 2.
    assert kl_to_uniform(np.array([5, 5, 0, 0])) == pytest.approx(math.log(2))


# ---- registry -----------------------------------------------------------------------------------


def test_compute_metrics_runs_every_registered_metric_by_name():
    real, fake = gaussian(200, seed=0), gaussian(200, shift=0.3, seed=1)
    out = compute_metrics(list(METRICS), real, fake)
    assert set(out) == {"fid", "kid", "kid_std", "precision", "recall", "density", "coverage",
                        "dimension_real", "dimension_fake"}  # fmt: skip
    assert out["fid"] == pytest.approx(fid(real, fake))
    with pytest.raises(LatentkitError, match="metric 'is'"):
        compute_metrics(["fid", "is"], real, fake)


def test_real_floor_compares_two_disjoint_halves_of_the_real_set():
    real = gaussian(1000, d=4)
    floor = real_floor(real, ["fid", "pr"])
    order = np.random.default_rng(0).permutation(1000)
    assert floor["fid"] == pytest.approx(fid(real[order[:500]], real[order[500:]]))
    assert 0 < floor["fid"] < 0.1
    assert floor["precision"] > 0.9 and floor["recall"] > 0.9
    # Tensors work too and split the same way.
    assert real_floor(torch.from_numpy(real), ["fid"])["fid"] == pytest.approx(floor["fid"])
