"""The one [-1, 1] <-> uint8 conversion: exact on uint8 values, and rounding as exports always had it."""

import numpy as np
import pytest
import torch

from latentkit.pixels import to_float, to_pixels, to_tensor, to_uint8


def test_round_trip_is_exact_on_every_uint8_value():
    u = torch.arange(256, dtype=torch.uint8).reshape(1, 1, 16, 16)
    x = to_float(u)
    assert x.dtype == torch.float32 and float(x.min()) == -1.0 and float(x.max()) == 1.0
    assert torch.equal(to_uint8(x), u)
    pixels = np.arange(256, dtype=np.uint8).reshape(16, 16, 1).repeat(3, axis=2)
    np.testing.assert_array_equal(to_pixels(to_tensor(pixels))[0], pixels)


def test_rounding_matches_the_expression_every_export_was_made_with():
    """reproduce is bit-identical only if this never changes: round half to even of (x + 1) * 127.5."""
    x = torch.linspace(-1.2, 1.2, 100_001).reshape(1, 1, 1, -1)
    old = ((x.float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
    assert torch.equal(to_uint8(x), old)
    # (x + 1) * 127.5 = k + 0.5 exactly: ties go to the even neighbour, as torch.round does
    ties = torch.tensor([64.5, 65.5, 254.5]) / 127.5 - 1
    assert ((ties + 1) * 127.5).tolist() == [64.5, 65.5, 254.5]
    assert to_uint8(ties).tolist() == [64, 66, 254]
    assert to_uint8(torch.tensor([-7.0, 7.0])).tolist() == [0, 255]


def test_layouts_hwc_to_nchw_and_grey_to_rgb():
    pixels = np.random.default_rng(0).integers(0, 256, (5, 7, 3), dtype=np.uint8)
    x = to_tensor(pixels)
    assert x.shape == (1, 3, 5, 7)
    assert float(x[0, 2, 4, 6]) == float(np.float32(pixels[4, 6, 2]) / np.float32(127.5) - np.float32(1))
    grey = to_pixels(torch.zeros(2, 1, 4, 4))
    assert grey.shape == (2, 4, 4, 3) and (grey == 128).all()


@pytest.mark.parametrize(("n", "nrow"), [(1, 8), (5, 2), (8, 8), (10, 4), (3, 7)])
def test_tile_lays_images_out_as_torchvision_make_grid_does(n, nrow):
    from torchvision.utils import make_grid

    from latentkit.viz import tile

    images = torch.randint(0, 255, (n, 3, 5, 7), dtype=torch.uint8)
    assert torch.equal(tile(images, nrow=nrow), make_grid(images, nrow=nrow, padding=2, pad_value=255))
