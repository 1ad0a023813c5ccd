"""Small fully-connected generator and discriminator for point data such as the 2D toy mixtures.

These keep PyTorch's default (Kaiming-uniform) init: DCGAN's N(0, 0.02) would shrink activations
of a 256-wide ReLU stack to almost nothing. Normalisation follows the config like the DCGAN pair
(batch -> BatchNorm1d, layer -> LayerNorm, spectral -> every Linear in D); none is the usual choice
for toy data.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

from latentkit.models.config import MLPConfig
from latentkit.models.minibatch import minibatch_layer, pack


class MLPGenerator(nn.Module):
    """z: (N, latent_dim) -> points (N, data_dim), unbounded (no tanh: toy data is not in [-1, 1])."""

    def __init__(self, cfg: MLPConfig) -> None:
        super().__init__()
        self.latent_dim = cfg.latent_dim
        layers: list[nn.Module] = []
        width = cfg.latent_dim
        for _ in range(cfg.depth):
            layers.append(nn.Linear(width, cfg.hidden))
            if cfg.g_norm == "batch":
                layers.append(nn.BatchNorm1d(cfg.hidden))
            layers.append(nn.ReLU())
            width = cfg.hidden
        layers.append(nn.Linear(width, cfg.data_dim))
        self.net = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z)

    def first_layer_weight(self) -> torch.Tensor:
        """The first Linear weight, (hidden, latent_dim), detached: already SeFa's matrix A."""
        return self.net[0].weight.detach()


class MLPDiscriminator(nn.Module):
    """Points (N, data_dim) -> raw logits (N / pack,)."""

    def __init__(self, cfg: MLPConfig) -> None:
        super().__init__()
        self.pack = cfg.pack
        layers: list[nn.Module] = []
        width = cfg.data_dim * cfg.pack
        for i in range(cfg.depth):
            layers.append(nn.Linear(width, cfg.hidden))
            # As in the DCGAN discriminator, the layer that sees raw samples is not normalised.
            if i > 0 and cfg.d_norm == "batch":
                layers.append(nn.BatchNorm1d(cfg.hidden))
            elif i > 0 and cfg.d_norm == "layer":
                layers.append(nn.LayerNorm(cfg.hidden))
            layers.append(nn.LeakyReLU(0.2))
            width = cfg.hidden
        self.trunk = nn.Sequential(*layers)
        self.minibatch, extra = minibatch_layer(cfg, width, 1)
        self.head = nn.Linear(width + extra, 1)
        if cfg.d_norm == "spectral":
            for module in [*self.trunk, self.head]:
                if isinstance(module, nn.Linear):
                    spectral_norm(module)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Trunk activations (N / pack, hidden)."""
        return self.trunk(pack(x, self.pack))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.minibatch(self.trunk(pack(x, self.pack)))).reshape(-1)
