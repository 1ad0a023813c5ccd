"""Networks and the model bundle.

`build_generator(cfg)` and `build_discriminator(cfg)` are the one place that turns a family's config
(`DCGANConfig`, `ResNetConfig`, `MLPConfig`) into modules; training, loading a bundle and the app all
go through them. A new family is a config dataclass in config.py plus its pair registered in `NETWORKS`.
"""

from __future__ import annotations

from collections.abc import Callable

from torch import nn

from latentkit.models.bundle import Bundle, load_bundle, resolve_bundle_path, save_bundle
from latentkit.models.config import DCGANConfig, MLPConfig, ModelConfig, ResNetConfig, model_config_from_dict
from latentkit.models.dcgan import Discriminator, Generator, init_weights
from latentkit.models.mlp import MLPDiscriminator, MLPGenerator
from latentkit.models.resnet import ResNetDiscriminator, ResNetGenerator
from latentkit.models.style import StyleGenerator

# kind -> (generator reading z, discriminator); a config with a mapping network (`style_based`)
# gets `StyleGenerator` instead, on its family's synthesis network.
NETWORKS: dict[str, tuple[Callable[..., nn.Module], Callable[..., nn.Module]]] = {
    DCGANConfig.kind: (Generator, Discriminator),
    MLPConfig.kind: (MLPGenerator, MLPDiscriminator),
    ResNetConfig.kind: (ResNetGenerator, ResNetDiscriminator),
}


def build_generator(cfg: ModelConfig) -> nn.Module:
    """A freshly initialised generator for a validated `cfg` (its family by `cfg.kind`)."""
    cfg.validate()
    return StyleGenerator(cfg) if cfg.style_based else NETWORKS[cfg.kind][0](cfg)


def build_discriminator(cfg: ModelConfig) -> nn.Module:
    """A freshly initialised discriminator for a validated `cfg`; it returns raw logits (N,)."""
    cfg.validate()
    return NETWORKS[cfg.kind][1](cfg)


__all__ = [
    "Bundle",
    "DCGANConfig",
    "Discriminator",
    "Generator",
    "MLPConfig",
    "MLPDiscriminator",
    "MLPGenerator",
    "ModelConfig",
    "ResNetConfig",
    "ResNetDiscriminator",
    "ResNetGenerator",
    "StyleGenerator",
    "build_discriminator",
    "build_generator",
    "init_weights",
    "load_bundle",
    "model_config_from_dict",
    "resolve_bundle_path",
    "save_bundle",
]
