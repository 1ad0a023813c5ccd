"""Projecting an image into a generator's latent space (GAN inversion), so real images can be edited.

    pixels, sha = read_input("me.png")                     # latentkit.images: (H, W, 3) uint8, SHA-256
    result = project(bundle, pixels, feature_net=net)      # a Projection: latent, space, PSNR...
    save_projection("me.json", result)                     # me.json + me.projection.json (the record)

A style-based model is projected into W+ by default (one w per synthesis layer: Abdal et al. 2019,
Image2StyleGAN), or into W or Z with `space=`; a Z-only model has only Z (`best_space`).

Method in Z (optimisation on z, after the StyleGAN2 projector, Karras et al. 2020, adapted to z-space):

1. Starting points: `candidates` seeded random latents, plus the encoder's guess when an `Encoder`
   is given, are rendered in one no-grad batch; the `restarts` with the lowest loss are kept.
2. All restarts are optimised together as one batch (Adam on z, cosine learning-rate decay) for the
   first `explore` share of the steps; then only the best one continues.
3. Loss per image: pixel MSE (images in [-1, 1]) + `perceptual` x a feature distance on latentkit's
   own feature net (LPIPS-like: each block's activations unit-normalised per pixel, squared
   differences averaged; no learned weights) + `prior` x (|z| / sqrt(D) - 1)^2, which keeps z near
   the shell where Gaussian latents live, so directions fitted on sampled latents still apply.

Method in W and W+ (stylegan2-ada-pytorch's `projector.py`, Karras et al. 2020b):

1. W statistics from 10,000 mapped seeded z, as stylegan2-ada computes them: w_avg (D,) their mean
   and w_std = sqrt(mean |w - w_avg|^2), one number (the typical distance of a w from the mean).
2. Starting points: w_avg, plus the `restarts` - 1 lowest-loss of `candidates` mapped random z (and
   the mapped encoder guess); a w+ start repeats its w on every layer. Then phases as in Z.
3. stylegan2-ada's schedules: the learning rate ramps up over the first 5% of the steps and down
   (cosine) over the last 25%; Gaussian noise of std w_std x 0.05 x (1 - t / 0.75)^2 is added to
   the latent the generator sees (t = step / steps), which explores early and is gone by t = 0.75.
4. Loss per image: the same pixel and perceptual terms + `prior` x |w - w_avg|^2 / w_std^2 (a
   Gaussian prior around the mapping's outputs; for w+ on the layers' mean w) + for w+ `layers` x
   mean over layers |w_l - mean w|^2 / w_std^2, so the layers stay near one w and edits fitted in W
   still apply. (stylegan2-ada has no prior: its 1000 steps from w_avg rarely leave W's bulk.)

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
from latentkit.models.latents import check_space, is_style_based, synthesize
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

    def image_loss(self, x: torch.Tensor) -> torch.Tensor:
        """(N,) pixel MSE + perceptual x feature distance of images x (N, C, R, R) to the target."""
        loss = ((x - self.target) ** 2).mean(dim=(1, 2, 3))
        if self.use_net:
            loss = loss + self.perceptual * perceptual_distance(self.net, x, self.taps)
        return loss

    def __call__(self, z: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        radius = z.norm(dim=1) / math.sqrt(z.shape[1])
        return self.image_loss(x) + self.prior * (radius - 1.0) ** 2


@dataclass(frozen=True)
class WStats:
    """Where the mapping's outputs lie: avg (D,) their mean, std = sqrt(mean |w - avg|^2) (a scalar)."""

    avg: torch.Tensor
    std: float


W_STATS_SAMPLES = 10_000  # stylegan2-ada projector's w_avg_samples


@torch.no_grad()
def w_stats(generator, samples: int = W_STATS_SAMPLES, seed: int = 123) -> WStats:
    """`WStats` of `samples` seeded z (seed 123, as stylegan2-ada) through the mapping (eval mode)."""
    device = next(generator.parameters()).device
    z = torch.randn(samples, generator.latent_dim, generator=torch.Generator().manual_seed(seed))
    w = torch.cat([generator.mapping(chunk.to(device)) for chunk in z.split(2048)]).float()
    avg = w.mean(dim=0)
    return WStats(avg, float(((w - avg) ** 2).sum(dim=1).mean().sqrt()))


@dataclass
class WProjectionLoss(ProjectionLoss):
    """Image terms + prior x |mean_l w_l - w_avg|^2 / w_std^2 + layers x mean_l |w_l - mean w|^2 / w_std^2.

    Latents are w (N, D) or w+ (N, L, D) (the layer term is 0 for w); `stats` is `WStats`.
    """

    prior: float = 0.001
    stats: WStats | None = None
    layers: float = 0.01

    def __call__(self, w: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        mean = w if w.ndim == 2 else w.mean(dim=1)
        var = self.stats.std**2
        loss = self.image_loss(x) + self.prior * ((mean - self.stats.avg) ** 2).sum(dim=1) / var
        if w.ndim == 3:
            loss = loss + self.layers * ((w - mean[:, None]) ** 2).sum(dim=2).mean(dim=1) / var
        return loss


# --- projection ----------------------------------------------------------------------------------


@dataclass
class Projection:
    """The result of `project`.

    Attributes:
        latent: the latent of `space`: z (latent_dim,), w (w_dim,) or w+ (num_ws, w_dim), float32.
        space: "z", "w" or "w+".
        target: the prepared input, (R, R, 3) uint8.
        image: G(latent) as `render` rounds it, (R, R, 3) uint8.
        mse: mean squared pixel error of image vs target, on [0, 1] intensities.
        psnr: 10 log10(1 / mse), dB.
        feature_distance: L2 distance of the feature net's pooled features of image and target
            (the embedding FID uses), or None without a feature net.
        steps, restarts: the optimisation's settings; seconds: its wall-clock time.
        source_sha256: SHA-256 of the input file's bytes, when known.
    """

    latent: np.ndarray
    space: str
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
        """The manifest's `projection` entry (plain JSON): where the latent came from and how well it fits."""
        raw = np.ascontiguousarray(self.latent, dtype="<f4").tobytes()
        return {
            "method": "optimisation",
            "space": self.space,
            "source_sha256": self.source_sha256,
            "steps": self.steps,
            "restarts": self.restarts,
            "mse": round(self.mse, 8),
            "psnr": round(self.psnr, 3) if math.isfinite(self.psnr) else None,
            "feature_distance": None if self.feature_distance is None else round(self.feature_distance, 6),
            "model_weights_sha256": model_weights_sha256,
            "latent_sha256": hashlib.sha256(raw).hexdigest(),
        }


def best_space(generator) -> str:
    """Where `project` fits best by default: "w+" for a style-based generator, else "z"."""
    return "w+" if is_style_based(generator) else "z"


def _lr(step: int, steps: int, lr: float) -> float:
    """Z: linear warm-up over the first 5% of steps, then cosine decay to 5% of `lr`."""
    warm = max(1, steps // 20)
    if step < warm:
        return lr * (step + 1) / warm
    t = (step - warm) / max(1, steps - warm)
    return lr * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * t)))


def _ramp_lr(step: int, steps: int, lr: float, rampup: float = 0.05, rampdown: float = 0.25) -> float:
    """W: stylegan2-ada's schedule, linear up over the first `rampup` of t = step / steps, cosine down
    over the last `rampdown`."""
    t = step / steps
    down = 0.5 - 0.5 * math.cos(min(1.0, (1.0 - t) / rampdown) * math.pi)
    return lr * down * min(1.0, t / rampup)


def _w_noise(step: int, steps: int, std: float, factor: float = 0.05, ramp: float = 0.75) -> float:
    """W: stylegan2-ada's std of the noise added to w, w_std x factor x max(0, 1 - t / ramp)^2."""
    return std * factor * max(0.0, 1.0 - step / steps / ramp) ** 2


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


@torch.no_grad()
def _w_starts(gen, loss_fn, space: str, candidates: int, restarts: int, seed: int, guess) -> torch.Tensor:
    """w_avg and the `restarts` - 1 lowest-loss mapped candidates: (K, D) for w, (K, num_ws, D) for w+."""
    w = loss_fn.stats.avg[None]
    if restarts > 1:
        z = torch.randn(candidates, gen.latent_dim, generator=torch.Generator().manual_seed(seed))
        if guess is not None:
            z = torch.cat([guess.reshape(1, -1).float(), z])
        mapped = torch.cat([gen.mapping(chunk.to(w.device)) for chunk in z.split(64)])
        losses = torch.cat([loss_fn(c, synthesize(gen, c, "w")) for c in mapped.split(64)])
        w = torch.cat([w, mapped[losses.argsort()[: restarts - 1]]])
    return w if space == "w" else w[:, None, :].repeat(1, gen.num_ws, 1)


def project(
    bundle,
    pixels: np.ndarray,
    *,
    space: str | None = None,
    feature_net=None,
    encoder=None,
    steps: int = 250,
    restarts: int = 4,
    candidates: int = 64,
    explore: float = 0.3,
    lr: float | None = None,
    perceptual: float = 0.05,
    prior: float | None = None,
    layers: float = 0.01,
    noise: float = 0.05,
    seed: int = 0,
    source_sha256: str | None = None,
    progress=None,
) -> Projection:
    """Find a latent of `space` whose image is close to `pixels`; see the module docstring for the method.

    Args:
        bundle: a loaded `Bundle` of an image model.
        pixels: the input, (H, W, 3) uint8 of any size (centre-cropped and resized here).
        space: "z", "w" or "w+"; None is `best_space` (w+ for style-based models, else z).
        feature_net: a `FeatureNet` (e.g. the bundle's predictor) for the perceptual term and the
            feature distance; None uses pixels only.
        encoder: an `Encoder` whose guess (a z) joins the random candidates, or None.
        steps: Adam steps in total (the restarts share the first `explore` share of them).
        restarts: latents optimised together in the first phase; candidates: random latents
            scored to choose them.
        lr: peak Adam learning rate; None is 0.15 for z (entries of size ~1), 0.1 for w (stylegan2-ada).
        perceptual, prior: loss weights (see `ProjectionLoss`, `WProjectionLoss`); prior None is
            0.01 for z, 0.001 for w and w+. layers: the w+ layer term's weight.
        noise: W only, the noise on w at the start, in units of w_std (stylegan2-ada's 0.05).
        seed: seed of the random candidates (and W's noise): same inputs and seed -> same latent
            (same thread count).
        progress: called as progress(step, steps) after each step (e.g. a tqdm or gradio bar), or None.
    """
    cfg = bundle.config
    if not cfg.makes_images:
        raise LatentkitError(f"model {bundle.name!r} makes 2-d points, not images; projection needs images")
    if steps < 1 or restarts < 1 or candidates < 1:
        raise LatentkitError(f"projection: steps, restarts and candidates must be >= 1 (got {steps}, "
                             f"{restarts}, {candidates})")  # fmt: skip
    gen = bundle.generator
    space = check_space(gen, space or best_space(gen), "projection")
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
        if space == "z":
            loss_fn = ProjectionLoss(target, feature_net, perceptual, 0.01 if prior is None else prior)
            x = _starts(gen, loss_fn, cfg.latent_dim, candidates, restarts, seed, guess).to(device)
            peak = 0.15 if lr is None else lr
            x = _optimise(lambda z, step: (loss_fn(z, gen(z)), True), x, steps, explore,
                          lambda step: _lr(step, steps, peak), progress)  # fmt: skip
        else:
            x = _project_w(gen, target, feature_net, space, guess, steps, restarts, candidates, explore,
                           lr, perceptual, prior, layers, noise, seed, progress)  # fmt: skip
    finally:
        for p, f in zip(params, frozen, strict=True):
            p.requires_grad_(f)
    with torch.no_grad():
        image = to_pixels(synthesize(gen, x[None], space))[0]
        fd = None
        if feature_net is not None:
            pair = torch.cat([to_tensor(image), to_tensor(target_px)])[:, : cfg.channels]
            f = feature_net.features(pair.to(device))
            fd = float((f[0] - f[1]).norm())
    mse = float(np.mean((image.astype(np.float64) - target_px.astype(np.float64)) ** 2)) / 255.0**2
    return Projection(
        latent=x.cpu().numpy().astype(np.float32),
        space=space,
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


def _project_w(gen, target, feature_net, space, guess, steps, restarts, candidates, explore, lr,
               perceptual, prior, layers, noise, seed, progress) -> torch.Tensor:  # fmt: skip
    """`project`'s optimisation in W or W+ (the generator frozen); returns w (D,) or w+ (num_ws, D)."""
    stats = w_stats(gen)
    prior = 0.001 if prior is None else prior
    loss_fn = WProjectionLoss(target, feature_net, perceptual, prior, stats, layers)
    x = _w_starts(gen, loss_fn, space, candidates, restarts, seed, guess)
    g = torch.Generator().manual_seed(seed + 1)
    peak = 0.1 if lr is None else lr

    def loss_at(w: torch.Tensor, step: int | None) -> tuple[torch.Tensor, bool]:
        scale = 0.0 if step is None else _w_noise(step, steps, stats.std, noise)
        seen = w if scale == 0 else w + scale * torch.randn(w.shape, generator=g).to(w.device)
        return loss_fn(w, synthesize(gen, seen, space)), scale == 0

    return _optimise(loss_at, x, steps, explore, lambda step: _ramp_lr(step, steps, peak), progress)


def _optimise(loss_at, x0: torch.Tensor, steps: int, explore: float, lr_at, progress) -> torch.Tensor:
    """Adam on the batch x0 (K, ...); after round(explore * steps) steps only the best row continues.

    loss_at(x, step) -> (losses (K,), exact): exact says the losses are of x itself (no noise on
    the latent the generator saw); loss_at(x, None) is always exact. lr_at(step) is the learning rate.
    Returns the best latent of an exact evaluation, (...), detached.
    """
    x = x0.clone().requires_grad_(True)
    opt = torch.optim.Adam([x], lr=lr_at(0), betas=(0.9, 0.999))
    switch = round(explore * steps) if len(x0) > 1 else 0
    best_x, best_loss = x0[0].clone(), math.inf
    for step in range(steps):
        if step == switch and len(x) > 1:
            with torch.no_grad():
                keep = loss_at(x, None)[0].argmin()
            x = x[keep : keep + 1].detach().clone().requires_grad_(True)
            opt = torch.optim.Adam([x], lr=lr_at(0), betas=(0.9, 0.999))  # fresh moments for the survivor
        for group in opt.param_groups:
            group["lr"] = lr_at(step)
        losses, exact = loss_at(x, step)
        i = int(losses.argmin())
        if exact and float(losses[i].detach()) < best_loss:  # the loss of x before this step's update
            best_loss, best_x = float(losses[i].detach()), x[i].detach().clone()
        opt.zero_grad(set_to_none=True)
        losses.sum().backward()
        opt.step()
        if progress is not None:
            progress(step + 1, steps)
    with torch.no_grad():
        final = loss_at(x, None)[0]
        i = int(final.argmin())
        if float(final[i]) < best_loss:
            best_x = x[i].detach().clone()
    return best_x


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
    """Write result.latent with `save_latents` (its space in a .json; a .npy holds z only) and its record
    (naming the space) beside it; returns (latent file, sidecar)."""
    from latentkit.latent.editor import save_latents

    weights = bundle.weights_sha256 if bundle is not None else None
    latent = save_latents(latent_path, result.latent, space=result.space)
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
    """`record` if it describes latent z (any shape: z, w or w+) (its latent_sha256 matches), else None.

    A sidecar left beside a latent file that was since replaced then records nothing false.
    """
    if record is None:
        return None
    raw = np.ascontiguousarray(z, dtype="<f4").reshape(-1).tobytes()
    return record if hashlib.sha256(raw).hexdigest() == record.get("latent_sha256") else None
