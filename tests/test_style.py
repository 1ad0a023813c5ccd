"""The style-based ResNet generator: mapping network, modulation/demodulation, W and W+, w_avg, training."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from latentkit.errors import LatentkitError
from latentkit.models import (
    DCGANConfig,
    ResNetConfig,
    ResNetGenerator,
    StyleGenerator,
    build_generator,
    load_bundle,
    save_bundle,
)
from latentkit.models.style import (
    MAPPING_LR_MUL,
    W_AVG_BETA,
    EqualLinear,
    Mapping,
    broadcast_w,
    modulated_conv,
    modulated_weight,
    normalize_2nd_moment,
)
from latentkit.train.config import TrainConfig
from latentkit.train.loop import train
from latentkit.train.monitor import read_log

TINY = {"latent_dim": 16, "width": 8, "group_size": 8, "mapping_layers": 2}


def test_demodulated_weights_have_unit_norm_per_sample_and_output_channel():
    weight, styles = torch.randn(6, 5, 3, 3), torch.rand(4, 5) + 0.5
    w = modulated_weight(weight, styles, demodulate=True)
    assert w.shape == (4, 6, 5, 3, 3)
    torch.testing.assert_close(w.square().sum(dim=(2, 3, 4)), torch.ones(4, 6))
    raw = modulated_weight(weight, styles, demodulate=False)
    torch.testing.assert_close(raw[2, 1, 3], weight[1, 3] * styles[2, 3])


@pytest.mark.parametrize("demodulate", [True, False])
@pytest.mark.parametrize("k", [1, 3])
def test_fast_modulated_conv_equals_the_conv_with_per_sample_weights(demodulate, k):
    x, weight, styles = torch.randn(3, 5, 4, 4), torch.randn(7, 5, k, k), torch.randn(3, 5)
    per_sample = modulated_weight(weight, styles, demodulate)
    expected = torch.stack([F.conv2d(x[n : n + 1], per_sample[n], padding=k // 2)[0] for n in range(3)])
    got = modulated_conv(x, weight, styles, demodulate, padding=k // 2)
    torch.testing.assert_close(got, expected)


@pytest.mark.parametrize("demodulate", [True, False])
def test_fast_modulated_transposed_conv_equals_per_sample_weights(demodulate):
    x, weight, styles = torch.randn(3, 5, 4, 4), torch.randn(5, 7, 4, 4), torch.rand(3, 5) + 0.1
    per_sample = modulated_weight(weight, styles, demodulate, transposed=True)  # (N, I, O, k, k)
    assert per_sample.shape == (3, 5, 7, 4, 4)
    if demodulate:
        torch.testing.assert_close(per_sample.square().sum(dim=(1, 3, 4)), torch.ones(3, 7))
    conv = {"stride": 2, "padding": 1}
    expected = torch.stack([F.conv_transpose2d(x[n : n + 1], per_sample[n], **conv)[0] for n in range(3)])
    got = modulated_conv(x, weight, styles, demodulate, transposed=True, **conv)
    assert got.shape == (3, 7, 8, 8)
    torch.testing.assert_close(got, expected)


def test_equal_linear_scales_stored_weights_by_lr_mul_over_root_fan_in():
    layer = EqualLinear(4, 3, lr_mul=0.01, bias_init=1.0)
    x = torch.randn(2, 4)
    expected = x @ (layer.weight * 0.01 / 2.0).T + layer.bias * 0.01
    torch.testing.assert_close(layer(x), expected)
    torch.testing.assert_close(layer.bias * 0.01, torch.ones(3))  # effective bias starts at bias_init
    assert layer.weight.std().item() == pytest.approx(1 / 0.01, rel=0.6)


def test_mapping_normalises_z_so_its_scale_does_not_matter():
    m = Mapping(8, 3).eval()
    z = torch.randn(5, 8)
    torch.testing.assert_close(m(z), m(7.0 * z))
    torch.testing.assert_close(normalize_2nd_moment(z).square().mean(1), torch.ones(5))
    assert all(layer.w_gain == pytest.approx(MAPPING_LR_MUL / math.sqrt(8)) for layer in m.layers)


def test_w_avg_moves_toward_the_batch_mean_in_training_mode_only():
    m = Mapping(8, 2)
    z = torch.randn(16, 8)
    m.eval()
    m(z)
    assert torch.count_nonzero(m.w_avg) == 0
    m.train()
    w = m(z)
    torch.testing.assert_close(m.w_avg, (1 - W_AVG_BETA) * w.detach().mean(0))


def test_style_generator_makes_images_from_z_w_and_w_plus():
    G = build_generator(ResNetConfig(resolution=32, **TINY)).eval()
    assert isinstance(G, StyleGenerator) and G.num_ws == 4 + 1  # 4 stages x 1 block + to-RGB
    z = torch.randn(3, 16)
    with torch.no_grad():
        w = G.mapping(z)
        x = G(z)
        torch.testing.assert_close(G.synthesis(broadcast_w(w, G.num_ws)), x)
        ws = broadcast_w(w, G.num_ws).clone()
        ws[:, -1] = G.mapping(torch.randn(3, 16))  # another w for the last layer only: W+
        assert not torch.allclose(G.synthesis(ws), x)
    assert x.shape == (3, 3, 32, 32)


def test_style_dcgan_has_one_w_per_layer_and_makes_images():
    cfg = DCGANConfig(resolution=64, latent_dim=16, ngf=8, g_norm="none", mapping_layers=2)
    G = build_generator(cfg).eval()
    assert isinstance(G, StyleGenerator) and G.num_ws == 5  # 4x4 conv, 3 doublings, to-RGB at 64 px
    with torch.no_grad():
        assert G(torch.randn(2, 16)).shape == (2, 3, 64, 64)
    with pytest.raises(LatentkitError, match="g_norm=none"):
        DCGANConfig(mapping_layers=2).validate()  # batch norm in a style-based G: refused


def test_mapping_layers_zero_builds_todays_z_only_generator():
    assert (
        type(build_generator(ResNetConfig(resolution=32, **{**TINY, "mapping_layers": 0}))) is ResNetGenerator
    )
    assert ResNetConfig().mapping_layers == 0 and not ResNetConfig().style_based


def test_style_weights_stack_every_layers_affine_for_sefa():
    G = build_generator(ResNetConfig(resolution=32, **TINY))
    a = G.style_weights()
    modulated = sum(w * 1 for w in [8 * 8, 8 * 4, 8 * 2, 8 * 1]) + 8  # block widths + to-RGB input
    assert a.shape == (modulated, 16) and not a.requires_grad


def test_style_generator_trains_three_steps_and_its_bundle_round_trips(tmp_path):
    cfg = TrainConfig(
        dataset="faces", size=32, data_n=32, batch_size=4, steps=3, log_every=1, loss="rpgan",
        r1_gamma=0.1, r2_gamma=0.1, model={"kind": "resnet", **TINY},
    )  # fmt: skip
    run = train(cfg, tmp_path / "run", progress=False)
    assert all(math.isfinite(r["loss_d"]) for r in read_log(run))
    bundle = load_bundle(run)
    assert bundle.config.style_based and isinstance(bundle.generator, StyleGenerator)
    assert torch.count_nonzero(bundle.generator.mapping.w_avg) > 0  # tracked while training, saved
    save_bundle(tmp_path / "copy", bundle.generator, bundle.config, name="s")
    again = load_bundle(tmp_path / "copy")
    z = torch.randn(2, 16)
    with torch.no_grad():
        torch.testing.assert_close(again.generator(z), bundle.generator(z))
    torch.testing.assert_close(again.generator.mapping.w_avg, bundle.generator.mapping.w_avg)


def _mixing_objective(p: float):
    from latentkit.train.objective import build_objective

    cfg = TrainConfig(
        loss="rpgan", r1_gamma=0.1, r2_gamma=0.1, style_mixing=p, model={"kind": "resnet", **TINY}
    )
    return build_objective(cfg, ResNetConfig(resolution=32, **TINY))


def _noise(seed: int):
    from latentkit.train.objective import Batches

    gen = torch.Generator().manual_seed(seed)
    return Batches(None, torch.arange(1), gen, batch_size=3, latent_dim=16, device=torch.device("cpu"))


def test_style_mixing_gives_the_layers_after_a_random_cutoff_a_second_zs_w():
    G = build_generator(ResNetConfig(resolution=32, **TINY)).eval()
    with torch.no_grad():
        mixed = _mixing_objective(1.0).generate(G, _noise(0))
        gen = torch.Generator().manual_seed(0)  # the same draws, by hand: z, z2, the coin, the cutoff
        z, z2 = torch.randn(3, 16, generator=gen), torch.randn(3, 16, generator=gen)
        torch.rand((), generator=gen)
        cutoff = int(torch.randint(1, G.num_ws, (), generator=gen))
        ws = broadcast_w(G.mapping(z), G.num_ws).clone()
        ws[:, cutoff:] = G.mapping(z2)[:, None]
        torch.testing.assert_close(mixed, G.synthesis(ws))
        assert not torch.allclose(mixed, G(z))  # the second w changed the image
        torch.testing.assert_close(_mixing_objective(0.0).generate(G, _noise(0)), G(z))  # off: G(z)


def test_the_style_mixing_call_leaves_w_avg_to_the_first_zs_w():
    G = build_generator(ResNetConfig(resolution=32, **TINY)).train()
    gen = torch.Generator().manual_seed(1)
    z = torch.randn(3, 16, generator=gen)
    with torch.no_grad():
        _mixing_objective(1.0).generate(G, _noise(1))
        expected = G.eval().mapping(z).mean(0).lerp(torch.zeros(16), W_AVG_BETA)
    torch.testing.assert_close(G.mapping.w_avg, expected)


def test_style_mixing_trains_resumes_exactly_and_is_refused_without_a_mapping_network(tmp_path):
    from latentkit.train.objective import build_objective

    def cfg(steps):
        return TrainConfig(
            dataset="faces", size=32, data_n=32, batch_size=4, steps=steps, log_every=1, loss="rpgan",
            r1_gamma=0.1, r2_gamma=0.1, style_mixing=0.9, checkpoint_every=2,
            model={"kind": "resnet", **TINY},
        )  # fmt: skip

    whole = train(cfg(4), tmp_path / "whole", progress=False)
    train(cfg(2), tmp_path / "parts", progress=False)
    parts = train(cfg(4), tmp_path / "parts", resume=True, progress=False)
    z = torch.randn(2, 16)
    with torch.no_grad():
        torch.testing.assert_close(
            load_bundle(parts).generator(z), load_bundle(whole).generator(z), rtol=0, atol=0
        )
    with pytest.raises(LatentkitError, match=r"style_mixing=0\.9 needs a style-based generator"):
        build_objective(
            TrainConfig(style_mixing=0.9), ResNetConfig(resolution=32, **{**TINY, "mapping_layers": 0})
        )
