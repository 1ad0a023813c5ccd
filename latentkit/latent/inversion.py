"""Projecting an image into a generator's latent space (GAN inversion), so real images can be edited.

    pixels, sha = read_input("me.png")                     # latentkit.images: (H, W, 3) uint8, SHA-256
    result = project(bundle, pixels, feature_net=net)      # a Projection: z, reconstruction, PSNR...
    save_projection("z.npy", result)                       # z.npy + z.projection.json (the record)

Method (optimisation on z, after the StyleGAN2 projector, Karras et al. 2020, adapted to z-space):

1. Starting points: `candidates` seeded random latents, plus the encoder's guess when an `Encoder`
   is given, are rendered in one no-grad batch; the `restarts` with the lowest loss are kept.
2. All restarts are optimised together as one batch (Adam on z, cosine learning-rate decay) for the
   first `explore` share of the steps; then only the best one continues.
3. Loss per image: pixel MSE (images in [-1, 1]) + `perceptual` x a feature distance on latentkit's
   own feature net (LPIPS-like: each block's activations unit-normalised per pixel, squared
   differences averaged; no learned weights) + `prior` x (|z| / sqrt(D) - 1)^2, which keeps z near
   the shell where Gaussian latents live, so directions fitted on sampled latents still apply.

The generator is in eval mode (batch norm uses running statistics), so the restarts in a batch do
not influence each other. Input images are centre-cropped to a square and resized (Lanczos) to the
model's resolution; grey and palette images become RGB and transparent pixels are composited over
white (`latentkit.images.read_input`, `prepare_image`). Images whose shorter side is under
`latentkit.images.min_side(resolution)` are refused.
"""

from __future__ import annotations

import hashlib
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from latentkit.errors import LatentkitError
from latentkit.images import prepare_image, read_input
from latentkit.io import parse_tagged_json, read_bytes, write_json
from latentkit.pixels import to_pixels, to_tensor

FORMAT = "latentkit-projection"
VERSION = 1
SIDECAR_SUFFIX = ".projection.json"


# --- image quality ---------------------------------------------------------------------------


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """PSNR in dB of two uint8 images of the same shape (peak 255); inf when identical."""
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)) / 255.0**2
    return float("inf") if mse == 0 else 10.0 * math.log10(1.0 / mse)


# --- the loss ------------------------------------------------------------------------------------


def unit_block_features(net, x: torch.Tensor) -> list[torch.Tensor]:
    """`FeatureNet.block_features` of x (N, C, H, W), each block unit-normalised per pixel (over channels)."""
    return [t / (t.norm(dim=1, keepdim=True) + 1e-8) for t in net.block_features(x)]


def perceptual_distance(net, x: torch.Tensor, target_taps: list[torch.Tensor]) -> torch.Tensor:
    """(N,) mean over blocks of the per-pixel squared distance of unit-normalised activations."""
    taps = unit_block_features(net, x)
    per_block = [((a - b) ** 2).sum(dim=1).mean(dim=(1, 2)) for a, b in zip(taps, target_taps, strict=True)]
    return torch.stack(per_block).mean(dim=0)


@dataclass
class ProjectionLoss:
    """pixel MSE + perceptual x feature distance + prior x (|z| / sqrt(D) - 1)^2, per image (N,).

    Args:
        target: (1, C, R, R) in [-1, 1].
        net: a `FeatureNet` for the perceptual term, or None (pixel loss and prior only).
    """

    target: torch.Tensor
    net: Any = None
    perceptual: float = 0.05
    prior: float = 0.01

    def __post_init__(self) -> None:
        self.use_net = self.net is not None and self.perceptual > 0
        if self.use_net:
            with torch.no_grad():
                self.taps = unit_block_features(self.net, self.target)

    def __call__(self, z: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        loss = ((x - self.target) ** 2).mean(dim=(1, 2, 3))
        if self.use_net:
            loss = loss + self.perceptual * perceptual_distance(self.net, x, self.taps)
        radius = z.norm(dim=1) / math.sqrt(z.shape[1])
        return loss + self.prior * (radius - 1.0) ** 2


# --- projection ----------------------------------------------------------------------------------


@dataclass
class Projection:
    """The result of `project`.

    Attributes:
        z: the latent, (latent_dim,) float32.
        target: the prepared input, (R, R, 3) uint8.
        image: G(z) as `render` rounds it, (R, R, 3) uint8.
        mse: mean squared pixel error of image vs target, on [0, 1] intensities.
        psnr: 10 log10(1 / mse), dB.
        feature_distance: L2 distance of the feature net's pooled features of image and target
            (the embedding FID uses), or None without a feature net.
        steps, restarts: the optimisation's settings; seconds: its wall-clock time.
        source_sha256: SHA-256 of the input file's bytes, when known.
    """

    z: np.ndarray
    target: np.ndarray
    image: np.ndarray
    mse: float
    psnr: float
    feature_distance: float | None
    steps: int
    restarts: int
    seconds: float
    source_sha256: str | None = None

    def record(self, model_weights_sha256: str | None = None) -> dict[str, Any]:
        """The manifest's `projection` entry (plain JSON): where z came from and how well it fits."""
        raw = np.ascontiguousarray(self.z, dtype="<f4").tobytes()
        return {
            "method": "optimisation",
            "source_sha256": self.source_sha256,
            "steps": self.steps,
            "restarts": self.restarts,
            "mse": round(self.mse, 8),
            "psnr": round(self.psnr, 3) if math.isfinite(self.psnr) else None,
            "feature_distance": None if self.feature_distance is None else round(self.feature_distance, 6),
            "model_weights_sha256": model_weights_sha256,
            "latent_sha256": hashlib.sha256(raw).hexdigest(),
        }


def _lr(step: int, steps: int, lr: float) -> float:
    """Linear warm-up over the first 5% of steps, then cosine decay to 5% of `lr`."""
    warm = max(1, steps // 20)
    if step < warm:
        return lr * (step + 1) / warm
    t = (step - warm) / max(1, steps - warm)
    return lr * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * t)))


def _starts(gen, loss_fn, dim: int, candidates: int, restarts: int, seed: int, guess) -> torch.Tensor:
    """The `restarts` lowest-loss latents among seeded random candidates (and the encoder's guess)."""
    g = torch.Generator().manual_seed(seed)
    z = torch.randn(candidates, dim, generator=g)
    if guess is not None:
        z = torch.cat([guess.reshape(1, dim).float(), z])
    losses = []
    with torch.no_grad():
        for chunk in z.split(64):
            losses.append(loss_fn(chunk, gen(chunk)))
    best = torch.cat(losses).argsort()[: min(restarts, len(z))]
    return z[best].clone()


def project(
    bundle,
    pixels: np.ndarray,
    *,
    feature_net=None,
    encoder=None,
    steps: int = 250,
    restarts: int = 4,
    candidates: int = 64,
    explore: float = 0.3,
    lr: float = 0.15,
    perceptual: float = 0.05,
    prior: float = 0.01,
    seed: int = 0,
    source_sha256: str | None = None,
    progress=None,
) -> Projection:
    """Find z with G(z) close to `pixels`; see the module docstring for the method.

    Args:
        bundle: a loaded `Bundle` of an image model.
        pixels: the input, (H, W, 3) uint8 of any size (centre-cropped and resized here).
        feature_net: a `FeatureNet` (e.g. the bundle's predictor) for the perceptual term and the
            feature distance; None uses pixels only.
        encoder: an `Encoder` whose guess joins the random candidates, or None.
        steps: Adam steps in total (the restarts share the first `explore` share of them).
        restarts: latents optimised together in the first phase; candidates: random latents
            scored to choose them.
        lr: peak Adam learning rate on z (a Gaussian z has entries of size ~1).
        perceptual, prior: loss weights (see `ProjectionLoss`).
        seed: seed of the random candidates: same inputs and seed -> same z (same thread count).
        progress: called as progress(step, steps) after each step (e.g. a tqdm or gradio bar), or None.
    """
    cfg = bundle.config
    if not cfg.makes_images:
        raise LatentkitError(f"model {bundle.name!r} makes 2-d points, not images; projection needs images")
    if steps < 1 or restarts < 1 or candidates < 1:
        raise LatentkitError(f"projection: steps, restarts and candidates must be >= 1 (got {steps}, "
                             f"{restarts}, {candidates})")  # fmt: skip
    gen = bundle.generator
    if gen.training:
        raise ValueError("project: the generator must be in eval mode (batch norm statistics)")
    device = next(gen.parameters()).device
    target_px = prepare_image(pixels, cfg.resolution)
    if cfg.channels == 1:  # a grey model is compared with the grey version of the input
        target_px = np.repeat(np.asarray(Image.fromarray(target_px).convert("L"))[..., None], 3, axis=2)
    target = to_tensor(target_px)[:, : cfg.channels].to(device)
    if feature_net is not None and feature_net.channels != cfg.channels:
        raise LatentkitError(
            f"feature net reads {feature_net.channels}-channel images; model {bundle.name!r} makes "
            f"{cfg.channels}-channel ones"
        )
    loss_fn = ProjectionLoss(target, feature_net, perceptual, prior)
    start = time.perf_counter()
    params = list(gen.parameters()) + ([] if feature_net is None else list(feature_net.parameters()))
    frozen = [p.requires_grad for p in params]
    for p in params:
        p.requires_grad_(False)
    try:
        guess = None
        if encoder is not None:
            with torch.no_grad():
                guess = encoder(target).cpu()
        z = _starts(gen, loss_fn, cfg.latent_dim, candidates, restarts, seed, guess).to(device)
        z = _optimise(gen, loss_fn, z, steps, explore, lr, progress)
    finally:
        for p, f in zip(params, frozen, strict=True):
            p.requires_grad_(f)
    with torch.no_grad():
        image = to_pixels(gen(z[None]))[0]
        fd = None
        if feature_net is not None:
            pair = torch.cat([to_tensor(image), to_tensor(target_px)])[:, : cfg.channels]
            f = feature_net.features(pair.to(device))
            fd = float((f[0] - f[1]).norm())
    mse = float(np.mean((image.astype(np.float64) - target_px.astype(np.float64)) ** 2)) / 255.0**2
    return Projection(
        z=z.cpu().numpy().astype(np.float32),
        target=target_px,
        image=image,
        mse=mse,
        psnr=psnr(image, target_px),
        feature_distance=fd,
        steps=steps,
        restarts=restarts,
        seconds=time.perf_counter() - start,
        source_sha256=source_sha256,
    )


def _optimise(
    gen, loss_fn, z0: torch.Tensor, steps: int, explore: float, lr: float, progress
) -> torch.Tensor:
    """Adam on the batch z0 (K, D); after round(explore * steps) steps only the best row continues.

    Returns the best latent seen, (D,), detached.
    """
    z = z0.clone().requires_grad_(True)
    opt = torch.optim.Adam([z], lr=lr, betas=(0.9, 0.999))
    switch = round(explore * steps) if len(z0) > 1 else 0
    best_z, best_loss = z0[0].clone(), math.inf
    for step in range(steps):
        if step == switch and len(z) > 1:
            with torch.no_grad():
                keep = loss_fn(z, gen(z)).argmin()
            z = z[keep : keep + 1].detach().clone().requires_grad_(True)
            opt = torch.optim.Adam([z], lr=lr, betas=(0.9, 0.999))  # fresh moments for the survivor
        for group in opt.param_groups:
            group["lr"] = _lr(step, steps, lr)
        losses = loss_fn(z, gen(z))
        i = int(losses.argmin())
        if float(losses[i].detach()) < best_loss:  # the loss of z before this step's update
            best_loss, best_z = float(losses[i].detach()), z[i].detach().clone()
        opt.zero_grad(set_to_none=True)
        losses.sum().backward()
        opt.step()
        if progress is not None:
            progress(step + 1, steps)
    with torch.no_grad():
        final = loss_fn(z, gen(z))
        i = int(final.argmin())
        if float(final[i]) < best_loss:
            best_z = z[i].detach().clone()
    return best_z


def bundle_helpers(bundle, predictor=None, encoder=None) -> tuple[Any, Any]:
    """(feature net, encoder) for projecting into `bundle`.

    Each is loaded from the given folder, else is the bundle's own (`bundle_predictor`, BUNDLE/encoder)
    when it ships one, else None (the projection then uses pixels only / random starts only).
    """
    from latentkit.latent.encoder import BUNDLE_FOLDER, load_encoder
    from latentkit.predictor import bundle_predictor, load_feature_net

    if predictor:
        net = load_feature_net(predictor)[0]
    else:
        own = bundle_predictor(bundle)
        net = own[0] if own else None
    encoder = encoder or (bundle.path / BUNDLE_FOLDER if (bundle.path / BUNDLE_FOLDER).is_dir() else None)
    return net, load_encoder(encoder, bundle) if encoder else None


def project_image(
    model, image: str | os.PathLike | bytes, *, predictor=None, encoder=None, **kwargs: Any
) -> Projection:
    """The API call: read `image` (a path or file bytes), project it into `model` (a bundle folder or a
    loaded `Bundle`) with its predictor and encoder (see `bundle_helpers`); `kwargs` go to `project`.
    """
    from latentkit.models import Bundle, load_bundle

    bundle = model if isinstance(model, Bundle) else load_bundle(model)
    pixels, sha = read_input(image)
    net, enc = bundle_helpers(bundle, predictor, encoder)
    return project(bundle, pixels, feature_net=net, encoder=enc, source_sha256=sha, **kwargs)


# --- the projection record beside a latent file --------------------------------------------------


def sidecar_path(latent_path: str | os.PathLike) -> Path:
    """z.npy -> z.projection.json (the record `latentkit edit --latent z.npy` picks up)."""
    path = Path(latent_path)
    return path.with_name(path.stem + SIDECAR_SUFFIX)


def save_projection(latent_path: str | os.PathLike, result: Projection, bundle=None) -> tuple[Path, Path]:
    """Write result.z with `save_latents` and its record beside it; returns (latent file, sidecar)."""
    from latentkit.latent.editor import save_latents

    weights = bundle.weights_sha256 if bundle is not None else None
    latent = save_latents(latent_path, result.z)
    sidecar = sidecar_path(latent)
    write_json(sidecar, {"format": FORMAT, "version": VERSION, **result.record(weights)})
    return latent, sidecar


def load_projection_record(latent_path: str | os.PathLike) -> dict[str, Any] | None:
    """The record of a latent file's sidecar, or None when there is none.

    A malformed sidecar is a `LatentkitError` naming it.
    """
    path = sidecar_path(latent_path)
    if not path.is_file():
        return None
    doc = parse_tagged_json(read_bytes(path), path, FORMAT, VERSION, what="projection record")
    if not isinstance(doc.get("latent_sha256"), str):
        raise LatentkitError(f"{path}: 'latent_sha256' is missing (re-run `latentkit project`)")
    return {k: v for k, v in doc.items() if k not in ("format", "version")}


def projection_for(record: dict[str, Any] | None, z: np.ndarray) -> dict[str, Any] | None:
    """`record` if it describes latent z (D,) (its latent_sha256 matches), else None.

    A sidecar left beside a latent file that was since replaced then records nothing false.
    """
    if record is None:
        return None
    raw = np.ascontiguousarray(z, dtype="<f4").reshape(-1).tobytes()
    return record if hashlib.sha256(raw).hexdigest() == record.get("latent_sha256") else None
