"""A normalisation-free ResNet generator and discriminator after R3GAN (Huang et al., NeurIPS 2024,
"The GAN is dead; long live the GAN! A Modern GAN Baseline", code brownvc/R3GAN).

Each stage works at one resolution: G starts from a learned 4x4 basis and doubles the resolution per
stage; D mirrors it. Every stage holds `blocks` inverted bottlenecks (1x1 expand, grouped 3x3, 1x1
back) with leaky ReLU 0.2 and no normalisation layer at all, so the gradient penalties R1/R2 see
each sample alone. Stability at init comes from fix-up initialisation (Zhang et al. 2019, as in
R3GAN): the last conv of every block starts at zero, so each block is the identity, and the other
convs are He-initialised scaled by L^-1/4 for L blocks in the network, so the residual branches'
variance stays bounded as they start to learn. Widths follow DCGAN's schedule: `width` at full
resolution, doubling per halving up to `max_mult` x width.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from latentkit.models.config import ResNetConfig
from latentkit.models.minibatch import minibatch_layer, pack

LEAK = 0.2
GAIN = math.sqrt(2.0 / (1.0 + LEAK**2))  # He gain of leaky ReLU 0.2


def stage_widths(cfg: ResNetConfig) -> list[int]:
    """Channels of G's stages from 4x4 up to full resolution: 64 px, width 32, max_mult 8 ->
    [256, 256, 128, 64, 32]; width 16, max_mult 16 -> [256, 128, 64, 32, 16]."""
    n = int(math.log2(cfg.resolution)) - 1
    return [cfg.width * min(2**i, cfg.max_mult) for i in reversed(range(n))]


def _he_(weight: torch.Tensor, gain: float) -> torch.Tensor:
    """weight ~ N(0, gain^2 / fan_in) in place (fan_in = in channels x kernel area / groups)."""
    fan_in = weight[0].numel()
    with torch.no_grad():
        return weight.normal_(0.0, gain / math.sqrt(fan_in))


class Block(nn.Module):
    """x + conv1x1(act(conv3x3_grouped(act(conv1x1(x))))): (N, C, H, W) -> (N, C, H, W).

    The 1x1 convs expand C to `expansion * C` and back; the 3x3 conv has groups of `group_size`
    channels. The last conv is zero at init (the block is the identity); the others are He-initialised
    times L^-1/4 (`n_blocks` = L, the network's number of blocks).
    """

    def __init__(self, channels: int, expansion: int, group_size: int, n_blocks: int) -> None:
        super().__init__()
        wide = channels * expansion
        self.expand = nn.Conv2d(channels, wide, 1)
        self.spatial = nn.Conv2d(wide, wide, 3, padding=1, groups=wide // group_size)
        self.project = nn.Conv2d(wide, channels, 1, bias=False)
        scale = n_blocks ** (-1 / 4)
        for conv in (self.expand, self.spatial):
            _he_(conv.weight, GAIN * scale)
            nn.init.zeros_(conv.bias)
        nn.init.zeros_(self.project.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.leaky_relu(self.expand(x), LEAK)
        y = F.leaky_relu(self.spatial(y), LEAK)
        return x + self.project(y)


def _conv1x1(c_in: int, c_out: int) -> nn.Conv2d:
    conv = nn.Conv2d(c_in, c_out, 1, bias=False)
    _he_(conv.weight, 1.0)
    return conv


class Upsample(nn.Module):
    """(N, C_in, H, W) -> (N, C_out, 2H, 2W): a 1x1 conv (when the width changes), then bilinear 2x."""

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        self.conv = _conv1x1(c_in, c_out) if c_in != c_out else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.interpolate(self.conv(x), scale_factor=2, mode="bilinear", align_corners=False)


class Downsample(nn.Module):
    """(N, C_in, H, W) -> (N, C_out, H/2, W/2): bilinear 0.5x (the mean of each 2x2 cell), then a 1x1 conv."""

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        self.conv = _conv1x1(c_in, c_out) if c_in != c_out else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(F.interpolate(x, scale_factor=0.5, mode="bilinear", align_corners=False))


class Basis(nn.Module):
    """z: (N, latent_dim) -> (N, C, 4, 4) = learned basis (C, 4, 4) times a linear map of z per channel."""

    def __init__(self, latent_dim: int, channels: int) -> None:
        super().__init__()
        self.basis = nn.Parameter(torch.randn(channels, 4, 4))
        self.linear = nn.Linear(latent_dim, channels, bias=False)
        _he_(self.linear.weight, 1.0)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.basis[None] * self.linear(z)[:, :, None, None]


class ResNetGenerator(nn.Module):
    """z: (N, latent_dim) float32 -> images (N, channels, resolution, resolution), about [-1, 1].

    No tanh (as R3GAN): the last layer is a linear 1x1 conv; pixel code clamps to [-1, 1].
    """

    def __init__(self, cfg: ResNetConfig) -> None:
        super().__init__()
        self.latent_dim, self.resolution = cfg.latent_dim, cfg.resolution
        widths = stage_widths(cfg)
        n_blocks = cfg.blocks * len(widths)
        layers: list[nn.Module] = [Basis(cfg.latent_dim, widths[0])]
        for i, w in enumerate(widths):
            if i:
                layers.append(Upsample(widths[i - 1], w))
            layers += [Block(w, cfg.expansion, cfg.group_size, n_blocks) for _ in range(cfg.blocks)]
        self.net = nn.Sequential(*layers)
        self.to_rgb = _conv1x1(widths[-1], cfg.channels)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.to_rgb(self.net(z))

    def first_layer_weight(self) -> torch.Tensor:
        """(latent_dim, C0, 4, 4), detached: output (c, i, j) of the basis is basis[c, i, j] * W[c] . z,
        so as DCGAN's projection, `w.flatten(1).T` is SeFa's matrix A."""
        basis = self.net[0]
        return (basis.linear.weight.T[:, :, None, None] * basis.basis[None]).detach()


class ResNetDiscriminator(nn.Module):
    """Images (N, channels, R, R) -> raw logits (N / pack,)."""

    def __init__(self, cfg: ResNetConfig) -> None:
        super().__init__()
        self.pack = cfg.pack
        widths = stage_widths(cfg)[::-1]  # full resolution down to 4x4
        n_blocks = cfg.blocks * len(widths)
        layers: list[nn.Module] = [_conv1x1(cfg.channels * cfg.pack, widths[0])]
        for i, w in enumerate(widths):
            if i:
                layers.append(Downsample(widths[i - 1], w))
            layers += [Block(w, cfg.expansion, cfg.group_size, n_blocks) for _ in range(cfg.blocks)]
        self.trunk = nn.Sequential(*layers)
        self.minibatch, extra = minibatch_layer(cfg, widths[-1], 16)
        # R3GAN's discriminative basis: a depthwise 4x4 conv (one learned 4x4 pattern per channel),
        # then a linear map to the logit.
        self.basis = nn.Conv2d(
            widths[-1] + extra, widths[-1] + extra, 4, groups=widths[-1] + extra, bias=False
        )
        _he_(self.basis.weight, 1.0)
        self.head = nn.Linear(widths[-1] + extra, 1, bias=False)
        _he_(self.head.weight, 1.0)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Trunk activations (N / pack, 16 * widest), e.g. for feature matching."""
        return self.trunk(pack(x, self.pack)).flatten(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.minibatch(self.trunk(pack(x, self.pack)))
        return self.head(self.basis(h).flatten(1)).reshape(-1)
