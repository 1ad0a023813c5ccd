"""attribute_match: generated vs real attribute statistics, on sets with known answers."""

import numpy as np
import pytest

from latentkit.errors import LatentkitError
from latentkit.metrics.attributes import attribute_match

RANGES = {"smile": (-1.0, 1.0), "age": (0.0, 1.0), "glasses": (0.0, 1.0)}


def faces(n, seed, shift=0.0, glasses_rate=None):
    rng = np.random.default_rng(seed)
    age = rng.uniform(0, 1, n)
    p = 0.15 + 0.45 * age if glasses_rate is None else np.full(n, glasses_rate)
    return {"smile": rng.uniform(-1, 1, n) + shift, "age": age, "glasses": (rng.uniform(size=n) < p) * 1.0}


def test_identical_sets_match_exactly_and_share_their_correlation():
    real = faces(4000, 0)
    r = attribute_match(real, real, RANGES, binary=["glasses"], pairs=[("age", "glasses")])
    assert all(v["w1"] == 0 for v in r["attributes"].values())
    c = r["correlations"]["age~glasses"]
    assert c["real"] == c["fake"] and 0.2 < c["real"] < 0.5  # glasses rate rises with age
    g = r["attributes"]["glasses"]
    assert g["real_rate"] == g["fake_rate"] == pytest.approx(0.375, abs=0.03)


def test_a_shifted_attribute_is_off_by_the_shift_as_a_fraction_of_its_range():
    r = attribute_match(faces(4000, 0), faces(4000, 0, shift=0.2), RANGES)
    assert r["attributes"]["smile"]["w1"] == pytest.approx(0.2, abs=1e-9)
    assert r["attributes"]["smile"]["w1_fraction"] == pytest.approx(0.1, abs=1e-9)
    assert r["attributes"]["age"]["w1"] == 0


def test_lost_correlation_and_wrong_rates_show():
    real, fake = faces(4000, 0), faces(4000, 1, glasses_rate=0.6)
    r = attribute_match(real, fake, RANGES, binary=["glasses"], pairs=[("age", "glasses")])
    assert abs(r["correlations"]["age~glasses"]["fake"]) < 0.05
    assert r["attributes"]["glasses"]["fake_rate"] == pytest.approx(0.6, abs=0.03)


def test_two_independent_attributes_tied_together_are_named_as_the_worst_pair():
    real, fake = faces(4000, 0), faces(4000, 1)
    fake["smile"] = 2 * fake["age"] - 1 + np.random.default_rng(2).normal(0, 0.2, 4000)  # smile follows age
    joint = attribute_match(real, fake, RANGES, binary=["glasses"])["joint"]
    assert set(joint["pairs"]) == {"smile~age", "smile~glasses", "age~glasses"}
    assert joint["worst"] == "smile~age"
    assert abs(joint["pairs"]["smile~age"]["real"]) < 0.05 and joint["pairs"]["smile~age"]["fake"] > 0.9
    assert joint["max_gap"] == joint["pairs"]["smile~age"]["gap"] > 0.85
    same = attribute_match(real, real, RANGES, binary=["glasses"])["joint"]
    assert same["max_gap"] == 0.0


def test_an_attribute_the_predictor_does_not_score_is_named():
    with pytest.raises(LatentkitError, match="'beard'"):
        attribute_match(faces(10, 0), faces(10, 1), {"beard": (0, 1)})
