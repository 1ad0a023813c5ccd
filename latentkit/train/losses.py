"""GAN losses, one small object per loss, picked by name with `get_loss(name)`.

Every loss takes the discriminator's raw logits (no sigmoid) and returns scalar tensors:

    loss.d_loss(real_logits, fake_logits)   # minimised by D
    loss.g_loss(fake_logits)                # minimised by G; g_loss(fake_logits, real_logits) when
                                            # the loss sets `g_needs_real` (relativistic losses)

What else a loss needs is declared, never asked for by the loop: `regularisers()` gives the
regularisers that are part of its definition (WGAN's weight clipping, WGAN-GP's gradient penalty;
see regularisers.py), `config_options` maps its constructor arguments to TrainConfig fields, and
`default_optim` holds lr_g, lr_d, Adam betas and n_critic (D steps per G step) from each paper.
Below, r and f are the real and fake logits, and D(x) = sigmoid(logit) for the probabilistic losses.
`default_optim` is shared by all instances: copy it (`{**loss.default_optim, ...}`) before changing.
"""

from __future__ import annotations

import inspect
import math
from typing import Any, ClassVar

import torch
import torch.nn.functional as F

from latentkit.errors import LatentkitError
from latentkit.train.regularisers import GradientPenalty, Regulariser, WeightClip

# DCGAN's Adam settings (Radford et al. 2015), the default for the non-Wasserstein losses.
DCGAN_OPTIM: dict[str, Any] = {"lr_g": 2e-4, "lr_d": 2e-4, "betas": (0.5, 0.999), "n_critic": 1}


class GANLoss:
    """Base interface; subclasses set `name` and implement `d_loss` and `g_loss`."""

    name: ClassVar[str] = ""
    g_needs_real: ClassVar[bool] = False
    # sigmoid(D's logit) is a probability that the input is real (the BCE games). For critics
    # (wgan, hinge, lsgan) and the shift-invariant rpgan it is not, and a low D(G(z)) is no warning.
    probabilities: ClassVar[bool] = True
    config_options: ClassVar[dict[str, str]] = {}  # constructor argument -> TrainConfig field
    default_optim: ClassVar[dict[str, Any]] = DCGAN_OPTIM

    def d_loss(self, real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def g_loss(self, fake_logits: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def regularisers(self) -> list[Regulariser]:
        """The regularisers that are part of this loss's definition (none by default)."""
        return []

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r})"


class NonSaturatingLoss(GANLoss):
    """Non-saturating GAN (Goodfellow et al. 2014, sec. 3): G maximises log D(G(z)).

    D: -E[l log D(x) + (1-l) log(1 - D(x))] - E[log(1 - D(G(z)))]   (l = real_label; 1 -> standard)
    G: -E[log D(G(z))] = E[softplus(-f)]
    Strong gradients for G early on, when D easily rejects its samples. real_label=0.9 is one-sided
    label smoothing (Salimans et al. 2016): only the real target is softened.
    """

    name = "ns"
    config_options: ClassVar[dict[str, str]] = {"real_label": "real_label"}

    def __init__(self, real_label: float = 1.0) -> None:
        self.real_label = float(real_label)

    def d_loss(self, real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
        real_target = torch.full_like(real_logits, self.real_label)
        return F.binary_cross_entropy_with_logits(real_logits, real_target) + F.softplus(fake_logits).mean()

    def g_loss(self, fake_logits: torch.Tensor) -> torch.Tensor:
        return F.softplus(-fake_logits).mean()


class MinimaxLoss(NonSaturatingLoss):
    """The original saturating minimax game (Goodfellow et al. 2014, eq. 1).

    D: as the non-saturating loss.   G: E[log(1 - D(G(z)))] = -E[softplus(f)]
    Kept for comparison: its gradient vanishes when D confidently rejects G's samples.
    """

    name = "minimax"

    def g_loss(self, fake_logits: torch.Tensor) -> torch.Tensor:
        return -F.softplus(fake_logits).mean()


class WGANLoss(GANLoss):
    """Wasserstein GAN with weight clipping (Arjovsky, Chintala & Bottou 2017).

    D (critic): E[f] - E[r]   G: -E[f];   critic weights clamped to +-clip after every step.
    The paper uses RMSprop(lr=5e-5) because momentum destabilised training; Adam with beta1=0 has no
    momentum and with beta2=0.99 matches RMSprop's decay (PyTorch default alpha), so one optimiser
    serves every loss.
    """

    name = "wgan"
    probabilities = False
    default_optim: ClassVar[dict[str, Any]] = {
        "lr_g": 5e-5,
        "lr_d": 5e-5,
        "betas": (0.0, 0.99),
        "n_critic": 5,
    }

    def __init__(self, clip: float = 0.01) -> None:
        self.clip = float(clip)

    def regularisers(self) -> list[Regulariser]:
        return [WeightClip(self.clip)]

    def d_loss(self, real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
        return fake_logits.mean() - real_logits.mean()

    def g_loss(self, fake_logits: torch.Tensor) -> torch.Tensor:
        return -fake_logits.mean()


class WGANGPLoss(WGANLoss):
    """WGAN with gradient penalty (Gulrajani et al. 2017, Algorithm 1).

    D: E[f] - E[r] + gp_weight * E[(||grad_x D(x_hat)||_2 - 1)^2]   (the `GradientPenalty` regulariser)
    G: -E[f].   Paper defaults: lambda=10, Adam(1e-4, betas=(0, 0.9)), n_critic=5. No weight clipping.
    """

    name = "wgan-gp"
    default_optim: ClassVar[dict[str, Any]] = {"lr_g": 1e-4, "lr_d": 1e-4, "betas": (0.0, 0.9), "n_critic": 5}

    def __init__(self, gp_weight: float = 10.0) -> None:
        self.gp_weight = float(gp_weight)

    def regularisers(self) -> list[Regulariser]:
        return [GradientPenalty(self.gp_weight)]


class HingeLoss(GANLoss):
    """Hinge loss (Lim & Ye 2017; used by SN-GAN, Miyato et al. 2018, and BigGAN).

    D: E[relu(1 - r)] + E[relu(1 + f)]   G: -E[f]
    """

    name = "hinge"
    probabilities = False

    def d_loss(self, real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
        return F.relu(1.0 - real_logits).mean() + F.relu(1.0 + fake_logits).mean()

    def g_loss(self, fake_logits: torch.Tensor) -> torch.Tensor:
        return -fake_logits.mean()


class LSGANLoss(GANLoss):
    """Least-squares GAN (Mao et al. 2017, eq. 2) on raw logits, with fake label a, real label b and
    G's target c (a=0, b=1, c=1 by default).

    D: 0.5 E[(r - b)^2] + 0.5 E[(f - a)^2]   G: 0.5 E[(f - c)^2]
    """

    name = "lsgan"
    probabilities = False

    def __init__(self, a: float = 0.0, b: float = 1.0, c: float = 1.0) -> None:
        self.a, self.b, self.c = float(a), float(b), float(c)

    def d_loss(self, real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
        return 0.5 * ((real_logits - self.b) ** 2).mean() + 0.5 * ((fake_logits - self.a) ** 2).mean()

    def g_loss(self, fake_logits: torch.Tensor) -> torch.Tensor:
        return 0.5 * ((fake_logits - self.c) ** 2).mean()


class RpGANLoss(GANLoss):
    """Relativistic pairing GAN (Jolicoeur-Martineau 2019; the loss of R3GAN, Huang et al. 2024).

    D: E[softplus(f - r)]   G: E[softplus(r - f)], pairing the i-th real with the i-th fake logit.
    D judges whether a real sample looks more real than a fake one, so G's loss needs D's logits on
    the real batch too (`g_needs_real`). R3GAN pairs it with R1 and R2 penalties.
    """

    name = "rpgan"
    probabilities = False
    g_needs_real = True

    def d_loss(self, real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
        return F.softplus(fake_logits - real_logits).mean()

    def g_loss(self, fake_logits: torch.Tensor, real_logits: torch.Tensor) -> torch.Tensor:
        return F.softplus(real_logits - fake_logits).mean()


LOSSES: dict[str, type[GANLoss]] = {
    cls.name: cls
    for cls in (NonSaturatingLoss, MinimaxLoss, WGANLoss, WGANGPLoss, HingeLoss, LSGANLoss, RpGANLoss)
}


def get_loss(name: str, **kw: Any) -> GANLoss:
    """The loss called `name` (a key of `LOSSES`: "ns", "minimax", "wgan", ...), built with `kw`."""
    if name not in LOSSES:
        raise LatentkitError(f"loss {name!r} is unknown (valid: {', '.join(LOSSES)})")
    cls = LOSSES[name]
    accepted = inspect.signature(cls).parameters
    for key in kw:
        if key not in accepted:
            valid = ", ".join(accepted) or "none"
            raise LatentkitError(f"loss {name!r} has no option {key!r} (valid: {valid})")
    return cls(**kw)


def js_estimate(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> float:
    """Jensen-Shannon divergence estimate in nats, in [0, log 2], from D's logits.

    With D = sigmoid(logit), V = E log D(x) + E log(1 - D(G(z))). At the optimal D,
    V = -log 4 + 2 JS(p_data || p_g) (Goodfellow et al. 2014, Theorem 1), so JS ~ (V + log 4) / 2.
    For any other D, V is lower, so this is a lower bound: only as good as D.
    """
    with torch.no_grad():
        v = -F.softplus(-real_logits.float()).mean() - F.softplus(fake_logits.float()).mean()
    return min(max((v.item() + math.log(4.0)) / 2.0, 0.0), math.log(2.0))


def d_outputs(logits: torch.Tensor) -> float:
    """Mean of sigmoid(logits): D's average belief that the samples are real."""
    with torch.no_grad():
        return torch.sigmoid(logits.float()).mean().item()
