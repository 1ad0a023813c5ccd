"""A trained attribute predictor on disk: a weights folder (`latentkit.models.weights`).

    <folder>/config.json          {"format": "latentkit-feature-net", "version": 2, "architecture": ...,
                                   "attributes": [AttributeSpec...], "report": ..., "weights_sha256": ...}
    <folder>/weights.safetensors

A bundle may ship its own predictor as BUNDLE/predictor (`bundle_predictor` finds it).
"""

from __future__ import annotations

import os
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch

from latentkit.errors import LatentkitError
from latentkit.models import weights
from latentkit.predictor.net import AttributeSpec, FeatureNet

FORMAT = "latentkit-feature-net"
WEIGHTS_FILE = weights.WEIGHTS_FILE
BUNDLE_FOLDER = "predictor"  # BUNDLE/predictor: the bundle's own predictor
ARCHITECTURE = ("channels", "resolution", "width", "feature_dim")


def save_feature_net(path: str | os.PathLike, net: FeatureNet, report: dict[str, Any] | None = None) -> Path:
    """Write `net` as a weights folder at `path` (architecture, attribute specs, training report)."""
    doc = {
        "architecture": net.architecture(),
        "attributes": [asdict(a) for a in net.attributes],
        "report": report or {},
    }
    return weights.save_weights(path, net, FORMAT, doc, WEIGHTS_FILE)


def load_feature_net(path: str | os.PathLike, device: str | torch.device = "cpu") -> tuple[FeatureNet, dict]:
    """Load a folder written by `save_feature_net`: (net in eval mode, training report).

    Every defect (missing file, bad JSON, wrong format, corrupt or mismatched weights, a config
    claiming a huge network) is a `LatentkitError` naming the file.
    """
    loaded = weights.load_weights(path, FORMAT, _build, WEIGHTS_FILE, "feature net", device)
    report = loaded.doc.get("report")
    return loaded.module, report if isinstance(report, dict) else {}


def bundle_predictor(bundle) -> tuple[FeatureNet, Path] | None:
    """(the bundle's own predictor, its folder) when `bundle` (a loaded `Bundle`) ships one as
    BUNDLE/predictor, else None."""
    folder = Path(bundle.path) / BUNDLE_FOLDER
    if not folder.is_dir():
        return None
    return load_feature_net(folder)[0], folder


def _build(doc: dict[str, Any]) -> FeatureNet:
    """The untrained `FeatureNet` a predictor's config.json describes (a `weights.Build`)."""
    arch = doc.get("architecture")
    if not isinstance(arch, dict) or not all(
        isinstance(arch.get(k), int) and arch[k] > 0 for k in ARCHITECTURE
    ):
        raise LatentkitError(f"'architecture' needs positive integers {', '.join(ARCHITECTURE)}")
    specs = doc.get("attributes")
    if not isinstance(specs, list) or not specs:
        raise LatentkitError("'attributes' must be a non-empty list")
    specs = [AttributeSpec.from_dict(s, "attributes") for s in specs]
    return FeatureNet(attributes=specs, **{k: arch[k] for k in ARCHITECTURE})
