"""Small fully-connected generator and discriminator for point data such as the 2D toy mixtures.

By default these keep PyTorch's (Kaiming-uniform) init: DCGAN's N(0, 0.02) would shrink activations
of a 256-wide ReLU stack to almost nothing. `init="normal"` is PacGAN's N(0, 0.02) with zero biases,
which its batch-normalised G and Adam-trained maxout D tolerate. Normalisation follows the config
like the DCGAN pair (batch -> BatchNorm1d, layer -> LayerNorm, spectral -> every Linear in D); none
is the usual choice for toy data.

PacGAN's 2D networks (Lin et al. 2018; fjxmlzn/PacGAN, synthetic_data_experiments) are
`hidden=400, depth=4, g_norm="batch", g_bias="no"` for G and `d_hidden=200, d_depth=3,
d_act="maxout", maxout_pieces=5` for D (`latentkit.train.presets`).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

from latentkit.models.config import MLPConfig
from latentkit.models.minibatch import minibatch_layer, pack


class Maxout(nn.Module):
    """Maxout units (Goodfellow et al. 2013): (N, in) -> (N, out), the max of `pieces` affine maps each.

    One Linear(in, out * pieces) whose outputs are grouped as (out, pieces), as blocks' LinearMaxout.
    """

    def __init__(self, in_features: int, out_features: int, pieces: int) -> None:
        super().__init__()
        self.out_features, self.pieces = out_features, pieces
        self.linear = nn.Linear(in_features, out_features * pieces)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(x).view(-1, self.out_features, self.pieces).amax(-1)


def _normal_init(module: nn.Module) -> None:
    """N(0, 0.02) weights and zero biases in every Linear of `module` (PacGAN's, from blocks)."""
    for m in module.modules():
        if isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, 0.0, 0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)


class MLPGenerator(nn.Module):
    """z: (N, latent_dim) -> points (N, data_dim), unbounded (no tanh: toy data is not in [-1, 1])."""

    def __init__(self, cfg: MLPConfig) -> None:
        super().__init__()
        self.latent_dim = cfg.latent_dim
        layers: list[nn.Module] = []
        width = cfg.latent_dim
        for _ in range(cfg.depth):
            layers.append(nn.Linear(width, cfg.hidden, bias=cfg.g_bias == "yes"))
            if cfg.g_norm == "batch":
                layers.append(nn.BatchNorm1d(cfg.hidden))
            layers.append(nn.ReLU())
            width = cfg.hidden
        layers.append(nn.Linear(width, cfg.data_dim))
        self.net = nn.Sequential(*layers)
        if cfg.init == "normal":
            _normal_init(self)

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
        width, hidden = cfg.data_dim * cfg.pack, cfg.d_width
        for i in range(cfg.d_layers):
            if cfg.d_act == "maxout":
                layers.append(Maxout(width, hidden, cfg.maxout_pieces))
            else:
                layers.append(nn.Linear(width, hidden))
            # As in the DCGAN discriminator, the layer that sees raw samples is not normalised.
            if i > 0 and cfg.d_norm == "batch":
                layers.append(nn.BatchNorm1d(hidden))
            elif i > 0 and cfg.d_norm == "layer":
                layers.append(nn.LayerNorm(hidden))
            if cfg.d_act == "leaky":
                layers.append(nn.LeakyReLU(0.2))
            width = hidden
        self.trunk = nn.Sequential(*layers)
        self.minibatch, extra = minibatch_layer(cfg, width, 1)
        self.head = nn.Linear(width + extra, 1)
        if cfg.init == "normal":
            _normal_init(self)
        if cfg.d_norm == "spectral":
            for module in [*self.trunk.modules(), self.head]:
                if isinstance(module, nn.Linear):
                    spectral_norm(module)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Trunk activations (N / pack, d_width)."""
        return self.trunk(pack(x, self.pack))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.minibatch(self.trunk(pack(x, self.pack)))).reshape(-1)
