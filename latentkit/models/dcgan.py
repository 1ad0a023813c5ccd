"""DCGAN-family generator and discriminator (Radford, Metz & Chintala 2015, arXiv:1511.06434).

The generator projects z to a 4x4 map and doubles the resolution per stage while halving the width;
the discriminator mirrors it with stride-2 convolutions. Widths follow DCGAN's schedule (64 px:
8, 4, 2, 1 x ngf) and are capped at 8x so 128 and 256 px stay affordable (the cap is StyleGAN's idea).
"""

from __future__ import annotations

import itertools
import math

import torch
from torch import nn
from torch.nn.utils import parametrize
from torch.nn.utils.parametrizations import spectral_norm

from latentkit.models.config import DCGANConfig
from latentkit.models.minibatch import minibatch_layer, pack

MAX_MULT = 8


def stage_mults(resolution: int) -> list[int]:
    """Width multipliers of the hidden stages from 4x4 upwards, e.g. 64 -> [8, 4, 2, 1]."""
    n = int(math.log2(resolution)) - 2
    return [min(2**i, MAX_MULT) for i in reversed(range(n))]


def init_weights(module: nn.Module) -> None:
    """DCGAN init, for `model.apply(init_weights)`: conv/linear ~ N(0, 0.02), batch-norm scale ~ N(1, 0.02).

    Spectrally normalised layers are initialised through their stored original weight.
    """
    if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
        if parametrize.is_parametrized(module, "weight"):
            weight = module.parametrizations.weight.original
        else:
            weight = module.weight
        nn.init.normal_(weight, 0.0, 0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.BatchNorm2d):
        nn.init.normal_(module.weight, 1.0, 0.02)
        nn.init.zeros_(module.bias)


class Generator(nn.Module):
    """z: (N, latent_dim) float32 -> images (N, channels, resolution, resolution) in [-1, 1]."""

    def __init__(self, cfg: DCGANConfig) -> None:
        super().__init__()
        self.latent_dim = cfg.latent_dim
        self.resolution = cfg.resolution
        widths = [cfg.ngf * m for m in stage_mults(cfg.resolution)]
        use_bn = cfg.g_norm == "batch"
        # A 4x4 transposed conv on a 1x1 input is a linear map z -> 4x4 map (DCGAN's "project").
        layers: list[nn.Module] = [nn.ConvTranspose2d(cfg.latent_dim, widths[0], 4, 1, 0, bias=not use_bn)]
        layers += _norm_relu(widths[0], use_bn)
        for c_in, c_out in itertools.pairwise(widths):
            layers += [_upconv(c_in, c_out, cfg.upsample, bias=not use_bn), *_norm_relu(c_out, use_bn)]
        layers += [_upconv(widths[-1], cfg.channels, cfg.upsample, bias=True), nn.Tanh()]
        self.net = nn.Sequential(*layers)
        self.apply(init_weights)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z[:, :, None, None])

    def first_layer_weight(self) -> torch.Tensor:
        """The projection weight, (latent_dim, C0, 4, 4), detached.

        Every 4x4 output position is linear in z, so `w.flatten(1).T` is the (C0*16, latent_dim)
        matrix A whose top eigenvectors of A^T A are SeFa's directions (Shen & Zhou 2021).
        """
        return self.net[0].weight.detach()


class Discriminator(nn.Module):
    """Images (N, channels, R, R) in [-1, 1] -> raw logits (N / pack,) (no sigmoid; the loss applies it)."""

    def __init__(self, cfg: DCGANConfig) -> None:
        super().__init__()
        self.pack = cfg.pack
        widths = [cfg.ndf * m for m in reversed(stage_mults(cfg.resolution))]
        # Norm layers carry their own shift, so the conv bias would be redundant.
        bias = cfg.d_norm in ("none", "spectral")
        # As in DCGAN, the first layer sees raw pixels and gets no normalisation.
        c_in = cfg.channels * cfg.pack
        layers: list[nn.Module] = [nn.Conv2d(c_in, widths[0], 4, 2, 1, bias=True), nn.LeakyReLU(0.2)]
        for c_in, c_out in itertools.pairwise(widths):
            layers += [nn.Conv2d(c_in, c_out, 4, 2, 1, bias=bias), *_d_norm(c_out, cfg.d_norm)]
            layers.append(nn.LeakyReLU(0.2))
        self.trunk = nn.Sequential(*layers)
        self.minibatch, extra = minibatch_layer(cfg, widths[-1], 16)
        self.head = nn.Conv2d(widths[-1] + extra, 1, 4, 1, 0)  # 4x4 map -> one logit
        self.apply(init_weights)
        if cfg.d_norm == "spectral":
            # Miyato et al. 2018: bound every layer's Lipschitz constant, the last one included.
            for module in [*self.trunk, self.head]:
                if isinstance(module, nn.Conv2d):
                    spectral_norm(module)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Trunk activations (N / pack, 16 * widest), e.g. for feature matching."""
        return self.trunk(pack(x, self.pack)).flatten(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.minibatch(self.trunk(pack(x, self.pack)))).reshape(-1)


def _upconv(c_in: int, c_out: int, mode: str, bias: bool) -> nn.Module:
    """Double the resolution: 4x4 stride-2 transposed conv, or nearest 2x upsample + 3x3 conv."""
    if mode == "transpose":
        return nn.ConvTranspose2d(c_in, c_out, 4, 2, 1, bias=bias)
    return nn.Sequential(
        nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(c_in, c_out, 3, 1, 1, bias=bias)
    )


def _norm_relu(channels: int, use_bn: bool) -> list[nn.Module]:
    return [nn.BatchNorm2d(channels), nn.ReLU()] if use_bn else [nn.ReLU()]


def _d_norm(channels: int, kind: str) -> list[nn.Module]:
    """The normalisation layer after a hidden D conv; spectral norm wraps the conv instead."""
    if kind == "batch":
        return [nn.BatchNorm2d(channels)]
    if kind == "layer":
        return [nn.GroupNorm(1, channels)]
    if kind == "instance":
        return [nn.InstanceNorm2d(channels, affine=True)]
    return []
