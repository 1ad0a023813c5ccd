"""Mode-collapse remedies: each layer does its maths, and each trains without breaking."""

import math

import pytest
import torch

from latentkit.models import MLPConfig, build_discriminator, build_generator
from latentkit.models.minibatch import MinibatchDiscrimination, MinibatchStdDev, pack
from latentkit.train.augment import diff_augment, parse_policy
from latentkit.train.config import TrainConfig
from latentkit.train.loop import train
from latentkit.train.losses import get_loss
from latentkit.train.monitor import read_log
from latentkit.train.remedies import feature_matching_loss, unrolled_parameters


def test_pack_puts_consecutive_samples_side_by_side():
    x = torch.arange(8.0).view(4, 2)
    assert torch.equal(pack(x, 2), torch.tensor([[0.0, 1, 2, 3], [4, 5, 6, 7]]))
    with pytest.raises(ValueError, match="pack=3"):
        pack(x, 3)


def test_minibatch_stddev_appends_the_batch_spread():
    h = torch.tensor([[1.0, 2.0], [3.0, 6.0]])  # per-feature std (population): 1 and 2 -> mean 1.5
    out = MinibatchStdDev()(h)
    assert out.shape == (2, 3) and torch.allclose(out[:, 2], torch.tensor([1.5, 1.5]), atol=1e-4)
    same = MinibatchStdDev()(torch.ones(4, 3, 2, 2))
    assert same.shape == (4, 4, 2, 2) and same[:, 3].abs().max() < 1e-3


def test_minibatch_discrimination_is_highest_for_identical_samples():
    layer = MinibatchDiscrimination(4, kernels=3, kernel_dim=2)
    identical = layer(torch.ones(5, 4))[:, 4:]
    spread = layer(torch.randn(5, 4) * 10)[:, 4:]
    assert torch.allclose(identical, torch.full((5, 3), 4.0))  # sum over 4 others of exp(0)
    assert (spread < identical).all()


def test_diffaugment_keeps_shape_and_passes_gradients():
    x = torch.rand(4, 3, 16, 16, requires_grad=True)
    y = diff_augment(x, parse_policy("color,translation,cutout"))
    assert y.shape == x.shape
    y.sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="blur"):
        parse_policy("color,blur")


def test_cutout_zeroes_a_quarter_of_the_image():
    y = diff_augment(torch.ones(64, 1, 16, 16), ("cutout",))
    zero_share = (y == 0).float().mean().item()
    assert 0.15 < zero_share <= 0.25  # an 8x8 square, clipped at the borders


def test_feature_matching_is_zero_for_the_same_batch():
    D = build_discriminator(MLPConfig(d_norm="none", hidden=16, depth=2))
    x = torch.randn(32, 2)
    assert feature_matching_loss(D, x, x).item() == pytest.approx(0.0, abs=1e-10)
    assert feature_matching_loss(D, x, x + 3).item() > 0


def test_unrolled_parameters_move_d_and_carry_gradient_to_g():
    cfg = MLPConfig(d_norm="none", g_norm="none", hidden=16, depth=2, latent_dim=4)
    G, D = build_generator(cfg), build_discriminator(cfg)
    opt_d = torch.optim.Adam(D.parameters(), lr=1e-2, betas=(0.5, 0.999))
    fake = G(torch.randn(16, 4))
    params = unrolled_parameters(D, get_loss("ns"), opt_d, [torch.randn(16, 2)] * 3, fake)
    before = dict(D.named_parameters())
    assert any(not torch.allclose(params[n], before[n]) for n in params)
    loss = torch.func.functional_call(D, params, (fake,)).mean()
    loss.backward()
    assert all(p.grad is not None for p in G.parameters())


RING = {"dataset": "ring", "data_n": 2048, "batch_size": 64, "log_every": 5, "sample_every": 100,
        "checkpoint_every": 100, "ema": 0.0}  # fmt: skip


@pytest.mark.parametrize(
    "options",
    [
        {"real_label": 0.9},
        {"feature_matching": True},
        {"unrolled_steps": 3},
        {"model": {"minibatch": "discrimination"}},
        {"model": {"minibatch": "stddev"}},
        {"model": {"pack": 4}},
        {"model": {"d_norm": "spectral"}},
    ],
    ids=["label-smoothing", "feature-matching", "unrolled", "mb-discrimination", "mb-stddev", "pacgan4",
         "spectral"],
)  # fmt: skip
def test_each_remedy_trains_on_the_ring(options, tmp_path):
    model = {"latent_dim": 4, "hidden": 32, "depth": 2, "g_norm": "none", "d_norm": "none"}
    model.update(options.pop("model", {}))
    cfg = TrainConfig.from_dict({**RING, **options, "steps": 20, "model": model})
    run = train(cfg, tmp_path / "run", progress=False)
    rows = read_log(run)
    assert rows[-1]["step"] == 20 and all(math.isfinite(r["loss_g"]) for r in rows)


@pytest.mark.parametrize(
    "options",
    [{"diffaugment": "color,translation,cutout"}, {"model": {"minibatch": "stddev", "pack": 2}}],
    ids=["diffaugment", "dcgan-pack-stddev"],
)
def test_image_remedies_train_a_tiny_dcgan(options, tmp_path):
    model = {"latent_dim": 8, "ngf": 8, "ndf": 8, **options.pop("model", {})}
    cfg = TrainConfig.from_dict({"dataset": "faces", "size": 32, "data_n": 64, "batch_size": 8, "steps": 3,
                                 "log_every": 1, **options, "model": model})  # fmt: skip
    run = train(cfg, tmp_path / "run", progress=False)
    assert [r["step"] for r in read_log(run)] == [1, 2, 3]


def test_batch_must_be_a_multiple_of_the_pack(cli, tmp_path):
    r = cli("train", "--dataset", "ring", "--pack", "3", "--batch-size", "64", "--out", tmp_path / "r")
    assert r.returncode == 2 and "multiple of model.pack=3" in r.stderr
