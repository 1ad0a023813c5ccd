"""The training objective: one object, built from the config, that owns D's and G's updates.

As stylegan2-ada's `training/loss.py`: the loop calls `objective.step(nets, batches, step)` and never
asks which loss or penalty is on. The objective is a loss (losses.py) plus a list of regularisers
(regularisers.py, remedies.py): those the loss declares (`loss.regularisers()`) and those the config
switches on, one `from_config` per class in `REGULARISERS`.

A step is `n_critic` D updates then one G update. D's update: draw a real batch and a fake one,
DiffAugment both, loss.d_loss + every active `d_penalty`, backward, average gradients across
processes, Adam step, every `after_d_step`. Forward passes run under the run's precision
(precision.py: fp32, or bf16/fp16 autocast), losses in float32. G's update: with one D step it
reuses the fake batch D just saw (as the classic DCGAN loop does, saving a third of G's forward
work), else draws a new one; then the one regulariser that replaces G's loss (feature matching,
unrolled D), or loss.g_loss. With `updates="simultaneous"` (one D step only) G's update comes first,
against D's weights before D's step, and D's then uses the batch G made before its own step: both
gradients are taken at the same point, as blocks' ALI algorithm that PacGAN's 2D code trains with.

To add a loss: a `GANLoss` subclass in losses.py, registered in `LOSSES`. To add a regulariser: a
`Regulariser` subclass (formula and paper in its docstring, what it needs in `per_sample_d`,
`grad_on`, `every`) with a `from_config`, registered in `REGULARISERS` below.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from latentkit.data import Dataset
from latentkit.errors import LatentkitError
from latentkit.models import build_discriminator, build_generator
from latentkit.models.config import ModelConfig
from latentkit.models.style import mixed_ws
from latentkit.train import distributed
from latentkit.train.augment import diff_augment, parse_policy
from latentkit.train.config import TrainConfig
from latentkit.train.losses import LOSSES, GANLoss, get_loss
from latentkit.train.precision import Precision, resolve_precision
from latentkit.train.regularisers import DBatch, R1Penalty, R2Penalty, Regulariser
from latentkit.train.remedies import FeatureMatching, UnrolledD
from latentkit.train.schedule import schedule_factor

# Regularisers a TrainConfig field switches on, in the order their penalties are added to D's loss.
REGULARISERS: dict[str, type[Regulariser]] = {
    cls.name: cls for cls in (R1Penalty, R2Penalty, FeatureMatching, UnrolledD)
}


@dataclass
class Nets:
    """Everything that learns, and what `save_checkpoint` needs to capture it."""

    G: nn.Module
    D: nn.Module
    G_ema: nn.Module
    opt_g: torch.optim.Optimizer
    opt_d: torch.optim.Optimizer
    modules: dict[str, nn.Module] = field(init=False)
    optimizers: dict[str, torch.optim.Optimizer] = field(init=False)

    def __post_init__(self) -> None:
        self.modules = {"G": self.G, "D": self.D, "G_ema": self.G_ema}
        self.optimizers = {"G": self.opt_g, "D": self.opt_d}


def build_nets(
    mcfg: ModelConfig, opt: dict, device: torch.device, channels_last: bool, sync_bn: bool = False
) -> Nets:
    """G, D, EMA copy of G and their Adam optimisers, on `device`."""
    G, D = build_generator(mcfg).to(device), build_discriminator(mcfg).to(device)
    if sync_bn:
        G, D = nn.SyncBatchNorm.convert_sync_batchnorm(G), nn.SyncBatchNorm.convert_sync_batchnorm(D)
    if channels_last and mcfg.makes_images:
        G, D = G.to(memory_format=torch.channels_last), D.to(memory_format=torch.channels_last)
    G_ema = copy.deepcopy(G).eval().requires_grad_(False)
    opt_g = adam(G.parameters(), lr=opt["lr_g"], betas=opt["betas"])
    opt_d = adam(D.parameters(), lr=opt["lr_d"], betas=opt["betas"])
    return Nets(G, D, G_ema, opt_g, opt_d)


def adam(params, lr: float, betas: tuple[float, float]) -> torch.optim.Adam:
    """Adam with PyTorch's fused kernel where it has one (floating-point parameters on CPU or CUDA):
    the same update rule in one kernel per step instead of a loop over parameters, which is most of
    a small 2D model's step (docs/benchmarks.md). Resuming needs the same choice, which it gets."""
    params = list(params)
    fused = bool(params) and all(p.is_floating_point() and p.device.type in ("cpu", "cuda") for p in params)
    return torch.optim.Adam(params, lr=lr, betas=betas, fused=fused)


@dataclass
class Batches:
    """This process's source of training batches: its shard of the data and its own noise, both drawn
    from `gen` (whose state the checkpoint saves, so a resumed run draws the same batches)."""

    data: Dataset
    shard: torch.Tensor  # indices of this process's samples
    gen: torch.Generator
    batch_size: int
    latent_dim: int
    device: torch.device
    channels_last: bool = False

    def real(self) -> torch.Tensor:
        """(batch_size, ...) real samples on `device`."""
        idx = self.shard[torch.randint(len(self.shard), (self.batch_size,), generator=self.gen)]
        x = self.data.batch(idx).to(self.device)
        return x.contiguous(memory_format=torch.channels_last) if self.channels_last else x

    def noise(self) -> torch.Tensor:
        """(batch_size, latent_dim) standard normal z on `device`."""
        return torch.randn(self.batch_size, self.latent_dim, generator=self.gen).to(self.device)


@dataclass
class GBatch:
    """What G's loss is computed from: D (frozen), the loss, D's optimiser (for unrolling), the real
    batch D last saw (augmented), G's augmented fake batch, and a source of fresh augmented reals."""

    D: nn.Module
    loss: GANLoss
    opt_d: torch.optim.Optimizer
    real_in: torch.Tensor
    fake_in: torch.Tensor
    draw_real: Callable[[], torch.Tensor]

    def adversarial(self, critic: Callable[[torch.Tensor], torch.Tensor] | None = None) -> torch.Tensor:
        """loss.g_loss on `critic`'s logits (D by default), with the real logits if the loss asks."""
        critic = critic or self.D
        fake_logits = critic(self.fake_in).float()  # losses in float32 under any autocast
        if self.loss.g_needs_real:
            return self.loss.g_loss(fake_logits, critic(self.real_in.detach()).float())
        return self.loss.g_loss(fake_logits)


@dataclass
class StepLosses:
    """One training step's losses (scalars) and the logits of its last D step, for the log."""

    loss_d: torch.Tensor
    loss_g: torch.Tensor
    real_logits: torch.Tensor
    fake_logits: torch.Tensor


def optimiser_settings(cfg: TrainConfig, loss: GANLoss) -> dict:
    """lr_g, lr_d, betas and n_critic: the user's values, else the loss's published defaults."""
    d = loss.default_optim
    betas = (
        cfg.beta1 if cfg.beta1 is not None else d["betas"][0],
        cfg.beta2 if cfg.beta2 is not None else d["betas"][1],
    )
    return {
        "lr_g": cfg.lr_g or d["lr_g"],
        "lr_d": cfg.lr_d or d["lr_d"],
        "betas": betas,
        "n_critic": cfg.n_critic or d["n_critic"],
    }


class Objective:
    """A loss and its regularisers; `step` trains D `n_critic` times and G once."""

    def __init__(
        self,
        loss: GANLoss,
        regularisers: list[Regulariser],
        optim: dict[str, Any],
        policy: tuple[str, ...] = (),
        dist: distributed.Dist | None = None,
        precision: Precision | None = None,
        lr_schedule: str = "constant",
        total_steps: int = 1,
        style_mixing: float = 0.0,
        updates: str = "sequential",
        slots: int = 1,
    ) -> None:
        self.loss, self.regularisers, self.optim = loss, list(regularisers), optim
        self.style_mixing = float(style_mixing)
        self.n_critic = int(optim["n_critic"])
        self.updates, self.slots = updates, int(slots)
        if updates == "simultaneous" and self.n_critic != 1:
            raise LatentkitError(
                f"train config: updates=simultaneous takes one D step per G step (n_critic={self.n_critic}); "
                "set --n-critic 1 or use updates=sequential"
            )
        self.policy, self.dist = tuple(policy), dist or distributed.Dist()
        self.precision = precision or Precision("fp32")
        self.lr_schedule, self.total_steps = lr_schedule, int(total_steps)
        g_losses = [r for r in self.regularisers if r.replaces_g_loss]
        if len(g_losses) > 1:
            names = " and ".join(r.name for r in g_losses)
            raise LatentkitError(f"train config: {names} both replace G's loss; turn one of them off")
        self.g_replacement = g_losses[0] if g_losses else None

    def __repr__(self) -> str:
        return (
            f"Objective({self.loss!r}, {self.regularisers!r}, n_critic={self.n_critic}, {self.precision!r})"
        )

    def augment(self, x: torch.Tensor) -> torch.Tensor:
        """DiffAugment (Zhao et al. 2020) of D's input, the same for real and fake samples."""
        return diff_augment(x, self.policy) if self.policy else x

    def generate(self, G: nn.Module, batches: Batches) -> torch.Tensor:
        """G(z) for a fresh batch z (batch_size, latent_dim) of `batches`' noise.

        With `style_mixing` p > 0 (a style-based G), StyleGAN's mixing regularisation (Karras et al.
        2019, sec. 3.1; stylegan2-ada's `run_G`): with probability p the batch's layers from a random
        cutoff in [1, num_ws) on read the w of a second z, so that no layer's style can rely on its
        neighbours'. The second z, the coin and the cutoff are drawn every time from `batches.gen`, so
        a resumed run draws exactly what the uninterrupted one would have.
        """
        z = batches.noise()
        if self.slots > 1:
            return per_slot(G, z, self.slots)
        if not self.style_mixing:
            return G(z)
        z2 = batches.noise()
        mix = torch.rand((), generator=batches.gen).item() < self.style_mixing
        drawn = int(torch.randint(1, G.num_ws, (), generator=batches.gen))
        cutoff = drawn if mix else G.num_ws
        w = G.mapping(z)
        w2 = G.mapping(z2, track_avg=False) if mix else w
        return G.synthesis(mixed_ws(w, w2, cutoff, G.num_ws))

    def step(self, nets: Nets, batches: Batches, step: int) -> StepLosses:
        """Train D `n_critic` times, then G once; `step` (0-based) drives lazy regularisation and the
        learning-rate schedule."""
        if self.lr_schedule != "constant":
            factor = schedule_factor(self.lr_schedule, step, self.total_steps)
            for opt, key in ((nets.opt_d, "lr_d"), (nets.opt_g, "lr_g")):
                for group in opt.param_groups:
                    group["lr"] = self.optim[key] * factor
        if self.updates == "simultaneous":
            seen, loss_d = self.d_forward(nets, batches, step)
            loss_g = self.g_step(nets, batches, seen)  # against D's weights before its step
            self.d_update(nets, loss_d)  # from the fake batch of G's weights before its step
            return StepLosses(loss_d, loss_g, seen.real_logits, seen.fake_logits)
        for _ in range(self.n_critic):
            seen, loss_d = self.d_step(nets, batches, step)
        loss_g = self.g_step(nets, batches, seen)
        return StepLosses(loss_d, loss_g, seen.real_logits, seen.fake_logits)

    def d_step(self, nets: Nets, batches: Batches, step: int) -> tuple[DBatch, torch.Tensor]:
        """One D update; returns what D saw and its loss (with penalties)."""
        seen, loss_d = self.d_forward(nets, batches, step)
        self.d_update(nets, loss_d)
        return seen, loss_d

    def d_forward(self, nets: Nets, batches: Batches, step: int) -> tuple[DBatch, torch.Tensor]:
        """D's loss (with the penalties active at `step`) on a fresh real and fake batch; no update."""
        D = nets.D.requires_grad_(True)
        active = [r for r in self.regularisers if step % r.every == 0]
        real = batches.real()
        with self.precision.autocast():
            generated = self.generate(nets.G, batches)
        fake = generated.detach()
        if any("real" in r.grad_on for r in active):
            real.requires_grad_(True)
        if any("fake" in r.grad_on for r in active):
            fake.requires_grad_(True)
        with self.precision.autocast():
            real_in, fake_in = self.augment(real), self.augment(fake)
            real_logits, fake_logits = D(real_in).float(), D(fake_in).float()
            seen = DBatch(real, fake, real_in, fake_in, real_logits, fake_logits, generated, step)
            loss_d = self.loss.d_loss(seen.real_logits, seen.fake_logits)
            for r in active:
                term = r.d_penalty(D, seen)
                if term is not None:
                    loss_d = loss_d + (term * r.every if r.every > 1 else term)
        return seen, loss_d

    def d_update(self, nets: Nets, loss_d: torch.Tensor) -> None:
        """Backward `loss_d` into D, average its gradients across processes, Adam step, `after_d_step`."""
        D = nets.D.requires_grad_(True)
        nets.opt_d.zero_grad(set_to_none=True)
        self.precision.backward_step(
            "D", loss_d, nets.opt_d, lambda: distributed.average_gradients(D, self.dist)
        )
        for r in self.regularisers:
            r.after_d_step(D)

    def g_step(self, nets: Nets, batches: Batches, seen: DBatch) -> torch.Tensor:
        """One G update against the D that `seen` came from; returns G's loss."""
        nets.D.requires_grad_(False)
        # With one D step, G's batch is the one D just judged (its graph to G is still alive).
        with self.precision.autocast():
            generated = self.generate(nets.G, batches) if self.n_critic > 1 else seen.generated
            g = GBatch(
                nets.D, self.loss, nets.opt_d, seen.real_in, self.augment(generated),
                lambda: self.augment(batches.real()),
            )  # fmt: skip
            loss_g = self.g_replacement.g_loss(g) if self.g_replacement else g.adversarial()
        nets.opt_g.zero_grad(set_to_none=True)
        self.precision.backward_step(
            "G", loss_g, nets.opt_g, lambda: distributed.average_gradients(nets.G, self.dist)
        )
        return loss_g


def per_slot(G: nn.Module, z: torch.Tensor, slots: int) -> torch.Tensor:
    """G(z) made one PacGAN slot at a time: z (N, latent_dim) -> (N, ...), sample i*slots + j from the
    batch of slot j alone (`pack` puts consecutive samples side by side), so G's batch norm sees
    N / slots samples per batch, as PacGAN's code, which ran its generator once per slot."""
    if z.shape[0] % slots:
        raise ValueError(f"per_slot: a batch of {z.shape[0]} is not a multiple of {slots} slots")
    parts = [G(z[j::slots]) for j in range(slots)]  # each (N / slots, ...)
    return torch.stack(parts, dim=1).flatten(0, 1)


def build_objective(cfg: TrainConfig, mcfg: ModelConfig, dist: distributed.Dist | None = None) -> Objective:
    """The objective `cfg` asks for, checked against the networks `mcfg` describes.

    Raises `LatentkitError` when a regulariser's needs clash with the model (batch norm in D with a
    per-sample penalty) or the loss (its `refused_with`), or two regularisers both replace G's loss.
    """
    options = LOSSES[cfg.loss].config_options if cfg.loss in LOSSES else {}
    loss = get_loss(cfg.loss, **{arg: getattr(cfg, name) for arg, name in options.items()})
    regularisers = loss.regularisers()
    for reg in REGULARISERS.values():
        if (r := reg.from_config(cfg, loss)) is not None:
            regularisers.append(r)
    for r in regularisers:
        if cfg.loss in r.refused_with:
            raise LatentkitError(
                f"train config: {r.name} makes no sense with loss={cfg.loss} (its critic is held Lipschitz "
                f"its own way); set {getattr(r, 'gamma_field', r.name)} to 0 or use another loss, e.g. rpgan"
            )
    per_sample = [r.name for r in regularisers if r.per_sample_d]
    if mcfg.d_batch_norm and per_sample:
        raise LatentkitError(
            f"d_norm=batch is invalid with a gradient penalty ({', '.join(per_sample)}): batch norm mixes "
            "the samples the penalty treats one by one; use --d-norm layer, instance, spectral or none"
        )
    if cfg.style_mixing and not mcfg.style_based:
        raise LatentkitError(
            f"train config: style_mixing={cfg.style_mixing} needs a style-based generator, whose layers "
            "each read a w; add --mapping-layers N (N > 0) or set it to 0"
        )
    policy = parse_policy(cfg.diffaugment) if mcfg.makes_images else ()  # DiffAugment is for images
    device = dist.device if dist is not None else torch.device("cpu")
    precision = resolve_precision(cfg.precision, device, mcfg.makes_images)
    optim = optimiser_settings(cfg, loss)
    slots = mcfg.pack if cfg.g_per_slot else 1
    return Objective(
        loss, regularisers, optim, policy, dist, precision, cfg.lr_schedule, cfg.steps, cfg.style_mixing,
        cfg.updates, slots,
    )  # fmt: skip
