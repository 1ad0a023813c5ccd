"""Discriminator-side remedies for mode collapse: layers that let D look at a whole batch.

A collapsed generator makes every sample alike; a discriminator that only sees one sample at a time
cannot notice. These layers sit between D's trunk and its head and append batch-level features:

- `MinibatchStdDev` (Karras et al. 2018, "Progressive Growing of GANs", sec. 3): the average standard
  deviation of the features over the batch, as one extra channel.
- `MinibatchDiscrimination` (Salimans et al. 2016, "Improved Techniques for Training GANs", sec. 3.2):
  how close each sample's projected features are to the others', as `kernels` extra channels.
- `pack` (Lin et al. 2018, "PacGAN"): D judges m samples at once, concatenated along channels.
"""

from __future__ import annotations

import torch
from torch import nn

from latentkit.models.config import ModelConfig

KERNELS, KERNEL_DIM = 16, 8


class MinibatchStdDev(nn.Module):
    """(N, C, ...) -> (N, C + 1, ...): append the batch's mean feature standard deviation."""

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        std = (h.var(0, unbiased=False) + 1e-8).sqrt().mean()
        return torch.cat([h, std.expand(h.shape[0], 1, *h.shape[2:])], 1)


class MinibatchDiscrimination(nn.Module):
    """(N, C, ...) -> (N, C + kernels, ...).

    M_i = f_i T is a (kernels, kernel_dim) matrix per sample; o_i,b = sum_{j != i} exp(-||M_i,b - M_j,b||_1).
    """

    def __init__(self, features: int, kernels: int = KERNELS, kernel_dim: int = KERNEL_DIM) -> None:
        super().__init__()
        self.kernels, self.kernel_dim = kernels, kernel_dim
        self.T = nn.Parameter(torch.randn(features, kernels * kernel_dim) * 0.1)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        m = (h.flatten(1) @ self.T).view(-1, self.kernels, self.kernel_dim)  # (N, B, C)
        l1 = (m[:, None] - m[None]).abs().sum(-1)  # (N, N, B)
        o = torch.exp(-l1).sum(1) - 1.0  # exclude each sample's match with itself (exp(0) = 1)
        return torch.cat([h, o.view(*o.shape, *([1] * (h.dim() - 2))).expand(-1, -1, *h.shape[2:])], 1)


def minibatch_layer(cfg: ModelConfig, channels: int, spatial: int) -> tuple[nn.Module, int]:
    """The layer `cfg.minibatch` asks for, and how many channels it appends.

    channels, spatial: shape of the trunk output (C, and H*W for images or 1 for points).
    """
    if cfg.minibatch == "stddev":
        return MinibatchStdDev(), 1
    if cfg.minibatch == "discrimination":
        return MinibatchDiscrimination(channels * spatial), KERNELS
    return nn.Identity(), 0


def pack(x: torch.Tensor, m: int) -> torch.Tensor:
    """PacGAN packing: (N, C, ...) -> (N / m, m * C, ...), consecutive samples side by side."""
    if m == 1:
        return x
    if x.shape[0] % m:
        raise ValueError(f"pack={m}: the batch of {x.shape[0]} is not a multiple of it")
    return x.reshape(x.shape[0] // m, m * x.shape[1], *x.shape[2:])
