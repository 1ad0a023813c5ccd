"""The latent spaces a generator has, and the one place a latent of any space becomes an image.

    z    (latent_dim,)       the Gaussian input; a seed always means z (`latent.sampling`)
    w    (w_dim,)            mapping(z), only for style-based generators (`models.style`)
    w+   (num_ws, w_dim)     one w per modulated layer (Abdal et al. 2019, Image2StyleGAN)

Every function takes the space by name, so a latent never travels without it: the editor, the
manifests, `reproduce` and saved latent files all carry it. A Z-only generator has only "z".
In StyleGAN's W the attributes are far more linearly separable than in Z (Karras et al. 2019,
sec. 4), which is why edits of a style-based model happen in W.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from latentkit.errors import LatentkitError

SPACES = ("z", "w", "w+")


def is_style_based(generator: nn.Module) -> bool:
    """Whether `generator` has a mapping network (so W and W+)."""
    return hasattr(generator, "mapping") and hasattr(generator, "synthesis")


def spaces_of(generator: nn.Module) -> tuple[str, ...]:
    """The spaces a latent of `generator` may live in: ("z",) or ("z", "w", "w+")."""
    return SPACES if is_style_based(generator) else ("z",)


def edit_space(generator: nn.Module) -> str:
    """Where edits and interpolation happen by default: "w" for style-based generators, else "z"."""
    return "w" if is_style_based(generator) else "z"


def check_space(generator: nn.Module, space: str, source: str = "latent") -> str:
    """`space` if `generator` has it, else a `LatentkitError` saying which spaces it has."""
    if space not in SPACES:
        raise LatentkitError(f"{source}: space {space!r} is not one of {', '.join(SPACES)}")
    if space not in spaces_of(generator):
        raise LatentkitError(
            f"{source}: the model has no {space.upper()} space (a Z-only generator; latents are z)"
        )
    return space


def latent_shape(generator: nn.Module, space: str) -> tuple[int, ...]:
    """Shape of one latent of `space`: (latent_dim,), (w_dim,) or (num_ws, w_dim)."""
    check_space(generator, space)
    if space == "z":
        return (generator.latent_dim,)
    if space == "w":
        return (generator.w_dim,)
    return (generator.num_ws, generator.w_dim)


def check_latents(x, generator: nn.Module, space: str, source: str = "latent") -> np.ndarray:
    """x as float32 of shape (*one) or (N, *one) for `space`'s shape `one`, finite, else one clear error."""
    one = latent_shape(generator, check_space(generator, space, source))
    try:
        x = np.asarray(x, dtype=np.float32)
    except (TypeError, ValueError):
        raise LatentkitError(f"{source}: not a numeric array") from None
    if x.shape[-len(one) :] != one or x.ndim not in (len(one), len(one) + 1) or x.size == 0:
        what = "" if space == "z" else f" ({space} latents)"
        raise LatentkitError(
            f"{source}: shape {x.shape}, the model needs {one} or (N, {', '.join(map(str, one))}){what}"
        )
    if not np.isfinite(x).all():
        raise LatentkitError(f"{source}: contains NaN or infinity")
    return x


def synthesize(generator: nn.Module, x: torch.Tensor, space: str) -> torch.Tensor:
    """A batch of latents of `space`, (N, *latent_shape), -> the generator's images (N, C, R, R)."""
    if space == "z":
        return generator(x)
    check_space(generator, space)
    ws = x[:, None, :].expand(-1, generator.num_ws, -1) if space == "w" else x
    return generator.synthesis(ws)


@torch.no_grad()
def map_to_w(generator: nn.Module, z: np.ndarray, batch: int = 1024) -> np.ndarray:
    """z (N, latent_dim) -> w (N, w_dim) float32 through the mapping network (eval mode: w_avg stays)."""
    check_space(generator, "w", "map_to_w")
    device = next(generator.parameters()).device
    out = [
        generator.mapping(torch.from_numpy(np.ascontiguousarray(z[i : i + batch], np.float32)).to(device))
        for i in range(0, len(z), batch)
    ]
    return torch.cat(out).cpu().numpy()


def w_avg(generator: nn.Module) -> np.ndarray:
    """The mean w tracked during training, (w_dim,) float32: the centre of truncation in W."""
    check_space(generator, "w", "w_avg")
    return generator.mapping.w_avg.detach().cpu().numpy().astype(np.float32)


def truncate_w(generator: nn.Module, w: np.ndarray, psi: float) -> np.ndarray:
    """StyleGAN's truncation trick in W: w_avg + psi (w - w_avg); w (..., w_dim), psi in [0, 1] usually.

    psi = 1 returns w exactly (no float round trip)."""
    if psi == 1:
        return np.asarray(w, np.float32)
    centre = w_avg(generator)
    return (centre + np.float32(psi) * (np.asarray(w, np.float32) - centre)).astype(np.float32)
