"""Disentanglement metrics on synthetic cases with known answers: StyleGAN's linear separability,
cosines between directions, StyleSpace's attribute dependency."""

import math

import numpy as np
import pytest

from latentkit.errors import LatentkitError
from latentkit.metrics import (
    attribute_dependency,
    direction_cosines,
    linear_separability,
    separability_by_space,
)


def binary_entropy(p):
    return -p * math.log2(p) - (1 - p) * math.log2(1 - p)


def test_an_attribute_set_by_one_coordinate_is_perfectly_separable_score_one():
    z = np.random.default_rng(0).standard_normal((400, 4))
    scores = {"smile": np.tanh(z[:, 0]), "glasses": 1 / (1 + np.exp(-5 * z[:, 1]))}
    sep = linear_separability(z, scores, binary=["glasses"])
    assert sep.entropy == {"smile": 0.0, "glasses": 0.0}
    assert sep.score == 1.0 and sep.kept == 200


def test_attributes_independent_of_the_latents_cost_one_bit_each_score_two_per_attribute():
    rng = np.random.default_rng(0)
    z = rng.standard_normal((4000, 2))
    scores = {"age": rng.uniform(0, 1, 4000), "glasses": rng.uniform(0, 1, 4000)}
    sep = linear_separability(z, scores, binary=["glasses"])
    for h in sep.entropy.values():
        assert h == pytest.approx(1.0, abs=0.01)
    assert sep.score == pytest.approx(4.0, rel=0.02)


def _ten_percent_flipped(binary):
    """200 samples, a 1-D latent: the confident half has latent = its class except 10% flipped;
    the unconfident half has every latent against its class (so keeping it would change H)."""
    y = np.repeat([1, 0], 50)
    x_kept = np.where(np.arange(100) % 10 == 0, 1 - y, y) * 2.0 - 1  # 5 of 50 per class flipped
    y_low = np.repeat([1, 0], 50)
    x_low = (1 - y_low) * 2.0 - 1
    if binary:
        s = np.concatenate([np.where(y, 0.99, 0.01), np.where(y_low, 0.51, 0.49)])
    else:  # median 0: confidence 3 for the first half, 0.01 for the second
        s = np.concatenate([np.where(y, 3.0, -3.0), np.where(y_low, 0.01, -0.01)])
    return np.concatenate([x_kept, x_low])[:, None], s


@pytest.mark.parametrize("binary", [False, True])
def test_the_most_confident_half_with_ten_percent_flipped_gives_the_binary_entropy_of_a_tenth(binary):
    latents, s = _ten_percent_flipped(binary)
    sep = linear_separability(latents, {"a": s}, binary=["a"] if binary else [])
    assert sep.entropy["a"] == pytest.approx(binary_entropy(0.1), abs=1e-6)  # 0.469 bits
    # the paper's exp(sum H in nats) is the code's 2 ** (sum H in bits)
    assert sep.score == pytest.approx(math.exp(binary_entropy(0.1) * math.log(2)), rel=1e-9)


def test_separability_by_space_scores_the_same_samples_in_each_space():
    rng = np.random.default_rng(1)
    z = rng.standard_normal((1000, 3))
    w = rng.standard_normal((1000, 3))  # unrelated to the attribute
    out = separability_by_space({"z": z, "w": w}, {"smile": z[:, 2]})
    assert out["z"].score == 1.0
    assert out["w"].entropy["smile"] > 0.95
    with pytest.raises(LatentkitError, match="different numbers of samples"):
        separability_by_space({"z": z, "w": w[:10]}, {"smile": z[:, 2]})


def test_separability_rejects_scores_of_the_wrong_length_and_unknown_binary_names():
    z = np.zeros((10, 2))
    with pytest.raises(LatentkitError, match="scores 'smile' must be \\(10,\\)"):
        linear_separability(z, {"smile": np.zeros(9)})
    with pytest.raises(LatentkitError, match="binary attribute 'glasses' has no scores"):
        linear_separability(z, {"smile": np.zeros(10)}, binary=["glasses"])


def test_cosines_of_orthogonal_parallel_and_opposite_directions():
    names, cos = direction_cosines(
        {
            "a": np.array([1.0, 0, 0]),
            "b": np.array([0, 3.0, 0]),
            "c": np.array([2.0, 0, 0]),
            "d": [-1.0, -1, 0],
        }
    )
    assert names == ["a", "b", "c", "d"]
    expected = np.array(
        [
            [1, 0, 1, -(0.5**0.5)],
            [0, 1, 0, -(0.5**0.5)],
            [1, 0, 1, -(0.5**0.5)],
            [-(0.5**0.5), -(0.5**0.5), -(0.5**0.5), 1],
        ]
    )
    np.testing.assert_allclose(cos, expected, atol=1e-12)
    with pytest.raises(LatentkitError, match="direction 'z' is zero"):
        direction_cosines({"a": np.ones(3), "z": np.zeros(3)})


def test_dependency_is_zero_when_the_other_attributes_do_not_move():
    base = {"smile": np.array([-1.0, 1.0, -1.0, 1.0]), "age": np.array([0.2, 0.4, 0.6, 0.8])}
    edited = {s: {"smile": base["smile"] + 0.5 * s, "age": base["age"]} for s in (1.0, 2.0, 3.0)}
    dep = attribute_dependency(base, edited, "smile")
    assert dep.strengths == [1.0, 2.0, 3.0] and dep.target_change == [0.5, 1.0, 1.5]  # smile std 1
    assert dep.ad == {"age": [0.0, 0.0, 0.0]} and dep.per_target_std == {"age": [0.0, 0.0, 0.0]}


def test_dependency_is_the_mean_absolute_change_in_the_attributes_own_stds():
    base = {"smile": np.array([-1.0, 1.0, -1.0, 1.0]), "skin": np.array([-2.0, 2.0, 2.0, -2.0])}  # stds 1, 2
    # skin moves +s for half the samples and -s for the others: its mean does not move, |change| = s
    edited = {
        s: {"smile": base["smile"] + 0.5 * s, "skin": base["skin"] + s * np.array([1, 1, -1, -1])}
        for s in (1, 2, 3)
    }
    dep = attribute_dependency(base, edited, "smile")
    assert dep.ad["skin"] == [0.5, 1.0, 1.5]
    assert dep.per_target_std["skin"] == [1.0, 1.0, 1.0]  # one skin std per smile std


def test_dependency_of_an_edit_that_does_not_move_its_target_has_no_per_target_ratio():
    base = {"smile": np.array([0.0, 1.0]), "age": np.array([0.0, 1.0])}
    dep = attribute_dependency(base, {1.0: {"smile": base["smile"], "age": base["age"] + 0.5}}, "smile")
    assert dep.ad == {"age": [1.0]} and dep.per_target_std == {"age": [None]}


def test_dependency_names_missing_target_missing_scores_and_wrong_shapes():
    base = {"smile": np.zeros(3), "age": np.arange(3.0)}
    with pytest.raises(LatentkitError, match="no base scores for the target 'glasses'"):
        attribute_dependency(base, {}, "glasses")
    with pytest.raises(LatentkitError, match="strength 1 has no scores for 'age'"):
        attribute_dependency(base, {1.0: {"smile": np.zeros(3)}}, "smile")
    with pytest.raises(LatentkitError, match="'age': edited scores must match"):
        attribute_dependency(base, {1.0: {"smile": np.zeros(3), "age": np.zeros(4)}}, "smile")
