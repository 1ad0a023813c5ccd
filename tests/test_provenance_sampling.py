"""Seeds to latents: the one sampling function every export path shares."""

import numpy as np
import pytest
import torch

from latentkit.errors import LatentkitError
from latentkit.latent import parse_seeds, sample_latent


def test_sample_latent_is_torch_randn_of_a_seeded_generator():
    z = sample_latent(7, 16)
    assert z.shape == (16,) and z.dtype == np.float32
    expected = torch.randn(16, generator=torch.Generator().manual_seed(7)).numpy()
    assert np.array_equal(z, expected)
    torch.manual_seed(123)  # the global RNG state must not matter
    assert np.array_equal(sample_latent(7, 16), z)
    assert not np.array_equal(sample_latent(8, 16), z)


@pytest.mark.parametrize(
    ("text", "seeds"),
    [("0-15", list(range(16))), ("1,5,9", [1, 5, 9]), ("0-2, 7", [0, 1, 2, 7]), ("4", [4])],
)
def test_parse_seeds_ranges_and_lists(text, seeds):
    assert parse_seeds(text) == seeds


@pytest.mark.parametrize("text", ["", "a", "3-1", "-1", "1,,2", "0-999999999"])
def test_parse_seeds_rejects_bad_specs(text):
    with pytest.raises(LatentkitError, match="--seeds"):
        parse_seeds(text)
