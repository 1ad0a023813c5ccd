"""The training objective: built from the config, it owns D's and G's updates and every regulariser."""

from __future__ import annotations

import copy
import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from latentkit.errors import LatentkitError
from latentkit.models import DCGANConfig, MLPConfig, ModelConfig, build_discriminator
from latentkit.train import objective as objective_module
from latentkit.train.config import TrainConfig
from latentkit.train.loop import train
from latentkit.train.losses import get_loss
from latentkit.train.monitor import read_log
from latentkit.train.objective import Nets, Objective, build_objective, optimiser_settings
from latentkit.train.regularisers import (
    DBatch,
    GradientPenalty,
    R1Penalty,
    R2Penalty,
    Regulariser,
    WeightClip,
)
from latentkit.train.remedies import FeatureMatching, UnrolledD, feature_matching_loss, unrolled_parameters
from latentkit.train.schedule import schedule_factor

MLP = MLPConfig(d_norm="none", g_norm="none", data_dim=2, latent_dim=2, hidden=8, depth=2)


def names(cfg: TrainConfig, mcfg: ModelConfig = MLP) -> list[str]:
    return [r.name for r in build_objective(cfg, mcfg).regularisers]


# ---- built from the config ------------------------------------------------------------------------


def test_the_registry_builds_the_regularisers_the_config_asks_for():
    assert names(TrainConfig()) == []
    assert names(TrainConfig(loss="wgan")) == ["weight-clip"]
    assert names(TrainConfig(loss="wgan-gp", r1_gamma=1.0)) == ["gradient-penalty", "r1"]
    assert names(TrainConfig(feature_matching=True)) == ["feature-matching"]
    (unrolled,) = build_objective(TrainConfig(unrolled_steps=3), MLP).regularisers
    assert isinstance(unrolled, UnrolledD) and unrolled.steps == 3
    (r1,) = build_objective(TrainConfig(r1_gamma=2.5), MLP).regularisers
    assert isinstance(r1, R1Penalty) and (r1.gamma, r1.every) == (2.5, 1)


def test_r2_lazy_interval_and_gamma_schedule_come_from_the_config():
    cfg = TrainConfig(
        loss="rpgan", r1_gamma=0.5, r2_gamma=0.25, reg_every=4, gamma_schedule="cosine", steps=9
    )
    r1, r2 = build_objective(cfg, MLP).regularisers
    assert (r1.name, r1.gamma, r1.every, r1.schedule, r1.total) == ("r1", 0.5, 4, "cosine", 9)
    assert (r2.name, r2.gamma, r2.every, r2.schedule, r2.total) == ("r2", 0.25, 4, "cosine", 9)
    assert r2.gamma_at(0) == pytest.approx(0.25) and r2.gamma_at(8) == pytest.approx(0.025)


@pytest.mark.parametrize(
    ("loss", "field"), [("wgan", "r2_gamma"), ("wgan-gp", "r2_gamma"), ("wgan", "r1_gamma")]
)
def test_zero_centred_penalties_are_refused_with_a_wasserstein_critic(loss, field):
    with pytest.raises(LatentkitError, match=rf"makes no sense with loss={loss}.*set {field} to 0"):
        build_objective(TrainConfig(loss=loss, **{field: 1.0}), MLP)


def test_loss_options_and_optimiser_defaults_come_from_the_config():
    assert build_objective(TrainConfig(real_label=0.9), MLP).loss.real_label == 0.9
    assert build_objective(TrainConfig(loss="minimax", real_label=0.8), MLP).loss.real_label == 0.8
    assert build_objective(TrainConfig(loss="wgan-gp"), MLP).n_critic == 5
    assert build_objective(TrainConfig(loss="wgan-gp", n_critic=2), MLP).n_critic == 2
    gp = build_objective(TrainConfig(loss="wgan-gp", lr_d=3e-4), MLP).optim
    assert gp == {"lr_g": 1e-4, "lr_d": 3e-4, "betas": (0.0, 0.9), "n_critic": 5}
    assert optimiser_settings(TrainConfig(beta1=0.0), get_loss("ns"))["betas"] == (0.0, 0.999)


def test_diffaugment_applies_to_image_models_only():
    cfg = TrainConfig(diffaugment="color,translation")
    assert build_objective(cfg, DCGANConfig()).policy == ("color", "translation")
    assert build_objective(cfg, MLP).policy == ()


def test_batch_norm_in_d_is_refused_for_every_per_sample_regulariser():
    bn = DCGANConfig(d_norm="batch")
    with pytest.raises(
        LatentkitError, match=r"d_norm=batch is invalid with a gradient penalty \(gradient-penalty\)"
    ):
        build_objective(TrainConfig(loss="wgan-gp"), bn)
    with pytest.raises(LatentkitError, match=r"\(r1\).*--d-norm layer, instance, spectral or none"):
        build_objective(TrainConfig(r1_gamma=10.0), bn)
    build_objective(TrainConfig(loss="wgan"), bn)  # weight clipping and feature matching are batch-level
    build_objective(TrainConfig(feature_matching=True), bn)
    build_objective(TrainConfig(loss="wgan-gp", r1_gamma=1.0), DCGANConfig(d_norm="layer"))


def test_the_refusal_is_derived_from_what_a_regulariser_declares(monkeypatch):
    class PerSample(Regulariser):
        name = "per-sample"
        per_sample_d = True

        @classmethod
        def from_config(cls, cfg, loss):
            return cls()

    monkeypatch.setitem(objective_module.REGULARISERS, "per-sample", PerSample)
    assert names(TrainConfig()) == ["per-sample"]
    with pytest.raises(LatentkitError, match=r"\(per-sample\)"):
        build_objective(TrainConfig(), DCGANConfig(d_norm="batch"))


def test_two_replacements_of_gs_loss_are_a_conflict_not_a_silent_choice():
    with pytest.raises(LatentkitError, match="feature-matching and unrolled both replace G's loss"):
        build_objective(TrainConfig(feature_matching=True, unrolled_steps=2), MLP)


# ---- each regulariser on a tiny exact case ----------------------------------------------------------


def linear_critic(weight: list[float]) -> nn.Module:
    """D(x) = w . x, logits (N,): its input-gradient is w everywhere."""
    lin = nn.Linear(len(weight), 1, bias=False)
    with torch.no_grad():
        lin.weight.copy_(torch.tensor([weight]))
    return nn.Sequential(lin, nn.Flatten(0))


def seen_by(D: nn.Module, real: torch.Tensor, fake: torch.Tensor) -> DBatch:
    return DBatch(real, fake, real, fake, D(real), D(fake), fake)


def test_gradient_penalty_is_weight_times_squared_norm_excess():
    D = linear_critic([1.8, 2.4])  # ||w|| = 3 -> 10 * (3 - 1)^2
    seen = seen_by(D, torch.randn(8, 2), torch.randn(8, 2))
    assert GradientPenalty(10.0).d_penalty(D, seen).item() == pytest.approx(40.0, rel=1e-5)


def test_r1_and_r2_are_half_gamma_times_the_squared_gradient_on_reals_and_on_fakes():
    D = linear_critic([1.0, -1.0, 1.0, 1.0])  # ||w||^2 = 4
    real, fake = torch.randn(5, 4, requires_grad=True), torch.randn(5, 4, requires_grad=True)
    seen = seen_by(D, real, fake)
    assert R1Penalty(10.0).d_penalty(D, seen).item() == pytest.approx(20.0, rel=1e-5)
    assert R2Penalty(3.0).d_penalty(D, seen).item() == pytest.approx(6.0, rel=1e-5)
    assert (R1Penalty.grad_on, R2Penalty.grad_on) == (("real",), ("fake",))


def test_r2_matches_a_direct_autograd_computation_on_a_nonlinear_critic():
    torch.manual_seed(3)
    D = nn.Sequential(nn.Linear(3, 5), nn.Tanh(), nn.Linear(5, 1), nn.Flatten(0))
    real, fake = torch.randn(4, 3), torch.randn(4, 3, requires_grad=True)
    penalty = R2Penalty(0.7).d_penalty(D, seen_by(D, real, fake))
    direct = 0.0
    for x in fake.detach():  # one sample at a time: ||dD(x)/dx||^2
        x = x.clone().requires_grad_(True)
        (g,) = torch.autograd.grad(D(x[None]).sum(), x)
        direct += g.pow(2).sum().item() / 4
    assert penalty.item() == pytest.approx(0.35 * direct, rel=1e-5)
    assert penalty.requires_grad  # the graph is kept, so the penalty trains D


def test_the_cosine_gamma_schedule_falls_from_one_to_a_tenth_over_the_run():
    assert [schedule_factor("constant", s, 101) for s in (0, 50, 100)] == [1.0, 1.0, 1.0]
    start, middle, end, after = (schedule_factor("cosine", s, 101) for s in (0, 50, 100, 150))
    assert (start, middle, end, after) == (
        pytest.approx(1.0),
        pytest.approx(0.55),
        pytest.approx(0.1),
        pytest.approx(0.1),
    )
    assert schedule_factor("cosine", 25, 101) == pytest.approx(0.1 + 0.9 * (1 + math.cos(math.pi / 4)) / 2)


def test_weight_clip_clamps_every_parameter_of_d():
    D = linear_critic([0.5, -0.003, -2.0])
    WeightClip(0.01).after_d_step(D)
    assert D[0].weight.tolist() == [[pytest.approx(0.01), pytest.approx(-0.003), pytest.approx(-0.01)]]


class FixedBatches:
    """Batches that are always the same tensors (the objective only calls real() and noise())."""

    def __init__(self, real: torch.Tensor, z: torch.Tensor) -> None:
        self._real, self._z = real, z

    def real(self) -> torch.Tensor:
        return self._real.clone()

    def noise(self) -> torch.Tensor:
        return self._z.clone()


def tiny_nets(D: nn.Module, lr: float = 0.1) -> Nets:
    torch.manual_seed(0)
    G = nn.Linear(2, D[0].in_features)
    opt_g = torch.optim.Adam(G.parameters(), lr=lr)
    return Nets(G, D, copy.deepcopy(G), opt_g, torch.optim.Adam(D.parameters(), lr=lr))


def objective(loss: str, regularisers: list[Regulariser], n_critic: int = 1) -> Objective:
    return Objective(get_loss(loss), regularisers, {"n_critic": n_critic})


def test_d_step_adds_r1_to_the_loss_and_lazy_r1_every_k_steps_scaled_by_k():
    real, z = torch.randn(6, 2), torch.randn(6, 2)
    ns = F.binary_cross_entropy_with_logits

    def d_loss(regulariser: Regulariser, step: int) -> tuple[float, float, bool]:
        nets = tiny_nets(linear_critic([1.0, 1.0]))  # ||w||^2 = 2 -> R1 = gamma
        seen, loss = objective("ns", [regulariser]).d_step(nets, FixedBatches(real, z), step)
        plain = ns(seen.real_logits, torch.ones(6)) + F.softplus(seen.fake_logits).mean()
        return loss.item(), plain.item(), seen.real.requires_grad

    loss, plain, tracked = d_loss(R1Penalty(4.0), step=7)
    assert loss == pytest.approx(plain + 4.0, rel=1e-5) and tracked
    loss, plain, tracked = d_loss(R1Penalty(4.0, every=3), step=6)  # 6 % 3 == 0: penalty * 3
    assert loss == pytest.approx(plain + 12.0, rel=1e-5) and tracked
    loss, plain, tracked = d_loss(R1Penalty(4.0, every=3), step=7)  # off, and no input gradients
    assert loss == pytest.approx(plain, rel=1e-6) and not tracked
    # Scheduled: at the last step of a 5-step run, cosine has fallen to a tenth: 0.4 * 3.
    loss, plain, _ = d_loss(R1Penalty(4.0, every=3, schedule="cosine", total=5), step=3)
    assert loss == pytest.approx(plain + 4.0 * schedule_factor("cosine", 3, 5) * 3, rel=1e-5)


def test_lazy_r2_tracks_the_fake_batch_only_on_its_steps_and_scales_by_k():
    real, z = torch.randn(6, 2), torch.randn(6, 2)
    for step, expected, tracked in ((4, 0.5 * 2.0 * 2 * 2, True), (5, 0.0, False)):  # ||w||^2 = 2, k = 2
        nets = tiny_nets(linear_critic([1.0, -1.0]))
        seen, loss = objective("rpgan", [R2Penalty(2.0, every=2)]).d_step(nets, FixedBatches(real, z), step)
        plain = F.softplus(seen.fake_logits - seen.real_logits).mean()
        assert loss.item() == pytest.approx(plain.item() + expected, rel=1e-5)
        assert (seen.fake.requires_grad, seen.real.requires_grad) == (tracked, False)


def test_d_step_trains_only_d_and_clips_after_its_update():
    nets = tiny_nets(linear_critic([0.5, -0.5]))
    g_before = [p.detach().clone() for p in nets.G.parameters()]
    objective("wgan", [WeightClip(0.05)]).d_step(nets, FixedBatches(torch.randn(4, 2), torch.randn(4, 2)), 0)
    assert nets.D[0].weight.abs().max().item() == pytest.approx(0.05)
    assert all(torch.equal(a, b) for a, b in zip(g_before, nets.G.parameters(), strict=True))


def test_the_cosine_lr_schedule_sets_both_learning_rates_at_every_step():
    nets = tiny_nets(linear_critic([1.0, 0.0]))
    obj = Objective(
        get_loss("ns"), [], {"n_critic": 1, "lr_g": 0.2, "lr_d": 0.4}, lr_schedule="cosine", total_steps=11
    )
    for step in (0, 5, 10):
        obj.step(nets, FixedBatches(torch.randn(4, 2), torch.randn(4, 2)), step)
        factor = schedule_factor("cosine", step, 11)
        assert nets.opt_g.param_groups[0]["lr"] == pytest.approx(0.2 * factor)
        assert nets.opt_d.param_groups[0]["lr"] == pytest.approx(0.4 * factor)
    assert build_objective(TrainConfig(lr_schedule="cosine", steps=7), MLP).total_steps == 7


def test_rpgan_g_step_uses_ds_real_logits_and_matches_direct_autograd():
    real, z = torch.randn(6, 3), torch.randn(6, 2)
    nets = tiny_nets(nn.Sequential(nn.Linear(3, 1), nn.Flatten(0)))
    rp = objective("rpgan", [])
    seen, _ = rp.d_step(nets, FixedBatches(real, z), 0)
    G, D = copy.deepcopy(nets.G), copy.deepcopy(nets.D)  # D after its update, G before its own
    direct = F.softplus(D(real) - D(G(z))).mean()
    direct.backward()
    loss_g = rp.g_step(nets, FixedBatches(real, z), seen)
    assert loss_g.item() == pytest.approx(direct.item(), rel=1e-6)
    for mine, theirs in zip(nets.G.parameters(), G.parameters(), strict=True):
        torch.testing.assert_close(mine.grad, theirs.grad)
    assert all(torch.equal(a, b) for a, b in zip(nets.D.parameters(), D.parameters(), strict=True))


def test_g_step_reuses_the_fake_batch_d_saw_with_one_d_step_only():
    calls = {"n": 0}

    class CountingBatches(FixedBatches):
        def noise(self) -> torch.Tensor:
            calls["n"] += 1
            return super().noise()

    for n_critic, expected in ((1, 1), (3, 4)):
        calls["n"] = 0
        nets = tiny_nets(linear_critic([1.0, 0.0]))
        objective("ns", [], n_critic).step(nets, CountingBatches(torch.randn(4, 2), torch.randn(4, 2)), 0)
        assert calls["n"] == expected


def test_simultaneous_updates_take_both_gradients_at_the_step_start():
    """D's update is the sequential one (D steps first there too); G's is the sequential one against a D
    that did not move (lr_d = 0), i.e. against D's weights before its step: one point, both gradients."""
    real, z = torch.randn(6, 2), torch.randn(6, 2)

    def one_step(updates: str, lr_d: float) -> Nets:
        torch.manual_seed(1)
        nets = tiny_nets(nn.Sequential(nn.Linear(2, 3), nn.Tanh(), nn.Linear(3, 1), nn.Flatten(0)))
        nets.opt_d.param_groups[0]["lr"] = lr_d
        obj = Objective(get_loss("ns"), [], {"n_critic": 1}, updates=updates)
        obj.step(nets, FixedBatches(real, z), 0)
        return nets

    sim, seq = one_step("simultaneous", 0.1), one_step("sequential", 0.1)
    frozen_d = one_step("sequential", 0.0)
    for a, b in zip(sim.D.parameters(), seq.D.parameters(), strict=True):
        torch.testing.assert_close(a, b)
    for a, b, c in zip(sim.G.parameters(), frozen_d.G.parameters(), seq.G.parameters(), strict=True):
        torch.testing.assert_close(a, b)
        assert not torch.allclose(a, c)  # sequential G saw the stepped D
    with pytest.raises(LatentkitError, match="one D step per G step"):
        Objective(get_loss("wgan-gp"), [], {"n_critic": 5}, updates="simultaneous")
    with pytest.raises(LatentkitError, match="updates='alternate' is not one of"):
        TrainConfig(updates="alternate").validate()


def test_g_per_slot_makes_each_pack_slot_in_its_own_batch_norm_batch():
    torch.manual_seed(0)
    G = nn.Sequential(nn.Linear(2, 5), nn.BatchNorm1d(5), nn.Linear(5, 2)).train()
    z = torch.randn(12, 2)
    x = objective_module.per_slot(G, z, 3)
    for j in range(3):  # slot j = samples j, j + 3, ...: what `pack` puts in position j of each example
        torch.testing.assert_close(x[j::3], G(z[j::3]))
    assert not torch.allclose(x, G(z))  # one batch of 12 normalises with other statistics
    cfg = TrainConfig(dataset="grid", model={"pack": 3}, batch_size=12, g_per_slot=True).validate()
    assert build_objective(cfg, MLPConfig(data_dim=2, pack=3)).slots == 3
    assert build_objective(TrainConfig(dataset="grid"), MLPConfig(data_dim=2, pack=3)).slots == 1
    with pytest.raises(LatentkitError, match="g_per_slot needs a packed D"):
        TrainConfig(g_per_slot=True).validate()


def test_feature_matching_and_unrolled_replace_gs_loss_with_their_own():
    real, z = torch.randn(8, 2), torch.randn(8, 2)
    for reg in (FeatureMatching(), UnrolledD(2)):
        torch.manual_seed(1)
        G, D = nn.Linear(2, 2), build_discriminator(MLP)
        opt_g = torch.optim.SGD(G.parameters(), lr=0.0)  # G stays put, so its loss can be recomputed
        nets = Nets(G, D, copy.deepcopy(G), opt_g, torch.optim.Adam(D.parameters(), lr=0.1))
        obj = objective("ns", [reg])
        seen, _ = obj.d_step(nets, FixedBatches(real, z), 0)
        loss_g = obj.g_step(nets, FixedBatches(real, z), seen)
        fake = nets.G(z)
        if isinstance(reg, FeatureMatching):
            expected = feature_matching_loss(D, real, fake)
        else:
            params = unrolled_parameters(D, obj.loss, nets.opt_d, [real, real], fake)
            expected = obj.loss.g_loss(torch.func.functional_call(D, params, (fake,)))
        assert loss_g.item() == pytest.approx(expected.item(), rel=1e-5)


def test_a_new_loss_trains_through_the_unchanged_loop(tmp_path):
    model = {"latent_dim": 4, "hidden": 16, "depth": 2, "g_norm": "none", "d_norm": "none"}
    ring = {"dataset": "ring", "data_n": 256, "batch_size": 16, "steps": 6, "log_every": 2}
    cfg = TrainConfig.from_dict({**ring, "loss": "rpgan", "r1_gamma": 1.0, "model": model})
    rows = read_log(train(cfg, tmp_path / "run", progress=False))
    assert [r["step"] for r in rows] == [2, 4, 6]
    assert all(math.isfinite(r["loss_d"]) and math.isfinite(r["loss_g"]) for r in rows)
