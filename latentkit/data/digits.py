"""Handwritten digits from scikit-learn, and the 1000-mode "stacked digits" benchmark.

scikit-learn bundles 1797 8 x 8 digit images (UCI optdigits, grey levels 0..16), so this source needs
no download. "stacked-digits" puts three independent digits in the R, G and B channels, giving
10^3 = 1000 equally likely modes: the Stacked MNIST test of mode collapse used by VEEGAN and PacGAN,
built here from the small bundled digits instead of MNIST.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from latentkit.data.base import Dataset
from latentkit.errors import LatentkitError

STACKED_DEFAULT_N = 50_000


def _digit_images(size: int) -> tuple[torch.Tensor, np.ndarray]:
    """All 1797 bundled digits upsampled to size x size.

    Returns:
        images: (1797, 1, size, size) uint8 in [0, 255]; digits: (1797,) int64 class 0..9.
    """
    from sklearn.datasets import load_digits  # imported here: sklearn is slow to import

    bunch = load_digits()
    x = torch.from_numpy(bunch.images.astype(np.float32)).unsqueeze(1) * (255.0 / 16.0)
    x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)
    images = x.round().clamp_(0, 255).to(torch.uint8)
    return images, bunch.target.astype(np.int64)


def _check_size(size: int) -> None:
    if not isinstance(size, (int, np.integer)) or size < 8 or size & (size - 1):
        raise LatentkitError(f"digits: size must be a power of two >= 8 (8, 16, 32, ...), got {size!r}")


def load_digits_dataset(
    size: int = 32, stacked: bool = False, n: int | None = None, seed: int = 0
) -> Dataset:
    """Digits as uint8 images; same (size, stacked, n, seed) -> identical data.

    Plain: (n, 1, size, size), labels {"digit"}; n=None gives the 1797 originals in order, otherwise
    n images drawn with replacement.
    Stacked: (n, 3, size, size) with an independent digit per channel, n defaults to 50_000;
    labels {"mode": 100*d_r + 10*d_g + d_b, "digit_r", "digit_g", "digit_b"}.
    """
    _check_size(size)
    if n is not None and n < 1:
        raise LatentkitError(f"digits: n must be >= 1, got {n}")
    images, digits = _digit_images(size)
    rng = np.random.default_rng(seed)

    if not stacked:
        index = np.arange(len(images)) if n is None else rng.integers(0, len(images), size=n)
        return Dataset(
            name="digits",
            data=images[torch.from_numpy(index)].contiguous(),
            labels={"digit": digits[index].astype(np.float32)},
            info={"modes": 10, "size": size, "source": "sklearn.datasets.load_digits", "seed": seed},
        )

    n = STACKED_DEFAULT_N if n is None else n
    index = rng.integers(0, len(images), size=(n, 3))  # one source image per channel
    data = images[torch.from_numpy(index), 0]  # (n, 3, size, size)
    d = digits[index]  # (n, 3)
    return Dataset(
        name="stacked-digits",
        data=data,
        labels={
            "mode": (100 * d[:, 0] + 10 * d[:, 1] + d[:, 2]).astype(np.float32),
            "digit_r": d[:, 0].astype(np.float32),
            "digit_g": d[:, 1].astype(np.float32),
            "digit_b": d[:, 2].astype(np.float32),
        },
        info={"modes": 1000, "size": size, "source": "sklearn.datasets.load_digits", "seed": seed},
    )
