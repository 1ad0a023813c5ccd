"""Networks, their config, and the bundle format."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from pathlib import Path

import pytest
import safetensors.torch
import torch
from torch import nn

from latentkit.errors import LatentkitError
from latentkit.io import write_bytes
from latentkit.models import (
    DCGANConfig,
    Discriminator,
    Generator,
    MLPConfig,
    MLPDiscriminator,
    MLPGenerator,
    ModelConfig,
    build_discriminator,
    build_generator,
    load_bundle,
    model_config_from_dict,
    resolve_bundle_path,
    save_bundle,
)
from latentkit.models.config import config_for_data

torch.set_num_threads(1)


def tiny(**kw) -> ModelConfig:
    """A DCGAN config small enough to run in milliseconds."""
    return DCGANConfig(**{"resolution": 32, "latent_dim": 8, "ngf": 4, "ndf": 4, **kw})


# ---- config -------------------------------------------------------------------------------------


def test_default_config_is_valid_dcgan_64():
    cfg = DCGANConfig().validate()
    assert (cfg.kind, cfg.resolution, cfg.latent_dim) == ("dcgan", 64, 128)


@pytest.mark.parametrize(
    "field, value",
    [
        ("g_norm", "spectral"),
        ("d_norm", "group"),
        ("upsample", "bilinear"),
        ("resolution", 48),
        ("resolution", 16),
        ("resolution", 512),
        ("channels", 0),
        ("latent_dim", -1),
        ("ngf", "64"),
        ("channels", True),
    ],
)
def test_validate_names_the_bad_field(field, value):
    cfg = dataclasses.replace(DCGANConfig(), **{field: value})
    with pytest.raises(LatentkitError, match=f"{field}="):
        cfg.validate()


def test_unknown_choice_lists_the_valid_ones():
    with pytest.raises(LatentkitError, match="batch, none, spectral, layer, instance"):
        DCGANConfig(d_norm="group").validate()


def test_each_family_holds_only_its_own_fields():
    assert set(DCGANConfig().to_dict()) == {
        "kind", "resolution", "channels", "latent_dim", "ngf", "ndf", "g_norm", "d_norm", "upsample",
        "pack", "minibatch", "mapping_layers",
    }  # fmt: skip
    assert set(MLPConfig().to_dict()) == {
        "kind", "data_dim", "latent_dim", "hidden", "depth", "g_norm", "d_norm", "pack", "minibatch",
        "d_hidden", "d_depth", "d_act", "maxout_pieces", "g_bias", "init",
    }  # fmt: skip
    with pytest.raises(TypeError):
        MLPConfig(resolution=3)
    with pytest.raises(LatentkitError, match="d_norm='instance'"):
        MLPConfig(d_norm="instance").validate()
    with pytest.raises(LatentkitError, match="depth=0"):
        MLPConfig(depth=0).validate()
    with pytest.raises(LatentkitError, match="kind='vae'"):
        model_config_from_dict({"kind": "vae"})
    with pytest.raises(LatentkitError, match="unknown key 'hidden' for a dcgan model"):
        model_config_from_dict({"kind": "dcgan", "hidden": 64})


def test_the_pre_family_union_config_of_the_shipped_bundles_migrates_at_read_time():
    doc = json.loads((Path(__file__).parents[1] / "pretrained" / "faces32" / "config.json").read_text())
    assert {"data_dim", "hidden", "depth"} <= set(doc["model"])  # the old 14-field union, on disk
    cfg = model_config_from_dict(doc["model"])
    assert cfg == DCGANConfig(resolution=32, ngf=64, ndf=64) and "hidden" not in cfg.to_dict()


def test_config_for_data_takes_shape_fields_from_the_data_and_refuses_contradictions():
    assert config_for_data({"ngf": 8}, (1, 32, 32)) == DCGANConfig(resolution=32, channels=1, ngf=8)
    assert config_for_data({"hidden": 16}, (2,)) == MLPConfig(hidden=16, data_dim=2)
    with pytest.raises(LatentkitError, match=r"resolution=64 contradicts the data .*resolution 32"):
        config_for_data({"resolution": 64}, (3, 32, 32))
    with pytest.raises(
        LatentkitError, match=r"ngf is an option of dcgan models; the data .* train mlp models"
    ):
        config_for_data({"ngf": 8}, (2,))
    with pytest.raises(LatentkitError, match="kind=mlp cannot model the data"):
        config_for_data({"kind": "mlp"}, (3, 32, 32))


def test_every_model_option_is_a_train_flag():
    from latentkit.cli import build_parser

    train = build_parser()._subparsers._group_actions[0].choices["train"]
    flags = {a.dest for a in train._actions}
    for cls in (DCGANConfig, MLPConfig):
        for f in dataclasses.fields(cls):
            assert f.metadata["shape"] or f.name in flags, f.name


def test_config_dict_round_trip_and_missing_keys_take_defaults():
    cfg = MLPConfig(latent_dim=2, hidden=32, d_norm="spectral")
    assert model_config_from_dict(json.loads(json.dumps(cfg.to_dict()))) == cfg
    assert model_config_from_dict({"resolution": 32}) == DCGANConfig(resolution=32)


def test_from_dict_rejects_unknown_key_and_wrong_type_naming_the_key():
    with pytest.raises(LatentkitError, match="'ngf_typo'"):
        model_config_from_dict({"ngf_typo": 3})
    with pytest.raises(LatentkitError, match="latent_dim="):
        model_config_from_dict({"latent_dim": 1.5})


# ---- DCGAN --------------------------------------------------------------------------------------


@pytest.mark.parametrize("resolution, ngf", [(32, 8), (64, 8), (128, 4), (256, 2)])
@pytest.mark.parametrize("upsample", ["transpose", "resize"])
def test_generator_makes_images_in_range_at_every_resolution(resolution, ngf, upsample):
    cfg = tiny(resolution=resolution, ngf=ngf, upsample=upsample, channels=3)
    x = build_generator(cfg)(torch.randn(2, cfg.latent_dim))
    assert x.shape == (2, 3, resolution, resolution)
    assert x.min() >= -1 and x.max() <= 1


@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("g_norm", ["batch", "none"])
def test_generator_channels_and_norms(channels, g_norm):
    G = build_generator(tiny(channels=channels, g_norm=g_norm)).eval()
    assert G(torch.randn(3, 8)).shape == (3, channels, 32, 32)
    has_bn = any(isinstance(m, nn.BatchNorm2d) for m in G.modules())
    assert has_bn == (g_norm == "batch")


def test_generator_widths_follow_dcgan_schedule_at_64px():
    G = Generator(tiny(resolution=64, ngf=2))
    widths = [m.out_channels for m in G.modules() if isinstance(m, nn.ConvTranspose2d)]
    assert widths == [16, 8, 4, 2, 3]  # 8, 4, 2, 1 x ngf, then RGB


def test_first_layer_weight_is_the_projection_from_z():
    G = Generator(tiny(resolution=64, ngf=2, latent_dim=5))
    w = G.first_layer_weight()
    assert w.shape == (5, 16, 4, 4) and not w.requires_grad
    assert G.latent_dim == 5


def test_dcgan_init_has_std_002_and_bn_scale_near_1():
    G = Generator(DCGANConfig(resolution=32, ngf=32, latent_dim=64))
    w = G.first_layer_weight()
    assert abs(w.std().item() - 0.02) < 0.001
    bn = next(m for m in G.modules() if isinstance(m, nn.BatchNorm2d))
    assert abs(bn.weight.mean().item() - 1.0) < 0.01 and bn.weight.std().item() < 0.04


@pytest.mark.parametrize("d_norm", ["batch", "none", "spectral", "layer", "instance"])
@pytest.mark.parametrize("resolution", [32, 64])
def test_discriminator_gives_one_logit_per_image_for_every_norm(d_norm, resolution):
    cfg = tiny(resolution=resolution, d_norm=d_norm, channels=1)
    D = build_discriminator(cfg)
    x = torch.rand(3, 1, resolution, resolution) * 2 - 1
    assert D(x).shape == (3,)
    assert D.features(x).shape == (3, 16 * cfg.ndf * (resolution // 8))  # 4x4 map of the widest stage


@pytest.mark.parametrize("resolution, ndf", [(128, 4), (256, 2)])
def test_discriminator_at_large_resolutions(resolution, ndf):
    D = Discriminator(tiny(resolution=resolution, ndf=ndf))
    assert D(torch.zeros(2, 3, resolution, resolution)).shape == (2,)


def test_discriminator_first_layer_has_no_norm_and_norm_types_match():
    D = Discriminator(tiny(resolution=64, d_norm="layer"))
    assert isinstance(D.trunk[0], nn.Conv2d) and isinstance(D.trunk[1], nn.LeakyReLU)
    assert sum(isinstance(m, nn.GroupNorm) and m.num_groups == 1 for m in D.modules()) == 3
    D = Discriminator(tiny(d_norm="instance"))
    assert all(m.affine for m in D.modules() if isinstance(m, nn.InstanceNorm2d))


def test_spectral_norm_wraps_every_conv_including_the_last():
    D = Discriminator(tiny(d_norm="spectral"))
    convs = [m for m in D.modules() if isinstance(m, nn.Conv2d)]
    assert len(convs) == 4 and all(hasattr(m, "parametrizations") for m in convs)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in D.modules())


def test_channels_last_gives_the_same_outputs():
    cfg = tiny()
    G, D = build_generator(cfg).eval(), build_discriminator(cfg).eval()
    z = torch.randn(2, 8)
    x, logits = G(z), D(G(z))
    G.to(memory_format=torch.channels_last)
    D.to(memory_format=torch.channels_last)
    x_cl = G(z)
    torch.testing.assert_close(x_cl, x, atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(
        D(x_cl.contiguous(memory_format=torch.channels_last)), logits, atol=1e-5, rtol=1e-4
    )


# ---- MLP ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("d_norm", ["none", "spectral", "batch", "layer"])
def test_mlp_pair_shapes(d_norm):
    cfg = MLPConfig(latent_dim=3, data_dim=2, hidden=16, depth=2, d_norm=d_norm)
    G, D = build_generator(cfg), build_discriminator(cfg)
    assert isinstance(G, MLPGenerator) and isinstance(D, MLPDiscriminator)
    x = G(torch.randn(5, 3))
    assert x.shape == (5, 2)
    assert D(x).shape == (5,) and D.features(x).shape == (5, 16)
    assert G.first_layer_weight().shape == (16, 3)


def test_mlp_depth_counts_hidden_layers_and_spectral_wraps_all_linears():
    cfg = MLPConfig(latent_dim=3, hidden=8, depth=4, g_norm="none", d_norm="spectral")
    assert sum(isinstance(m, nn.Linear) for m in MLPGenerator(cfg).modules()) == 5
    linears = [m for m in MLPDiscriminator(cfg).modules() if isinstance(m, nn.Linear)]
    assert len(linears) == 5 and all(hasattr(m, "parametrizations") for m in linears)


# ---- bundle -------------------------------------------------------------------------------------


@pytest.fixture
def trained(tmp_path):
    """A saved tiny generator whose BN running stats differ from a fresh one."""
    cfg = tiny()
    torch.manual_seed(0)
    G = build_generator(cfg)
    G.train()(torch.randn(4, 8))  # update running stats so eval output is not the fresh default
    G.eval()
    path = save_bundle(tmp_path / "b", G, cfg, name="tiny", extra={"dataset": "faces", "kimg": 1.5})
    return G, cfg, path


def test_bundle_round_trip_gives_identical_outputs(trained):
    G, cfg, path = trained
    b = load_bundle(path)
    z = torch.randn(3, 8)
    assert torch.equal(b.generator(z), G(z))
    assert not b.generator.training
    assert (b.config, b.name, b.meta) == (cfg, "tiny", {"dataset": "faces", "kimg": 1.5})
    doc = json.loads((path / "config.json").read_text())
    assert (doc["format"], doc["version"], doc["model"]) == ("latentkit-bundle", 2, cfg.to_dict())


def test_bundle_sha256_is_of_the_file_bytes_and_stable_across_saves(trained, tmp_path):
    G, cfg, path = trained
    b = load_bundle(path)
    assert b.weights_sha256 == hashlib.sha256((path / "generator.safetensors").read_bytes()).hexdigest()
    assert b.config_sha256 == hashlib.sha256((path / "config.json").read_bytes()).hexdigest()
    again = load_bundle(save_bundle(tmp_path / "again", G, cfg, name="tiny", extra=b.meta))
    assert (again.weights_sha256, again.config_sha256) == (b.weights_sha256, b.config_sha256)


def test_bundle_of_channels_last_generator_loads(tmp_path):
    cfg = tiny()
    G = build_generator(cfg).eval().to(memory_format=torch.channels_last)
    z = torch.randn(2, 8)
    assert torch.allclose(load_bundle(save_bundle(tmp_path / "cl", G, cfg)).generator(z), G(z), atol=1e-6)


def test_bundle_name_defaults_to_folder_and_reserved_extra_keys_are_refused(tmp_path):
    cfg = tiny()
    G = build_generator(cfg)
    assert load_bundle(save_bundle(tmp_path / "faces64", G, cfg)).name == "faces64"
    with pytest.raises(ValueError, match="'model'"):
        save_bundle(tmp_path / "x", G, cfg, extra={"model": {}})


def test_save_refuses_a_generator_that_does_not_match_the_config(tmp_path):
    with pytest.raises(LatentkitError, match=re.escape("generator.safetensors: tensor 'net.0.weight'")):
        save_bundle(tmp_path / "b", build_generator(tiny(latent_dim=9)), tiny())


def test_resolve_bundle_path_accepts_a_run_folder(trained, tmp_path):
    G, cfg, _ = trained
    save_bundle(tmp_path / "run" / "bundle", G, cfg)
    assert resolve_bundle_path(tmp_path / "run") == tmp_path / "run" / "bundle"
    assert load_bundle(tmp_path / "run").path == tmp_path / "run" / "bundle"


def test_missing_folder_and_missing_config_are_named(trained, tmp_path):
    _, _, path = trained
    with pytest.raises(LatentkitError, match="nowhere: bundle folder not found"):
        load_bundle(tmp_path / "nowhere")
    (path / "config.json").unlink()
    with pytest.raises(LatentkitError, match=re.escape("missing config.json")):
        load_bundle(path)


@pytest.mark.parametrize(
    "text, message",
    [
        ("{not json", "config.json: invalid JSON"),
        ('{"format": "diffusers", "version": 1}', "config.json: format is 'diffusers'"),
        ('{"format": "latentkit-bundle", "version": 7}', "config.json: bundle version 7"),
        ('{"format": "latentkit-bundle", "version": 1, "model": {"d_norm": "x"}}', "config.json: .*d_norm="),
    ],
)
def test_bad_config_json_is_named(trained, text, message):
    _, _, path = trained
    (path / "config.json").write_text(text)
    with pytest.raises(LatentkitError, match=message):
        load_bundle(path)


def test_truncated_safetensors_is_named(trained):
    _, _, path = trained
    weights = path / "generator.safetensors"
    weights.write_bytes(weights.read_bytes()[:-100])
    with pytest.raises(
        LatentkitError, match=re.escape("generator.safetensors: not a valid safetensors file")
    ):
        load_bundle(path)


def test_wrong_shape_missing_and_extra_tensors_are_named(trained):
    G, _, path = trained
    weights = path / "generator.safetensors"
    good = {k: v.contiguous() for k, v in G.state_dict().items()}

    write_bytes(weights, safetensors.torch.save({**good, "net.0.weight": torch.zeros(8, 2)}))
    with pytest.raises(
        LatentkitError, match=r"generator.safetensors: tensor 'net.0.weight' has shape \(8, 2\)"
    ):
        load_bundle(path)

    write_bytes(weights, safetensors.torch.save({k: v for k, v in good.items() if k != "net.1.bias"}))
    with pytest.raises(LatentkitError, match=re.escape("generator.safetensors: missing tensor 'net.1.bias'")):
        load_bundle(path)

    write_bytes(weights, safetensors.torch.save({**good, "extra.w": torch.zeros(1)}))
    with pytest.raises(LatentkitError, match=re.escape("generator.safetensors: unexpected tensor 'extra.w'")):
        load_bundle(path)
