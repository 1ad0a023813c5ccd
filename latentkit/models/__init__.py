"""Networks and the model bundle.

`build_generator(cfg)` and `build_discriminator(cfg)` are the one place that turns a `ModelConfig`
into modules; training, loading a bundle and the app all go through them.
"""

from __future__ import annotations

from torch import nn

from latentkit.models.bundle import Bundle, load_bundle, resolve_bundle_path, save_bundle
from latentkit.models.config import ModelConfig
from latentkit.models.dcgan import Discriminator, Generator, init_weights
from latentkit.models.mlp import MLPDiscriminator, MLPGenerator


def build_generator(cfg: ModelConfig) -> nn.Module:
    """A freshly initialised generator for a validated `cfg` (DCGAN or MLP by `cfg.kind`)."""
    cfg.validate()
    return Generator(cfg) if cfg.kind == "dcgan" else MLPGenerator(cfg)


def build_discriminator(cfg: ModelConfig) -> nn.Module:
    """A freshly initialised discriminator for a validated `cfg`; it returns raw logits (N,)."""
    cfg.validate()
    return Discriminator(cfg) if cfg.kind == "dcgan" else MLPDiscriminator(cfg)


__all__ = [
    "Bundle",
    "Discriminator",
    "Generator",
    "MLPDiscriminator",
    "MLPGenerator",
    "ModelConfig",
    "build_discriminator",
    "build_generator",
    "init_weights",
    "load_bundle",
    "resolve_bundle_path",
    "save_bundle",
]
