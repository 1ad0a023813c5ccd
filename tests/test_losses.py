"""GAN losses, penalties and the discriminator-based diagnostics."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from latentkit.errors import LatentkitError
from latentkit.train.losses import LOSSES, d_outputs, get_loss, js_estimate
from latentkit.train.regularisers import GradientPenalty, WeightClip, gradient_penalty, r1_penalty

LOG2 = math.log(2.0)


def t(*values: float) -> torch.Tensor:
    return torch.tensor(values, dtype=torch.float32)


def approx(x: torch.Tensor | float, expected: float, tol: float = 1e-5) -> bool:
    return abs(float(x.detach() if isinstance(x, torch.Tensor) else x) - expected) < tol


# ---- values on hand-computed cases ---------------------------------------------------------------


def test_ns_at_zero_logits_is_2_log_2_for_d_and_log_2_for_g():
    loss = get_loss("ns")
    assert approx(loss.d_loss(t(0, 0), t(0, 0)), 2 * LOG2)
    assert approx(loss.g_loss(t(0, 0)), LOG2)


def test_minimax_g_loss_is_log_one_minus_d():
    loss = get_loss("minimax")
    assert approx(loss.g_loss(t(0, 0)), -LOG2)
    # D(G(z)) = 0.75 -> log(0.25)
    assert approx(loss.g_loss(t(math.log(3))), math.log(0.25))
    assert approx(loss.d_loss(t(0), t(0)), 2 * LOG2)


def test_one_sided_label_smoothing_penalises_confident_real_logits():
    real, fake = t(10.0), t(-10.0)
    assert get_loss("ns").d_loss(real, fake) < 1e-3
    # BCE(x=10, target=0.9) = softplus(10) - 0.9 * 10 ~ 1.0000454; the fake term is unchanged.
    smoothed = get_loss("ns", real_label=0.9).d_loss(real, fake)
    assert approx(smoothed, math.log1p(math.exp(10)) - 9 + math.log1p(math.exp(-10)))


def test_wgan_is_the_mean_difference():
    loss = get_loss("wgan")
    assert approx(loss.d_loss(t(1, 3), t(-1, 0)), -0.5 - 2.0)
    assert approx(loss.g_loss(t(-1, 0)), 0.5)
    assert approx(get_loss("wgan-gp").d_loss(t(1, 3), t(-1, 0)), -2.5)


def test_hinge_only_counts_logits_inside_the_margin():
    loss = get_loss("hinge")
    # real: relu(1 - 0.5) = 0.5, relu(1 - 2) = 0 -> 0.25; fake: relu(1 - 2) = 0, relu(1 + 0) = 1 -> 0.5
    assert approx(loss.d_loss(t(0.5, 2), t(-2, 0)), 0.75)
    assert approx(loss.g_loss(t(-2, 0)), 1.0)


def test_lsgan_targets_b_for_real_a_for_fake_c_for_g():
    loss = get_loss("lsgan")
    assert approx(loss.d_loss(t(1, 1), t(0, 0)), 0.0)
    assert approx(loss.d_loss(t(0), t(1)), 1.0)
    assert approx(loss.g_loss(t(0)), 0.5)
    assert approx(get_loss("lsgan", a=-1, b=1, c=0).g_loss(t(0)), 0.0)


def test_rpgan_scores_each_real_fake_pair_by_its_logit_gap():
    loss = get_loss("rpgan")
    # D: softplus(f - r) per pair: softplus(0) = log 2 and softplus(-log 3) = log(4/3)
    assert approx(loss.d_loss(t(0, math.log(3)), t(0, 0)), (LOG2 + math.log(4 / 3)) / 2)
    # G: softplus(r - f): the same gaps the other way round
    assert approx(loss.g_loss(t(0, 0), t(0, math.log(3))), (LOG2 + math.log(4)) / 2)
    assert loss.g_needs_real and not get_loss("ns").g_needs_real


def g_loss(name: str, fake: torch.Tensor) -> torch.Tensor:
    """G's loss on `fake` logits (against zero real logits for the losses that pair them)."""
    loss = get_loss(name)
    return loss.g_loss(fake, torch.zeros_like(fake)) if loss.g_needs_real else loss.g_loss(fake)


# ---- gradient signs ------------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(LOSSES))
def test_g_loss_decreases_when_fake_logits_rise(name):
    fake = t(-1.0, 0.0, 0.5).requires_grad_(True)
    loss = g_loss(name, fake)
    assert loss.dim() == 0
    loss.backward()
    assert (fake.grad < 0).all()


@pytest.mark.parametrize("name", list(LOSSES))
def test_d_loss_rewards_high_real_and_low_fake_logits(name):
    real = t(-0.5, 0.5).requires_grad_(True)
    fake = t(0.25, 0.5).requires_grad_(True)
    loss = get_loss(name).d_loss(real, fake)
    assert loss.dim() == 0
    loss.backward()
    assert (real.grad < 0).all() and (fake.grad > 0).all()


# ---- registry and attributes ---------------------------------------------------------------------


def test_get_loss_unknown_name_lists_the_valid_ones():
    with pytest.raises(LatentkitError, match="ns, minimax, wgan, wgan-gp, hinge, lsgan"):
        get_loss("relativistic")


def test_get_loss_unknown_option_is_named():
    with pytest.raises(LatentkitError, match="'real_label'"):
        get_loss("hinge", real_label=0.9)


def test_paper_defaults_for_the_wasserstein_losses():
    wgan, gp, ns = get_loss("wgan"), get_loss("wgan-gp"), get_loss("ns")
    (clip,) = wgan.regularisers()
    assert isinstance(clip, WeightClip) and (clip.clip, wgan.default_optim["n_critic"]) == (0.01, 5)
    assert wgan.default_optim["lr_d"] == 5e-5 and wgan.default_optim["betas"][0] == 0.0
    (penalty,) = gp.regularisers()  # a gradient penalty and no weight clipping
    assert isinstance(penalty, GradientPenalty) and (penalty.weight, gp.gp_weight) == (10.0, 10.0)
    assert gp.default_optim == {"lr_g": 1e-4, "lr_d": 1e-4, "betas": (0.0, 0.9), "n_critic": 5}
    assert ns.regularisers() == []
    assert ns.default_optim == {"lr_g": 2e-4, "lr_d": 2e-4, "betas": (0.5, 0.999), "n_critic": 1}


# ---- penalties -----------------------------------------------------------------------------------


def linear_critic(weight: list[float]) -> nn.Module:
    """D(x) = w . flatten(x): its input-gradient is w everywhere."""
    lin = nn.Linear(len(weight), 1, bias=False)
    with torch.no_grad():
        lin.weight.copy_(torch.tensor([weight]))
    return nn.Sequential(nn.Flatten(), lin)


def test_gradient_penalty_is_zero_for_a_unit_norm_linear_critic():
    torch.manual_seed(0)
    D = linear_critic([0.6, 0.0, 0.0, 0.8])
    real, fake = torch.randn(8, 1, 2, 2), torch.randn(8, 1, 2, 2)
    assert gradient_penalty(D, real, fake).item() < 1e-8


def test_gradient_penalty_is_weight_times_squared_norm_excess_and_trains_d():
    D = linear_critic([1.8, 0.0, 0.0, 2.4])  # ||w|| = 3 -> (3 - 1)^2 = 4
    real, fake = torch.randn(8, 1, 2, 2), torch.randn(8, 1, 2, 2, requires_grad=True)
    penalty = gradient_penalty(D, real, fake, weight=10.0)
    assert approx(penalty, 40.0, tol=1e-3)
    penalty.backward()
    lin = D[1]
    # d/dw 10 (||w|| - 1)^2 = 20 (||w|| - 1) w / ||w||: shrinks w towards unit norm.
    torch.testing.assert_close(lin.weight.grad, 20 * 2 * lin.weight.detach() / 3)
    assert fake.grad is None  # the penalty is D's business only


def test_r1_penalty_is_half_gamma_times_squared_gradient_norm():
    D = linear_critic([1.0, -1.0, 1.0, 1.0])  # ||w||^2 = 4
    real = torch.randn(5, 4, requires_grad=True)
    assert approx(r1_penalty(D(real), real, gamma=10.0), 20.0, tol=1e-4)


def test_r1_penalty_requires_real_to_track_gradients():
    D = linear_critic([1.0, 0.0])
    real = torch.randn(3, 2)
    with pytest.raises(ValueError, match="requires_grad_"):
        r1_penalty(D(real), real, gamma=1.0)


# ---- diagnostics ---------------------------------------------------------------------------------


def test_js_estimate_is_zero_for_a_clueless_d_and_log2_for_a_perfect_d():
    assert js_estimate(t(0, 0), t(0, 0)) == pytest.approx(0.0, abs=1e-7)
    assert js_estimate(t(30, 30), t(-30, -30)) == pytest.approx(LOG2, abs=1e-6)


def test_js_estimate_hand_case_and_clamp():
    # D(real) = 0.75, D(fake) = 0.25: V = 2 log 0.75, JS = (V + log 4) / 2 = log 1.5
    assert js_estimate(t(math.log(3)), t(-math.log(3))) == pytest.approx(math.log(1.5), abs=1e-6)
    assert js_estimate(t(-5.0), t(5.0)) == 0.0  # a D worse than chance is clamped, not negative


def test_d_outputs_is_mean_sigmoid():
    assert d_outputs(t(0, 0)) == pytest.approx(0.5)
    assert d_outputs(t(math.log(3))) == pytest.approx(0.75)
    assert d_outputs(t(math.log(3), -math.log(3))) == pytest.approx(0.5)
