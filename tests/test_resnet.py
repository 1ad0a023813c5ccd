"""The normalisation-free ResNet family (R3GAN's architecture): shapes, fix-up init, training, bundles."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from latentkit.cli import build_parser
from latentkit.cli.train import _train_config
from latentkit.errors import LatentkitError
from latentkit.models import ResNetConfig, build_discriminator, build_generator, load_bundle, save_bundle
from latentkit.models.config import config_for_data
from latentkit.models.resnet import Block, stage_widths
from latentkit.train.config import TrainConfig
from latentkit.train.loop import train
from latentkit.train.monitor import read_log

TINY = {"latent_dim": 16, "width": 8, "group_size": 8}


def n_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


@pytest.mark.parametrize("resolution", [32, 64])
def test_generator_makes_images_and_discriminator_one_logit_per_sample(resolution):
    cfg = ResNetConfig(resolution=resolution, **TINY)
    G, D = build_generator(cfg), build_discriminator(cfg)
    x = G(torch.randn(5, 16))
    assert x.shape == (5, 3, resolution, resolution)
    assert D(x).shape == (5,)
    packed = build_discriminator(ResNetConfig(resolution=resolution, pack=2, minibatch="stddev", **TINY))
    assert packed(torch.cat([x, x[:1]])).shape == (3,)


def test_widths_double_per_halving_up_to_eight_times_the_base():
    assert stage_widths(ResNetConfig(resolution=32, width=16)) == [128, 64, 32, 16]
    assert stage_widths(ResNetConfig(resolution=128, width=16)) == [128, 128, 128, 64, 32, 16]


def test_every_block_is_the_identity_at_init_and_scaled_by_blocks_to_the_minus_quarter():
    cfg = ResNetConfig(resolution=32, blocks=2, **TINY)
    G, D = build_generator(cfg), build_discriminator(cfg)
    blocks = [m for net in (G, D) for m in net.modules() if isinstance(m, Block)]
    assert len(blocks) == 2 * 8  # 4 stages x 2 blocks, in G and in D
    h = torch.randn(2, blocks[0].expand.in_channels, 8, 8)
    assert torch.equal(blocks[0](h), h)
    assert all(b.project.weight.abs().sum() == 0 for b in blocks)
    # He std for leaky ReLU 0.2, times L^-1/4 with L = 8 blocks per network.
    wide = build_generator(ResNetConfig(resolution=32, width=64, group_size=16, blocks=2))
    block = next(m for m in wide.modules() if isinstance(m, Block))
    expected = math.sqrt(2 / 1.04) / math.sqrt(block.expand.in_channels) * 8 ** (-1 / 4)
    assert block.expand.weight.std().item() == pytest.approx(expected, rel=0.03)


def test_default_model_sizes():
    cfg = ResNetConfig(resolution=64)
    assert (n_params(build_generator(cfg)), n_params(build_discriminator(cfg))) == (905_184, 872_672)
    assert n_params(build_generator(ResNetConfig(resolution=32))) == 568_288


def test_no_normalisation_layer_anywhere():
    G, D = build_generator(ResNetConfig(resolution=32)), build_discriminator(ResNetConfig(resolution=32))
    norms = (nn.modules.batchnorm._NormBase, nn.GroupNorm, nn.LayerNorm)
    assert not [m for net in (G, D) for m in net.modules() if isinstance(m, norms)]


def test_group_size_must_divide_the_expanded_width():
    with pytest.raises(LatentkitError, match=r"group_size=12 must divide width x expansion \(32 x 2\)"):
        ResNetConfig(group_size=12).validate()


def test_kind_resnet_comes_from_the_command_line():
    args = build_parser().parse_args(
        ["train", "--out", "R", "--kind", "resnet", "--width", "8", "--blocks", "2"]
    )
    cfg = _train_config(args)
    mcfg = config_for_data(cfg.model, (3, 32, 32))
    assert isinstance(mcfg, ResNetConfig) and (mcfg.width, mcfg.blocks, mcfg.resolution) == (8, 2, 32)


@pytest.mark.parametrize("size", [32, 64])
def test_trains_three_steps_with_rpgan_r1_r2_and_saves_a_bundle(size, tmp_path):
    cfg = TrainConfig(
        dataset="faces", size=size, data_n=32, batch_size=4, steps=3, log_every=1, loss="rpgan",
        r1_gamma=0.1, r2_gamma=0.1, model={"kind": "resnet", "minibatch": "stddev", **TINY},
    )  # fmt: skip
    run = train(cfg, tmp_path / "run", progress=False)
    rows = read_log(run)
    assert [r["step"] for r in rows] == [1, 2, 3]
    assert all(math.isfinite(r["loss_d"]) and math.isfinite(r["loss_g"]) for r in rows)
    bundle = load_bundle(run)
    assert isinstance(bundle.config, ResNetConfig) and bundle.config.resolution == size
    with torch.no_grad():
        assert bundle.generator(torch.randn(2, 16)).shape == (2, 3, size, size)


def test_bundle_round_trip_keeps_weights_and_config(tmp_path):
    cfg = ResNetConfig(resolution=32, channels=1, **TINY)
    torch.manual_seed(0)
    G = build_generator(cfg)
    save_bundle(tmp_path / "b", G, cfg, name="res")
    loaded = load_bundle(tmp_path / "b")
    assert loaded.config == cfg and loaded.name == "res"
    z = torch.randn(3, 16)
    with torch.no_grad():
        torch.testing.assert_close(loaded.generator(z), G.eval()(z))


def test_sefa_matrix_of_the_basis_is_the_linear_map_from_z_to_the_4x4_map():
    G = build_generator(ResNetConfig(resolution=32, **TINY))
    a = G.first_layer_weight().flatten(1).T  # (C0 * 16, latent_dim)
    z = torch.randn(4, 16)
    torch.testing.assert_close(G.net[0](z).flatten(1), z @ a.T)
