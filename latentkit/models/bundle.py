"""The one model bundle format: a folder like diffusers' `save_pretrained` output.

    <bundle>/config.json            {"format": "latentkit-bundle", "version": 1, "name": ...,
                                     "model": ModelConfig.to_dict(), ...extra keys}
    <bundle>/generator.safetensors  the generator's state dict (no pickle anywhere)

Other files (directions.json, a manifest...) may sit beside these; this module ignores them.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import safetensors.torch
import torch
from torch import nn

from latentkit.errors import LatentkitError
from latentkit.io import parse_tagged_json, read_bytes, write_bytes, write_json
from latentkit.models.config import ModelConfig

FORMAT = "latentkit-bundle"
VERSION = 1
CONFIG_FILE = "config.json"
WEIGHTS_FILE = "generator.safetensors"
RESERVED_KEYS = ("format", "version", "name", "model")


@dataclass
class Bundle:
    """A loaded bundle.

    Attributes:
        path: the bundle folder.
        config: the network hyper-parameters.
        generator: the network, in eval mode, on the requested device.
        name: the bundle's name.
        meta: the extra keys of config.json (everything but format, version, name, model).
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

    Each file is written atomically, weights first, so a config.json never points at missing weights.
    `name` defaults to the folder name; `extra` adds JSON-able keys to config.json.
    """
    path = Path(path)
    extra = dict(extra or {})
    clash = [k for k in extra if k in RESERVED_KEYS]
    if clash:
        raise ValueError(f"save_bundle: extra may not set reserved key {clash[0]!r}")
    # safetensors needs contiguous CPU tensors; channels_last weights are not NCHW-contiguous.
    tensors = {k: v.detach().cpu().contiguous() for k, v in generator.state_dict().items()}
    _check_tensors(_expected_shapes(cfg), tensors, path / WEIGHTS_FILE)
    write_bytes(path / WEIGHTS_FILE, safetensors.torch.save(tensors))
    header = {"format": FORMAT, "version": VERSION, "name": name or path.name, "model": cfg.to_dict()}
    write_json(path / CONFIG_FILE, {**header, **extra})
    return path


def load_bundle(path: str | os.PathLike, device: str | torch.device = "cpu") -> Bundle:
    """Load a bundle folder (or a run folder holding `bundle/`); every defect is a `LatentkitError`."""
    from latentkit.models import build_generator  # deferred: the package imports this module

    path = resolve_bundle_path(path)
    config_bytes = read_bytes(path / CONFIG_FILE)
    doc = _parse_config(config_bytes, path / CONFIG_FILE)
    try:
        cfg = ModelConfig.from_dict(doc.get("model", {}))
    except LatentkitError as e:
        raise LatentkitError(f"{path / CONFIG_FILE}: {e}") from None

    weights_bytes = read_bytes(path / WEIGHTS_FILE)
    try:
        tensors = safetensors.torch.load(weights_bytes)
    except Exception as e:  # safetensors raises its own error type for truncated/garbled files
        raise LatentkitError(f"{path / WEIGHTS_FILE}: not a valid safetensors file ({e})") from None
    # Shapes first, on the meta device: a config claiming a huge network must not allocate it.
    _check_tensors(_expected_shapes(cfg), tensors, path / WEIGHTS_FILE)
    generator = build_generator(cfg)
    generator.load_state_dict(tensors)
    return Bundle(
        path=path,
        config=cfg,
        generator=generator.to(device).eval(),
        name=str(doc.get("name", path.name)),
        meta={k: v for k, v in doc.items() if k not in RESERVED_KEYS},
        weights_sha256=hashlib.sha256(weights_bytes).hexdigest(),
        config_sha256=hashlib.sha256(config_bytes).hexdigest(),
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


def _parse_config(data: bytes, path: Path) -> dict[str, Any]:
    """config.json bytes -> dict, checking the format tag and version."""
    return parse_tagged_json(data, path, FORMAT, VERSION, what="bundle")


def _expected_shapes(cfg: ModelConfig) -> dict[str, tuple[int, ...]]:
    """State-dict shapes of a generator for `cfg`, built on the meta device (no memory, no compute)."""
    from latentkit.models import build_generator

    with torch.device("meta"):
        return {k: tuple(v.shape) for k, v in build_generator(cfg).state_dict().items()}


def _check_tensors(
    expected: dict[str, tuple[int, ...]], tensors: dict[str, torch.Tensor], file: Path
) -> None:
    """Raise `LatentkitError` naming `file` and the first missing, unexpected or mis-shaped tensor."""
    for key, shape in expected.items():
        if key not in tensors:
            raise LatentkitError(f"{file}: missing tensor {key!r}")
        if tuple(tensors[key].shape) != shape:
            raise LatentkitError(
                f"{file}: tensor {key!r} has shape {tuple(tensors[key].shape)}, the config needs {shape}"
            )
    for key in tensors:
        if key not in expected:
            raise LatentkitError(f"{file}: unexpected tensor {key!r}")
