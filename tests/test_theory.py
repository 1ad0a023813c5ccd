"""The GAN game on discrete distributions: D*, KL, JS and V(D*, G) = -log 4 + 2 JS."""

import math

import numpy as np
import pytest

from latentkit.theory import js, kl, optimal_discriminator, value_at_optimum

LOG2 = math.log(2.0)


def random_distributions(seed: int, k: int = 7, n: int = 50) -> list[tuple[np.ndarray, np.ndarray]]:
    """`n` pairs of random distributions over k points, some with zeros in their support."""
    rng = np.random.default_rng(seed)
    pairs = []
    for i in range(n):
        p, q = rng.dirichlet(np.ones(k)), rng.dirichlet(np.ones(k))
        if i % 3 == 0:  # knock out a point of each, so the supports differ
            p[rng.integers(k)] = 0.0
            q[rng.integers(k)] = 0.0
            p, q = p / p.sum(), q / q.sum()
        pairs.append((p, q))
    return pairs


def test_worked_example_by_hand():
    # p = [1/2, 1/2, 0], q = [0, 1/2, 1/2].
    # D* = p / (p + q) = [1, 1/2, 0].
    # m = (p + q) / 2 = [1/4, 1/2, 1/4].
    # KL(p || m) = 1/2 log((1/2)/(1/4)) + 1/2 log((1/2)/(1/2)) = 1/2 log 2; KL(q || m) the same by symmetry.
    # JS = (KL(p||m) + KL(q||m)) / 2 = log 2 / 2.
    # V = E_p log D* + E_q log(1 - D*) = (1/2 log 1 + 1/2 log 1/2) + (1/2 log 1/2 + 1/2 log 1) = -log 2,
    # and -log 4 + 2 JS = -2 log 2 + log 2 = -log 2: the two agree.
    # KL(p || q) = inf because q(0) = 0 < p(0).
    p, q = np.array([0.5, 0.5, 0.0]), np.array([0.0, 0.5, 0.5])
    np.testing.assert_allclose(optimal_discriminator(p, q), [1.0, 0.5, 0.0])
    assert js(p, q) == pytest.approx(LOG2 / 2, abs=1e-15)
    assert kl(p, q) == math.inf
    assert value_at_optimum(p, q) == pytest.approx(-LOG2, abs=1e-15)


def test_kl_of_known_pair():
    # KL([3/4, 1/4] || [1/2, 1/2]) = 3/4 log(3/2) + 1/4 log(1/2)
    expected = 0.75 * math.log(1.5) + 0.25 * math.log(0.5)
    assert kl([0.75, 0.25], [0.5, 0.5]) == pytest.approx(expected, abs=1e-15)
    assert kl([0.5, 0.5], [0.5, 0.5]) == 0.0


def test_value_at_optimum_equals_minus_log4_plus_2js_on_random_distributions():
    for p, q in random_distributions(seed=0):
        assert value_at_optimum(p, q) == pytest.approx(-math.log(4) + 2 * js(p, q), abs=1e-12)


def test_value_is_exactly_minus_log4_when_generator_matches_data():
    for p, _ in random_distributions(seed=1, n=20):
        assert abs(value_at_optimum(p, p) + math.log(4)) < 1e-12
        np.testing.assert_array_equal(optimal_discriminator(p, p)[p > 0], 0.5)
        assert js(p, p) == 0.0


def test_js_is_symmetric_and_bounded_by_log2():
    for p, q in random_distributions(seed=2):
        assert js(p, q) == pytest.approx(js(q, p), abs=1e-15)
        assert 0.0 < js(p, q) <= LOG2 + 1e-15


def test_js_reaches_log2_on_disjoint_supports():
    assert js([1.0, 0.0], [0.0, 1.0]) == pytest.approx(LOG2, abs=1e-15)
    # D* is 1 on the data, 0 on the fakes: the discriminator is perfect and V reaches its maximum 0.
    assert value_at_optimum([1.0, 0.0], [0.0, 1.0]) == 0.0


def test_discriminator_is_one_half_where_both_are_zero():
    np.testing.assert_array_equal(optimal_discriminator([1.0, 0.0], [1.0, 0.0]), [0.5, 0.5])


@pytest.mark.parametrize(
    "p, q, match",
    [
        ([0.5, 0.6], [0.5, 0.5], "sum to"),
        ([1.5, -0.5], [0.5, 0.5], ">= 0"),
        ([0.5, 0.5], [1.0, 0.0, 0.0], "different lengths"),
        ([[0.5, 0.5]], [[0.5, 0.5]], "1-D"),
    ],
)
def test_invalid_distributions_are_rejected(p, q, match):
    with pytest.raises(ValueError, match=match):
        js(p, q)
