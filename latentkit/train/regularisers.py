"""Regularisers of the discriminator: terms added to D's loss, or actions after D's optimiser step.

Each is one small class stating its formula and paper, and declaring what it needs:

    per_sample_d     its formula assumes each logit depends on its own sample only, so batch norm in D
                     (which mixes the samples of a batch) is refused when it is on
    grad_on          D inputs ("real", "fake") that must track gradients before D sees them
    replaces_g_loss  its `g_loss` is G's loss instead of the adversarial one (at most one such)
    refused_with     names of losses it makes no sense with (building the objective refuses them)
    every            lazy regularisation (Karras et al. 2020, StyleGAN2 sec. 3.1): the penalty is
                     computed on every `every`-th step only and scaled by `every` to keep its strength

The objective (objective.py) adds `d_penalty(D, seen)` to D's loss and calls `after_d_step(D)`;
generator-side remedies (remedies.py) use the same base with `g_loss`. Below, D(x) is a raw logit.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

import torch
from torch import nn

from latentkit.train.schedule import schedule_factor

if TYPE_CHECKING:  # types only: the objective imports this module, not the other way round
    from latentkit.train.config import TrainConfig
    from latentkit.train.losses import GANLoss
    from latentkit.train.objective import GBatch


@dataclass
class DBatch:
    """What D saw in one discriminator step. real, fake: (N, ...); logits: (N / pack,).

    `real` and `fake` are the inputs before augmentation (`fake` detached from G, both tracking
    gradients when a regulariser asked via `grad_on`); `real_in`, `fake_in` are what D judged;
    `generated` is G's output still attached to G, which the G step reuses when n_critic = 1;
    `step` is the 0-based generator step, which drives the schedules of scheduled penalties.
    """

    real: torch.Tensor
    fake: torch.Tensor
    real_in: torch.Tensor
    fake_in: torch.Tensor
    real_logits: torch.Tensor
    fake_logits: torch.Tensor
    generated: torch.Tensor
    step: int = 0


class Regulariser:
    """Base: every hook is a no-op; a subclass overrides the ones it needs and registers itself."""

    name: ClassVar[str] = ""
    per_sample_d: ClassVar[bool] = False
    grad_on: ClassVar[tuple[str, ...]] = ()
    replaces_g_loss: ClassVar[bool] = False
    refused_with: ClassVar[tuple[str, ...]] = ()
    every: int = 1

    @classmethod
    def from_config(cls, cfg: TrainConfig, loss: GANLoss) -> Regulariser | None:
        """The regulariser `cfg` asks for, or None when it is off."""
        return None

    def d_penalty(self, D: nn.Module, seen: DBatch) -> torch.Tensor | None:
        """A scalar added to D's loss (before the lazy scaling), or None."""
        return None

    def after_d_step(self, D: nn.Module) -> None:
        """Runs after each D optimiser step."""

    def g_loss(self, g: GBatch) -> torch.Tensor | None:
        """G's loss in place of the adversarial one (only called when `replaces_g_loss`)."""
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r})"


def gradient_penalty(
    D: nn.Module, real: torch.Tensor, fake: torch.Tensor, weight: float = 10.0
) -> torch.Tensor:
    """WGAN-GP penalty: weight * E[(||grad_x D(x_hat)||_2 - 1)^2] on x_hat = a*real + (1-a)*fake.

    a ~ U[0, 1] per sample. The graph is kept (create_graph=True) so the penalty trains D.
    real, fake: (N, ...) batches of the same shape. Returns a scalar tensor.
    """
    alpha = torch.rand((real.shape[0],) + (1,) * (real.dim() - 1), device=real.device, dtype=real.dtype)
    x_hat = (alpha * real.detach() + (1 - alpha) * fake.detach()).requires_grad_(True)
    (grad,) = torch.autograd.grad(D(x_hat).sum(), x_hat, create_graph=True)
    # The eps keeps the backward pass of sqrt finite when a gradient is exactly zero.
    norm = (grad.float().flatten(1).pow(2).sum(1) + 1e-12).sqrt()
    return weight * ((norm - 1.0) ** 2).mean()


def zero_centred_penalty(logits: torch.Tensor, x: torch.Tensor, gamma: float) -> torch.Tensor:
    """gamma/2 * E[||grad_x D(x)||^2]; `x` must require grad *before* computing `logits = D(x)`.

    The squared norms are summed in float32 whatever the autocast precision of D."""
    if not x.requires_grad:
        raise ValueError("zero-centred penalty: call x.requires_grad_(True) before logits = D(x)")
    (grad,) = torch.autograd.grad(logits.sum(), x, create_graph=True)
    return 0.5 * gamma * grad.float().flatten(1).pow(2).sum(1).mean()


def r1_penalty(real_logits: torch.Tensor, real: torch.Tensor, gamma: float) -> torch.Tensor:
    """R1 penalty (Mescheder et al. 2018): gamma/2 * E[||grad_x D(x)||^2] on real samples.

    `real` must require grad *before* computing `real_logits = D(real)`. Returns a scalar tensor.
    """
    return zero_centred_penalty(real_logits, real, gamma)


class GradientPenalty(Regulariser):
    """WGAN-GP (Gulrajani et al. 2017, Algorithm 1): weight * E[(||grad D(x_hat)||_2 - 1)^2],
    x_hat on random lines between real and fake samples. Part of the `wgan-gp` loss."""

    name = "gradient-penalty"
    per_sample_d = True

    def __init__(self, weight: float = 10.0) -> None:
        self.weight = float(weight)

    def d_penalty(self, D: nn.Module, seen: DBatch) -> torch.Tensor:
        return gradient_penalty(D, seen.real_in, seen.fake_in, self.weight)


class ZeroCentredPenalty(Regulariser):
    """Base of R1 and R2: gamma_t/2 * E[||grad_x D(x)||^2] on one side of the batch.

    gamma_t = gamma * schedule_factor(schedule, step, total) (schedule.py: constant, or cosine decay
    to a tenth over the run as R3GAN's presets). With `every = k > 1` it is computed on every k-th
    step only and scaled by k (lazy regularisation, StyleGAN2 sec. 3.1). Taken w.r.t. D's input
    before DiffAugment.
    """

    per_sample_d = True
    side: ClassVar[str] = ""  # "real" or "fake"
    gamma_field: ClassVar[str] = ""  # the TrainConfig field that switches it on

    def __init__(self, gamma: float, every: int = 1, schedule: str = "constant", total: int = 1) -> None:
        self.gamma, self.every, self.schedule, self.total = float(gamma), int(every), schedule, int(total)

    @classmethod
    def from_config(cls, cfg: TrainConfig, loss: GANLoss) -> ZeroCentredPenalty | None:
        gamma = getattr(cfg, cls.gamma_field)
        return cls(gamma, cfg.reg_every, cfg.gamma_schedule, cfg.steps) if gamma > 0 else None

    def gamma_at(self, step: int) -> float:
        """The penalty weight at generator step `step` (0-based), before the lazy scaling."""
        return self.gamma * schedule_factor(self.schedule, step, self.total)

    def d_penalty(self, D: nn.Module, seen: DBatch) -> torch.Tensor:
        if self.side == "real":
            return zero_centred_penalty(seen.real_logits, seen.real, self.gamma_at(seen.step))
        return zero_centred_penalty(seen.fake_logits, seen.fake, self.gamma_at(seen.step))


class R1Penalty(ZeroCentredPenalty):
    """R1 (Mescheder, Geiger & Nowozin 2018, eq. 9): gamma/2 * E_x[||grad_x D(x)||^2] on reals.

    Zero-centred: pushes D to be flat on the data, which makes the game converge locally. On with
    `r1_gamma > 0`; refused with `wgan`, whose weight clipping already bounds D.
    """

    name = "r1"
    grad_on = ("real",)
    refused_with = ("wgan",)
    side, gamma_field = "real", "r1_gamma"


class R2Penalty(ZeroCentredPenalty):
    """R2 (Mescheder, Geiger & Nowozin 2018, eq. 10): gamma/2 * E_z[||grad D(G(z))||^2] on fakes.

    R1's twin on the generated samples; with R1 and the `rpgan` loss it is R3GAN's objective
    (Huang et al. 2024, eq. 5), which converges locally without the old tricks. On with
    `r2_gamma > 0`; refused with the Wasserstein losses, whose critic is held Lipschitz by clipping
    (wgan) or by a penalty centred at norm 1 on interpolates (wgan-gp) that a zero-centred penalty on
    the fakes contradicts.
    """

    name = "r2"
    grad_on = ("fake",)
    refused_with = ("wgan", "wgan-gp")
    side, gamma_field = "fake", "r2_gamma"


class WeightClip(Regulariser):
    """WGAN's Lipschitz constraint (Arjovsky, Chintala & Bottou 2017, Algorithm 1): after every D
    step, clamp each of D's parameters to [-clip, clip]. Part of the `wgan` loss."""

    name = "weight-clip"

    def __init__(self, clip: float = 0.01) -> None:
        self.clip = float(clip)

    @torch.no_grad()
    def after_d_step(self, D: nn.Module) -> None:
        for p in D.parameters():
            p.clamp_(-self.clip, self.clip)
