"""The one weights-folder format of every trained module: generator bundle, attribute predictor, encoder.

Like diffusers' `save_pretrained` / `from_pretrained`, a trained module is a folder:

    <folder>/config.json         {"format": <the module's tag>, "version": 2, ...its own keys...,
                                  "weights_sha256": <hex SHA-256 of the weights file's bytes>}
    <folder>/<weights file>      the state dict as safetensors (no pickle anywhere)

`load_weights` checks, in this order, and turns every defect into one `LatentkitError` line naming
the file:

1. config.json: JSON, its format tag, a version this latentkit reads;
2. the module the config describes, built on the meta device (no memory, no compute), so a config
   claiming e.g. `ngf: 8192` is refused by the shape check below before anything is allocated;
3. the weights file: valid safetensors, exactly the tensors and shapes of that meta module;
4. the file's SHA-256 against `weights_sha256` (a bit flip in the tensor data is caught here);
5. only then the real module, with the weights loaded into it.

Version 1 files (written before the digest existed, e.g. the shipped pretrained/ models) have no
`weights_sha256` and are accepted as they are; from version 2 it is required.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import safetensors.torch
import torch
from torch import nn

from latentkit.errors import LatentkitError
from latentkit.io import parse_tagged_json, read_bytes, write_json, write_safetensors

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "weights.safetensors"
VERSION = 2  # written; version 1 (no digest) is still read
VERSIONS = (1, 2)
DIGEST_KEY = "weights_sha256"
RESERVED_KEYS = ("format", "version", DIGEST_KEY)

# Builds the untrained module a config.json describes; a bad config raises `LatentkitError` with a
# message that `load_weights` prefixes with the config's path. Called on the meta device first (for
# the shapes), then for real.
Build = Callable[[dict[str, Any]], nn.Module]


@dataclass
class Loaded:
    """A module loaded by `load_weights`.

    Attributes:
        module: the network with the saved weights, in eval mode, on the requested device.
        doc: config.json as a dict (format, version and digest included).
        config_sha256, weights_sha256: hex SHA-256 of the two files' bytes, as read.
    """

    module: nn.Module
    doc: dict[str, Any]
    config_sha256: str
    weights_sha256: str


def save_weights(
    folder: str | os.PathLike,
    module: nn.Module,
    fmt: str,
    doc: dict[str, Any],
    weights_file: str = WEIGHTS_FILE,
    expected: nn.Module | None = None,
) -> Path:
    """Write `module`'s state dict and config.json ({format, version, **doc, weights_sha256}) into
    `folder`; returns the folder.

    Each file is written atomically, weights first, so a config.json never names missing weights.
    `expected` (e.g. a meta-device module built from the config) must have the same tensors and
    shapes, else nothing is written: a module saved under the wrong config is refused.
    """
    folder = Path(folder)
    clash = [k for k in doc if k in RESERVED_KEYS]
    if clash:
        raise ValueError(f"save_weights: doc may not set reserved key {clash[0]!r}")
    # safetensors needs contiguous CPU tensors; channels_last weights are not NCHW-contiguous.
    tensors = {k: v.detach().cpu().contiguous() for k, v in module.state_dict().items()}
    if expected is not None:
        check_shapes(shapes_of(expected), tensors, folder / weights_file)
    digest = write_safetensors(folder / weights_file, tensors)
    header = {"format": fmt, "version": VERSION}
    write_json(folder / CONFIG_FILE, {**header, **doc, DIGEST_KEY: digest})
    return folder


def load_weights(
    folder: str | os.PathLike,
    fmt: str,
    build: Build,
    weights_file: str = WEIGHTS_FILE,
    what: str = "weights folder",
    device: str | torch.device = "cpu",
) -> Loaded:
    """Load a folder written by `save_weights`; see the module docstring for the checks.

    `build(doc)` makes the untrained module config.json describes; `what` names the format in errors
    ("bundle", "feature net", ...).
    """
    folder = Path(folder).expanduser()
    config_path, weights_path = folder / CONFIG_FILE, folder / weights_file
    config_bytes = read_bytes(config_path)
    doc = parse_tagged_json(config_bytes, config_path, fmt, VERSIONS, what)
    digest = doc.get(DIGEST_KEY)
    if doc["version"] >= 2 and not (isinstance(digest, str) and len(digest) == 64):
        raise LatentkitError(f"{config_path}: {DIGEST_KEY!r} must be the 64-digit SHA-256 of {weights_file}")
    try:
        with torch.device("meta"):
            expected = shapes_of(build(doc))
    except LatentkitError as e:
        raise LatentkitError(f"{config_path}: {e}") from None

    weights_bytes = read_bytes(weights_path)
    try:
        tensors = safetensors.torch.load(weights_bytes)
    except Exception as e:  # safetensors raises its own error type for truncated/garbled files
        raise LatentkitError(f"{weights_path}: not a valid safetensors file ({_one_line(e)})") from None
    check_shapes(expected, tensors, weights_path)
    weights_sha256 = hashlib.sha256(weights_bytes).hexdigest()
    if digest is not None and weights_sha256 != digest:
        raise LatentkitError(
            f"{weights_path}: SHA-256 does not match {CONFIG_FILE}'s {DIGEST_KEY}; the file is corrupt "
            "or was replaced (save the module again)"
        )
    module = build(doc)
    module.load_state_dict(tensors)
    return Loaded(
        module=module.to(device).eval(),
        doc=doc,
        config_sha256=hashlib.sha256(config_bytes).hexdigest(),
        weights_sha256=weights_sha256,
    )


def shapes_of(module: nn.Module) -> dict[str, tuple[int, ...]]:
    """State-dict name -> shape of `module` (works on the meta device)."""
    return {k: tuple(v.shape) for k, v in module.state_dict().items()}


def check_shapes(expected: dict[str, tuple[int, ...]], tensors: dict[str, torch.Tensor], file: Path) -> None:
    """Raise `LatentkitError` naming `file` and the first missing, mis-shaped or unexpected tensor."""
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


def _one_line(e: BaseException) -> str:
    text = str(e).strip()
    return text.splitlines()[0] if text else type(e).__name__
