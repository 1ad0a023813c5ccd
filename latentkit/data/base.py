"""The one small interface every data source returns.

A `Dataset` holds all its samples in memory, either as images (uint8, N x C x H x W) or as points
(float32, N x D), plus an optional label table (attribute name -> one value per sample). Training
converts a batch to float in [-1, 1] only when it is drawn, so no per-image work happens in the loop.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from latentkit.pixels import to_float


@dataclass
class Dataset:
    """Samples plus labels.

    Attributes:
        name: the source, e.g. "faces", "ring", "folder:/path".
        data: (N, C, H, W) uint8 images, or (N, D) float32 points.
        labels: attribute name -> (N,) float32 array (binary attributes are 0/1, categorical are
            integer-valued floats). Empty when the source has no labels.
        info: JSON-able facts about the source (parameters, attribute ranges, number of modes...).
    """

    name: str
    data: torch.Tensor
    labels: dict[str, np.ndarray] = field(default_factory=dict)
    info: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        n = len(self.data)
        for key, value in self.labels.items():
            if len(value) != n:
                raise ValueError(f"label {key!r} has {len(value)} values for {n} samples")

    def __len__(self) -> int:
        return len(self.data)

    @property
    def is_image(self) -> bool:
        """True for (N, C, H, W) uint8 images, False for (N, D) float points."""
        return self.data.dtype == torch.uint8

    @property
    def shape(self) -> tuple[int, ...]:
        """Shape of one sample: (C, H, W) or (D,)."""
        return tuple(self.data.shape[1:])

    def batch(self, index: torch.Tensor) -> torch.Tensor:
        """Samples at `index` as float32: images scaled to [-1, 1], points unchanged."""
        x = self.data[index]
        if self.is_image:
            return to_float(x)
        return x.float()
