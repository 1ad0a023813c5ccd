"""DiffAugment (Zhao et al. 2020, "Differentiable Augmentation for Data-Efficient GAN Training").

The same random, differentiable augmentations are applied to real and fake images before D sees
them, so D cannot memorise a small dataset and G still gets gradients through the augmentation.
Policies: "color" (brightness, saturation, contrast), "translation" (shift by up to 1/8 of the side,
zero padding) and "cutout" (zero a random square of half the side). Images: (N, C, H, W) in [-1, 1].
Randomness comes from torch's global RNG, which checkpoints capture, so resumed runs stay exact.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

POLICIES = ("color", "translation", "cutout")


def parse_policy(text: str) -> tuple[str, ...]:
    """ "color,translation" -> ("color", "translation"); raises ValueError naming an unknown policy."""
    names = tuple(p.strip() for p in text.split(",") if p.strip())
    for name in names:
        if name not in POLICIES:
            raise ValueError(f"unknown DiffAugment policy {name!r} (valid: {', '.join(POLICIES)})")
    return names


def diff_augment(x: torch.Tensor, policy: tuple[str, ...]) -> torch.Tensor:
    """Apply each policy in turn to a batch (N, C, H, W); differentiable in x."""
    for name in policy:
        x = {"color": _color, "translation": _translation, "cutout": _cutout}[name](x)
    return x


def _rand(n: int, x: torch.Tensor) -> torch.Tensor:
    return torch.rand(n, 1, 1, 1).to(device=x.device, dtype=x.dtype)


def _grid(n: int, h: int, w: int, device: torch.device) -> tuple[torch.Tensor, ...]:
    """Index grids (n, h, w) of batch, row and column."""
    return torch.meshgrid(
        torch.arange(n, device=device),
        torch.arange(h, device=device),
        torch.arange(w, device=device),
        indexing="ij",
    )


def _color(x: torch.Tensor) -> torch.Tensor:
    n = x.shape[0]
    x = x + (_rand(n, x) - 0.5)  # brightness
    mean = x.mean(1, keepdim=True)
    x = (x - mean) * (_rand(n, x) * 2) + mean  # saturation
    mean = x.mean((1, 2, 3), keepdim=True)
    return (x - mean) * (_rand(n, x) + 0.5) + mean  # contrast


def _translation(x: torch.Tensor, ratio: float = 0.125) -> torch.Tensor:
    n, _, h, w = x.shape
    sh, sw = int(h * ratio + 0.5), int(w * ratio + 0.5)
    ty = torch.randint(-sh, sh + 1, (n, 1, 1)).to(x.device)
    tx = torch.randint(-sw, sw + 1, (n, 1, 1)).to(x.device)
    b, gy, gx = _grid(n, h, w, x.device)
    gy = (gy + ty + 1).clamp(0, h + 1)
    gx = (gx + tx + 1).clamp(0, w + 1)
    padded = F.pad(x, [1, 1, 1, 1])  # the border row/column of zeros is what shifted-in pixels read
    return padded.permute(0, 2, 3, 1)[b, gy, gx].permute(0, 3, 1, 2)


def _cutout(x: torch.Tensor, ratio: float = 0.5) -> torch.Tensor:
    n, _, h, w = x.shape
    ch, cw = int(h * ratio + 0.5), int(w * ratio + 0.5)
    oy = torch.randint(0, h + (1 - ch % 2), (n, 1, 1)).to(x.device)
    ox = torch.randint(0, w + (1 - cw % 2), (n, 1, 1)).to(x.device)
    b, gy, gx = _grid(n, ch, cw, x.device)
    gy = (gy + oy - ch // 2).clamp(0, h - 1)
    gx = (gx + ox - cw // 2).clamp(0, w - 1)
    mask = torch.ones(n, h, w, dtype=x.dtype, device=x.device)
    mask[b, gy, gx] = 0
    return x * mask.unsqueeze(1)
