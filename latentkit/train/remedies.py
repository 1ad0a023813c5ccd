"""Generator-side remedies for mode collapse: feature matching and unrolled discriminators.

- Feature matching (Salimans et al. 2016, sec. 3.1): G matches the mean of D's trunk features on
  real data instead of fooling D's last layer, L_G = || E f(x) - E f(G(z)) ||^2.
- Unrolled GAN (Metz et al. 2017): G is scored by a copy of D that has taken k further Adam steps
  against the current G, and the gradient flows back through those steps (create_graph), so G
  anticipates D's reply instead of chasing it from mode to mode.

Each is a `Regulariser` (regularisers.py) that `replaces_g_loss` with its own, so at most one of them
can be on.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import torch
from torch import nn
from torch.func import functional_call

from latentkit.train.regularisers import Regulariser

if TYPE_CHECKING:  # types only: the objective imports this module
    from latentkit.train.config import TrainConfig
    from latentkit.train.losses import GANLoss
    from latentkit.train.objective import GBatch


def feature_matching_loss(D: nn.Module, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    """|| mean_batch f(real) - mean_batch f(fake) ||^2 over D's trunk features f; scalar."""
    return (D.features(real).detach().float().mean(0) - D.features(fake).float().mean(0)).pow(2).sum()


def unrolled_parameters(
    D: nn.Module,
    loss: GANLoss,
    opt_d: torch.optim.Adam,
    reals: Sequence[torch.Tensor],
    fake: torch.Tensor,
) -> dict[str, torch.Tensor]:
    """D's parameters after len(reals) differentiable Adam steps on loss.d_loss against `fake`.

    Uses opt_d's learning rate, betas and current moment estimates as the starting point. The
    returned tensors depend on `fake` (and so on G) through every step; evaluate D with them via
    `torch.func.functional_call(D, params, (x,))`.
    """
    group = opt_d.param_groups[0]
    lr, (b1, b2), eps = group["lr"], group["betas"], group["eps"]
    names = [n for n, _ in D.named_parameters()]
    params = {n: p.detach().requires_grad_(True) for n, p in D.named_parameters()}
    state = [opt_d.state.get(p, {}) for p in D.parameters()]
    m = [s.get("exp_avg", torch.zeros_like(p)) for s, p in zip(state, params.values(), strict=True)]
    v = [s.get("exp_avg_sq", torch.zeros_like(p)) for s, p in zip(state, params.values(), strict=True)]
    t = int(state[0].get("step", 0)) if state[0] else 0
    for real in reals:
        t += 1
        d_loss = loss.d_loss(functional_call(D, params, (real,)), functional_call(D, params, (fake,)))
        grads = torch.autograd.grad(d_loss, list(params.values()), create_graph=True)
        new = {}
        for i, (name, g) in enumerate(zip(names, grads, strict=True)):
            m[i] = b1 * m[i] + (1 - b1) * g
            v[i] = b2 * v[i] + (1 - b2) * g * g
            m_hat, v_hat = m[i] / (1 - b1**t), v[i] / (1 - b2**t)
            # clamp: sqrt's derivative is infinite at 0, and a parameter whose gradient is exactly 0 so
            # far (a dead unit, a maxout piece never chosen) would turn G's gradient into inf * 0 = nan.
            new[name] = params[name] - lr * m_hat / (v_hat.clamp_min(1e-30).sqrt() + eps)
        params = new
    return params


class FeatureMatching(Regulariser):
    """Feature matching (Salimans et al. 2016, sec. 3.1): L_G = || E f(x) - E f(G(z)) ||^2 over D's
    trunk features f, on the real batch D last saw. On with `feature_matching`."""

    name = "feature-matching"
    replaces_g_loss = True

    @classmethod
    def from_config(cls, cfg: TrainConfig, loss: GANLoss) -> FeatureMatching | None:
        return cls() if cfg.feature_matching else None

    def g_loss(self, g: GBatch) -> torch.Tensor:
        return feature_matching_loss(g.D, g.real_in, g.fake_in)


class UnrolledD(Regulariser):
    """Unrolled GAN (Metz et al. 2017): L_G is the loss's G term under D after k differentiable Adam
    steps on k fresh real batches. On with `unrolled_steps = k > 0`."""

    name = "unrolled"
    replaces_g_loss = True

    def __init__(self, steps: int) -> None:
        self.steps = int(steps)

    @classmethod
    def from_config(cls, cfg: TrainConfig, loss: GANLoss) -> UnrolledD | None:
        return cls(cfg.unrolled_steps) if cfg.unrolled_steps else None

    def g_loss(self, g: GBatch) -> torch.Tensor:
        reals = [g.draw_real() for _ in range(self.steps)]
        params = unrolled_parameters(g.D, g.loss, g.opt_d, reals, g.fake_in)
        return g.adversarial(lambda x: functional_call(g.D, params, (x,)))
