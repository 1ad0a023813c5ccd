"""A style-based generator for the ResNet family: StyleGAN's mapping network on R3GAN's blocks.

    z (N, latent_dim) --Mapping--> w (N, latent_dim) --broadcast--> ws (N, num_ws, latent_dim)
        --StyleSynthesis--> images (N, channels, R, R)

Mapping (Karras et al. 2019, StyleGAN, sec. 2): z is normalised to unit second moment, then an MLP of
`mapping_layers` equalised-learning-rate linear layers with leaky ReLU 0.2 whose learning rate is
scaled by 0.01 (so the mapping moves slowly next to the synthesis). A buffer `w_avg` tracks the mean
w during training (moving average, beta 0.995), the centre of truncation in W.

Synthesis: R3GAN's normalisation-free inverted-bottleneck stages (`latentkit.models.resnet`), starting
from a learned constant 4x4 instead of a map of z. Every block's first 1x1 conv is modulated by a
style s = A(w) (an affine map per layer, bias 1) with demodulation (Karras et al. 2020, StyleGAN2,
eq. 1-3):  w'_oi = s_i w_oi,  w''_oi = w'_oi / sqrt(sum_i w'_oi^2 + eps).  The final 1x1 "to RGB"
conv is modulated without demodulation, as in StyleGAN2. Each modulated layer reads its own row of
`ws`, so W+ (one w per layer) is the same network fed with distinct rows.
"""

from __future__ import annotations

import itertools
import math

import torch
import torch.nn.functional as F
from torch import nn

from latentkit.models.config import DCGANConfig, ResNetConfig
from latentkit.models.dcgan import stage_mults
from latentkit.models.resnet import GAIN, LEAK, Block, Upsample, stage_widths

MAPPING_LR_MUL = 0.01  # StyleGAN: the mapping network learns 100x slower
W_AVG_BETA = 0.995  # StyleGAN: w_avg <- lerp(w.mean(0), w_avg, beta) every training forward
DEMOD_EPS = 1e-8


class EqualLinear(nn.Module):
    """(N, in) -> (N, out), weights stored ~N(0, 1/lr_mul^2), scaled by lr_mul/sqrt(in) at run time.

    Equalised learning rate (Karras et al. 2018): Adam's step on the stored weight is then
    lr_mul times the network's learning rate in the effective weight, for every layer alike.
    """

    def __init__(self, c_in: int, c_out: int, lr_mul: float = 1.0, bias_init: float = 0.0) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(c_out, c_in) / lr_mul)
        self.bias = nn.Parameter(torch.full((c_out,), bias_init / lr_mul))
        self.w_gain, self.b_gain = lr_mul / math.sqrt(c_in), lr_mul

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.weight * self.w_gain, self.bias * self.b_gain)

    def effective_weight(self) -> torch.Tensor:
        """(out, in): the weight the layer applies."""
        return self.weight * self.w_gain


def normalize_2nd_moment(z: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """z (N, D) / sqrt(mean(z^2 over D) + eps): every row on the sphere of radius sqrt(D)."""
    return z * (z.square().mean(dim=1, keepdim=True) + eps).rsqrt()


class Mapping(nn.Module):
    """z (N, D) -> w (N, D): normalise, then `layers` EqualLinear + leaky ReLU 0.2 (lr x 0.01).

    `w_avg` (D,) is a buffer: in training mode every forward moves it toward the batch mean of w.
    """

    def __init__(self, dim: int, layers: int) -> None:
        super().__init__()
        self.layers = nn.ModuleList(EqualLinear(dim, dim, lr_mul=MAPPING_LR_MUL) for _ in range(layers))
        self.register_buffer("w_avg", torch.zeros(dim))

    def forward(self, z: torch.Tensor, track_avg: bool = True) -> torch.Tensor:
        """`track_avg=False`: w_avg stays put (StyleGAN's second, style-mixing call)."""
        x = normalize_2nd_moment(z)
        for layer in self.layers:
            x = F.leaky_relu(layer(x), LEAK) * GAIN
        if self.training and track_avg:
            with torch.no_grad():
                self.w_avg.copy_(x.detach().float().mean(0).lerp(self.w_avg, W_AVG_BETA))
        return x


def modulated_weight(
    weight: torch.Tensor, styles: torch.Tensor, demodulate: bool, transposed: bool = False
) -> torch.Tensor:
    """StyleGAN2's per-sample weights, eq. 1-3: styles (N, I) scale each input channel i.

    weight (O, I, k, k) -> (N, O, I, k, k), or for a transposed conv (I, O, k, k) -> (N, I, O, k, k).
    w'[n, o, i] = styles[n, i] * weight[o, i]; with `demodulate`, each output channel's weights of
    each sample are divided by their L2 norm (plus eps), so they have unit norm. The networks use the
    equivalent, cheaper `modulated_conv`; this form states the definition (and the tests check it).
    """
    in_dim, sum_dims = (1, (1, 3, 4)) if transposed else (2, (2, 3, 4))
    shape = [styles.shape[0], 1, 1, 1, 1]
    shape[in_dim] = styles.shape[1]
    w = weight[None] * styles.reshape(shape)
    if demodulate:
        w = w * (w.square().sum(dim=sum_dims, keepdim=True) + DEMOD_EPS).rsqrt()
    return w


def demodulation(weight: torch.Tensor, styles: torch.Tensor, transposed: bool = False) -> torch.Tensor:
    """(N, O): 1 / sqrt(sum over inputs and taps of (styles[n, i] * weight[o, i])^2 + eps)."""
    energy = weight.square().sum(dim=(2, 3))  # (O, I), or (I, O) for a transposed conv
    return (styles.square() @ (energy if transposed else energy.T) + DEMOD_EPS).rsqrt()


def modulated_conv(
    x: torch.Tensor,
    weight: torch.Tensor,
    styles: torch.Tensor,
    demodulate: bool,
    transposed: bool = False,
    **conv: int,
) -> torch.Tensor:
    """x (N, I, H, W) through `weight` modulated by `styles` (N, I): F.conv2d or, with `transposed`,
    F.conv_transpose2d (`conv` holds stride/padding), output (N, O, H', W').

    Scale the input channels, convolve with the shared weight, scale the output channels by the
    demodulation coefficients: exactly the conv with `modulated_weight`, without per-sample weights
    (StyleGAN2's non-fused path).
    """
    op = F.conv_transpose2d if transposed else F.conv2d
    y = op(x * styles[:, :, None, None].to(x.dtype), weight.to(x.dtype), **conv)
    if demodulate:
        y = y * demodulation(weight, styles, transposed)[:, :, None, None].to(y.dtype)
    return y


class StyleBlock(Block):
    """R3GAN's block with its expanding 1x1 conv modulated by a style: (x (N, C, H, W), w (N, D)) -> same.

    x + project(act(spatial(act(modconv_expand(x, A(w)))))); A is an EqualLinear with bias 1, so
    styles start near 1 and the block starts as the identity (project is zero at init).
    """

    def __init__(self, channels: int, expansion: int, group_size: int, n_blocks: int, w_dim: int) -> None:
        super().__init__(channels, expansion, group_size, n_blocks)
        self.affine = EqualLinear(w_dim, channels, bias_init=1.0)

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        # The plain conv's He scale lives in its weight; demodulation re-normalises it per sample.
        y = modulated_conv(x, self.expand.weight, self.affine(w), demodulate=True)
        y = F.leaky_relu(y + self.expand.bias[None, :, None, None].to(y.dtype), LEAK) * GAIN
        y = F.leaky_relu(self.spatial(y), LEAK)
        return x + self.project(y)


class ToRGB(nn.Module):
    """(x (N, C, H, W), w (N, D)) -> (N, channels, H, W): a 1x1 conv modulated without demodulation."""

    def __init__(self, c_in: int, channels: int, w_dim: int) -> None:
        super().__init__()
        self.affine = EqualLinear(w_dim, c_in, bias_init=1.0)
        self.weight = nn.Parameter(torch.randn(channels, c_in, 1, 1) / math.sqrt(c_in))
        self.bias = nn.Parameter(torch.zeros(channels))

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        y = modulated_conv(x, self.weight, self.affine(w), demodulate=False)
        return y + self.bias[None, :, None, None].to(y.dtype)


class StyleResNetSynthesis(nn.Module):
    """ws (N, num_ws, D) -> images (N, channels, R, R): a learned 4x4 constant, then R3GAN's stages.

    Row k of ws styles the k-th modulated layer (the blocks from 4x4 up, then to-RGB).
    """

    def __init__(self, cfg: ResNetConfig) -> None:
        super().__init__()
        widths = stage_widths(cfg)
        n_blocks = cfg.blocks * len(widths)
        self.const = nn.Parameter(torch.randn(widths[0], 4, 4))
        self.stages = nn.ModuleList()
        for i, w in enumerate(widths):
            up = Upsample(widths[i - 1], w) if i else nn.Identity()
            blocks = [
                StyleBlock(w, cfg.expansion, cfg.group_size, n_blocks, cfg.latent_dim)
                for _ in range(cfg.blocks)
            ]
            self.stages.append(nn.ModuleList([up, *blocks]))
        self.to_rgb = ToRGB(widths[-1], cfg.channels, cfg.latent_dim)
        self.num_ws = n_blocks + 1

    def forward(self, ws: torch.Tensor) -> torch.Tensor:
        x = self.const[None].expand(ws.shape[0], -1, -1, -1)
        k = 0
        for up, *blocks in self.stages:
            x = up(x)
            for block in blocks:
                x = block(x, ws[:, k])
                k += 1
        return self.to_rgb(x, ws[:, k])


class ModulatedConv(nn.Module):
    """(x (N, I, H, W), w (N, D)) -> (N, O, H', W'): a conv whose input channels a style A(w) scales.

    Equalised learning rate as StyleGAN (weights stored ~N(0, 1), scaled by 1/sqrt(fan_in) when
    used), bias, then leaky ReLU 0.2 times sqrt(2) unless `linear`. `up`: a 4x4 stride-2 transposed
    conv (DCGAN's upsampling) doubling H and W; its demodulated output is scaled by 2, since each
    output pixel sees 4 of the 16 taps (a quarter of the weights' energy).
    """

    def __init__(self, c_in: int, c_out: int, w_dim: int, up: bool, demodulate: bool, linear: bool) -> None:
        super().__init__()
        k = 4 if up else 3
        shape = (c_in, c_out, k, k) if up else (c_out, c_in, k, k)
        self.weight = nn.Parameter(torch.randn(shape))
        self.bias = nn.Parameter(torch.zeros(c_out))
        self.affine = EqualLinear(w_dim, c_in, bias_init=1.0)
        self.up, self.demodulate, self.linear = up, demodulate, linear
        self.gain = 1 / math.sqrt(c_in * k * k / (4 if up else 1))

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        conv = {"stride": 2, "padding": 1} if self.up else {"padding": 1}
        y = modulated_conv(x, self.weight * self.gain, self.affine(w), self.demodulate, self.up, **conv)
        if self.up and self.demodulate:
            y = y * 2.0
        y = y + self.bias[None, :, None, None].to(y.dtype)
        return y if self.linear else F.leaky_relu(y, LEAK) * GAIN


class StyleDCGANSynthesis(nn.Module):
    """ws (N, num_ws, D) -> images (N, channels, R, R): DCGAN's stages, styled (StyleGAN2 weights).

    A learned constant (8 ngf, 4, 4), a modulated 3x3 conv at 4x4, one modulated transposed conv per
    doubling with DCGAN's widths (64 px: 8, 4, 2, 1 x ngf), and a last modulated transposed conv to
    RGB without demodulation (StyleGAN2's to-RGB). Row k of ws styles layer k; num_ws = log2(R) - 1
    (5 at 64 px).
    """

    def __init__(self, cfg: DCGANConfig) -> None:
        super().__init__()
        widths = [cfg.ngf * m for m in stage_mults(cfg.resolution)]
        d = cfg.latent_dim
        self.const = nn.Parameter(torch.randn(widths[0], 4, 4))
        layers = [ModulatedConv(widths[0], widths[0], d, up=False, demodulate=True, linear=False)]
        layers += [
            ModulatedConv(a, b, d, up=True, demodulate=True, linear=False)
            for a, b in itertools.pairwise(widths)
        ]
        layers.append(ModulatedConv(widths[-1], cfg.channels, d, up=True, demodulate=False, linear=True))
        self.layers = nn.ModuleList(layers)
        self.num_ws = len(layers)

    def forward(self, ws: torch.Tensor) -> torch.Tensor:
        x = self.const[None].expand(ws.shape[0], -1, -1, -1)
        for k, layer in enumerate(self.layers):
            x = layer(x, ws[:, k])
        return x


class StyleGenerator(nn.Module):
    """z (N, latent_dim) float32 -> images (N, channels, R, R), about [-1, 1] (no tanh, as R3GAN).

    The synthesis network is DCGAN's or R3GAN's by the config's family. `mapping(z)` gives w (N, D);
    `synthesis(ws)` takes ws (N, num_ws, D), one w per modulated layer (W+); `forward(z)` is the two
    with w broadcast to every layer.
    """

    def __init__(self, cfg: DCGANConfig | ResNetConfig) -> None:
        super().__init__()
        self.latent_dim, self.resolution = cfg.latent_dim, cfg.resolution
        self.w_dim = cfg.latent_dim
        self.mapping = Mapping(cfg.latent_dim, cfg.mapping_layers)
        self.synthesis = StyleDCGANSynthesis(cfg) if cfg.kind == "dcgan" else StyleResNetSynthesis(cfg)
        self.num_ws = self.synthesis.num_ws

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.synthesis(broadcast_w(self.mapping(z), self.num_ws))

    def style_weights(self) -> torch.Tensor:
        """(sum of modulated channels, D), detached: every layer's style affine, stacked.

        SeFa (Shen & Zhou 2021, sec. 3.2) on a style-based generator factorises these weights: the
        top right-singular vectors are the directions in W that change the styles most.
        """
        rows = [m.effective_weight() for name, m in self.synthesis.named_modules() if name.endswith("affine")]
        return torch.cat(rows).detach()


def broadcast_w(w: torch.Tensor, num_ws: int) -> torch.Tensor:
    """w (N, D) -> ws (N, num_ws, D), the same w at every layer."""
    return w[:, None, :].expand(-1, num_ws, -1)


def mixed_ws(w1: torch.Tensor, w2: torch.Tensor, cutoff: int, num_ws: int) -> torch.Tensor:
    """w1, w2 (N, D) -> ws (N, num_ws, D): w1 for layers [0, cutoff), w2 for [cutoff, num_ws)."""
    return torch.cat([broadcast_w(w1, cutoff), broadcast_w(w2, num_ws - cutoff)], dim=1)
