"""The model bundle: a generator in the weights folder of `latentkit.models.weights`.

    <bundle>/config.json            {"format": "latentkit-bundle", "version": 2, "name": ...,
                                     "model": cfg.to_dict(), ...extra keys, "weights_sha256": ...}
    <bundle>/generator.safetensors  the generator's state dict (no pickle anywhere)

Other files (directions.json, predictor/, encoder/, a manifest...) may sit beside these; this module
ignores them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from latentkit.errors import LatentkitError
from latentkit.models import weights
from latentkit.models.config import ModelConfig, model_config_from_dict
from latentkit.models.weights import CONFIG_FILE

FORMAT = "latentkit-bundle"
WEIGHTS_FILE = "generator.safetensors"
RESERVED_KEYS = (*weights.RESERVED_KEYS, "name", "model")


@dataclass
class Bundle:
    """A loaded bundle.

    Attributes:
        path: the bundle folder.
        config: the network hyper-parameters.
        generator: the network, in eval mode, on the requested device.
        name: the bundle's name.
        meta: the extra keys of config.json (everything but format, version, weights_sha256, name, model).
        weights_sha256, config_sha256: hex digests of the two files' bytes, as loaded.
    """

    path: Path
    config: ModelConfig
    generator: nn.Module
    name: str
    meta: dict[str, Any] = field(default_factory=dict)
    weights_sha256: str = ""
    config_sha256: str = ""


def save_bundle(
    path: str | os.PathLike,
    generator: nn.Module,
    cfg: ModelConfig,
    name: str | None = None,
    extra: dict[str, Any] | None = None,
) -> Path:
    """Write `generator` and `cfg` as a bundle folder at `path` and return the folder.

    `name` defaults to the folder name; `extra` adds JSON-able keys to config.json. A generator that
    does not match `cfg` is refused before anything is written.
    """
    from latentkit.models import build_generator  # deferred: the package imports this module

    path = Path(path)
    extra = dict(extra or {})
    clash = [k for k in extra if k in RESERVED_KEYS]
    if clash:
        raise ValueError(f"save_bundle: extra may not set reserved key {clash[0]!r}")
    with torch.device("meta"):
        expected = build_generator(cfg)
    doc = {"name": name or path.name, "model": cfg.to_dict(), **extra}
    return weights.save_weights(path, generator, FORMAT, doc, WEIGHTS_FILE, expected)


def load_bundle(path: str | os.PathLike, device: str | torch.device = "cpu") -> Bundle:
    """Load a bundle folder (or a run folder holding `bundle/`); every defect is a `LatentkitError`."""
    path = resolve_bundle_path(path)
    loaded = weights.load_weights(path, FORMAT, _build, WEIGHTS_FILE, "bundle", device)
    doc = loaded.doc
    return Bundle(
        path=path,
        config=model_config_from_dict(doc.get("model", {})),
        generator=loaded.module,
        name=str(doc.get("name", path.name)),
        meta={k: v for k, v in doc.items() if k not in RESERVED_KEYS},
        weights_sha256=loaded.weights_sha256,
        config_sha256=loaded.config_sha256,
    )


def resolve_bundle_path(path: str | os.PathLike) -> Path:
    """`path` if it holds config.json + generator.safetensors, else `path/bundle` if that exists.

    A name that is not a folder but names a shipped model ("faces64") resolves to that model.
    """
    path = Path(path).expanduser()
    if not path.is_dir():
        from latentkit.models.pretrained import list_pretrained, pretrained_path

        if str(path) in list_pretrained():  # a shipped model's name, e.g. "faces64"
            return pretrained_path(str(path))
        raise LatentkitError(f"{path}: bundle folder not found")
    if (path / CONFIG_FILE).is_file() and (path / WEIGHTS_FILE).is_file():
        return path
    if (path / "bundle").is_dir():
        return path / "bundle"
    missing = [f for f in (CONFIG_FILE, WEIGHTS_FILE) if not (path / f).is_file()]
    raise LatentkitError(f"{path}: not a latentkit bundle (missing {' and '.join(missing)})")


def _build(doc: dict[str, Any]) -> nn.Module:
    """The untrained generator a bundle's config.json describes (a `weights.Build`)."""
    from latentkit.models import build_generator

    return build_generator(model_config_from_dict(doc.get("model", {})))
