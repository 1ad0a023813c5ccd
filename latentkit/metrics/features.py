"""latentkit's own feature network: the embedding for FID/KID/k-NN metrics and the attribute predictor.

Inception weights cannot be downloaded behind a firewall, so latentkit trains a small CNN on the
labelled data itself. One network serves two purposes:

- `net.features(x)`: a (N, feature_dim) embedding (the globally pooled last conv block) on which
  `latentkit.metrics` computes FID, KID, precision/recall and density/coverage;
- `net.predict(x)`: every labelled attribute, in label units, used to score samples and to fit
  latent directions.

Each label becomes a head, its kind read from its values (`infer_attribute`):

- binary (values only 0 and 1): one logit, BCE loss; predicted as a probability;
- categorical (integer values in 0..999, other than just 0 and 1; e.g. "digit", "mode"): softmax
  over max + 1 classes, cross-entropy; predicted as a class index;
- continuous (anything else): one value, MSE on the standardised target; the mean and std are
  stored so predictions come back in label units.

Stacked digits: train a single-channel net on plain digits (`load_dataset("digits", size=32)`,
label "digit"), then `predict_channels(net, images)` classifies each colour channel of a stacked
image as its own grey digit; `latentkit.metrics.modes.stacked_mode_ids` combines the three.

A trained net is a bundle folder: config.json (architecture, attribute specs, training report) and
weights.safetensors.
"""

from __future__ import annotations

import contextlib
import itertools
import math
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import safetensors.torch
import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from latentkit.data.base import Dataset
from latentkit.errors import LatentkitError
from latentkit.io import parse_tagged_json, read_bytes, write_bytes, write_json
from latentkit.pixels import to_float

FORMAT = "latentkit-feature-net"
VERSION = 1
CONFIG_FILE = "config.json"
WEIGHTS_FILE = "weights.safetensors"
KINDS = ("binary", "continuous", "categorical")
MAX_CLASSES = 1000


# --- attribute specs -----------------------------------------------------------------------------


@dataclass
class AttributeSpec:
    """One predicted label.

    Attributes:
        name: the label's name in `Dataset.labels`.
        kind: "binary", "continuous" or "categorical".
        classes: number of classes (categorical only; labels are 0..classes-1).
        mean, std: label statistics of the training set (continuous only): the head predicts
            (label - mean) / std.
    """

    name: str
    kind: str
    classes: int = 0
    mean: float = 0.0
    std: float = 1.0

    @property
    def outputs(self) -> int:
        """Width of this attribute's slice of the head."""
        return self.classes if self.kind == "categorical" else 1

    @classmethod
    def from_dict(cls, d: Any, where: str) -> AttributeSpec:
        if not isinstance(d, dict) or not isinstance(d.get("name"), str) or d.get("kind") not in KINDS:
            raise LatentkitError(f"{where}: bad attribute entry {d!r} (needs a name and a kind in {KINDS})")
        try:
            spec = cls(**d)
        except TypeError as e:
            raise LatentkitError(f"{where}: bad attribute entry {d!r} ({e})") from None
        if spec.kind == "categorical" and not 2 <= spec.classes <= MAX_CLASSES:
            raise LatentkitError(f"{where}: attribute {spec.name!r} has classes={spec.classes}")
        if spec.kind == "continuous" and not (math.isfinite(spec.std) and spec.std > 0):
            raise LatentkitError(f"{where}: attribute {spec.name!r} has std={spec.std}")
        return spec


def infer_attribute(name: str, values: np.ndarray) -> AttributeSpec:
    """The spec of label `name` from its training values (N,); see the module docstring for the rules."""
    values = np.asarray(values, dtype=np.float64)
    if len(values) == 0 or not np.isfinite(values).all():
        raise LatentkitError(f"label {name!r}: values must be finite (found NaN/inf or no values)")
    distinct = np.unique(values)
    if len(distinct) < 2:
        raise LatentkitError(f"label {name!r}: has a single value ({distinct[0]:g}); nothing to predict")
    if set(distinct.tolist()) <= {0.0, 1.0}:
        return AttributeSpec(name, "binary")
    integral = np.all(distinct == np.round(distinct))
    if integral and distinct[0] >= 0 and distinct[-1] < MAX_CLASSES:
        return AttributeSpec(name, "categorical", classes=int(distinct[-1]) + 1)
    return AttributeSpec(name, "continuous", mean=float(values.mean()), std=float(values.std()))


# --- the network ---------------------------------------------------------------------------------


def _block(c_in: int, c_out: int) -> list[nn.Module]:
    """Halve the resolution: 3x3 stride-2 conv, then a 3x3 conv; GroupNorm + ReLU after each.

    GroupNorm rather than BatchNorm so an image's features never depend on the rest of its batch, and
    training and evaluation compute the same function.
    """
    return [
        nn.Conv2d(c_in, c_out, 3, 2, 1, bias=False),
        nn.GroupNorm(math.gcd(8, c_out), c_out),
        nn.ReLU(inplace=True),
        nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False),
        nn.GroupNorm(math.gcd(8, c_out), c_out),
        nn.ReLU(inplace=True),
    ]


class FeatureNet(nn.Module):
    """Images (N, channels, H, W) in [-1, 1] -> features (N, feature_dim) -> one head per attribute.

    Four stride-2 blocks of widths (width, 2 width, 4 width, feature_dim), then global average
    pooling, so the same net runs at 32, 64 or 128 px. Inputs whose size differs from `resolution`
    (the training size) are resized to it first (bilinear, antialiased), so e.g. a 32-px digit
    classifier reads 64-px samples.
    """

    def __init__(
        self,
        channels: int,
        resolution: int,
        attributes: list[AttributeSpec],
        width: int = 32,
        feature_dim: int = 128,
    ) -> None:
        super().__init__()
        self.channels, self.resolution = channels, resolution
        self.width, self.feature_dim = width, feature_dim
        self.attributes = list(attributes)
        widths = [channels, width, 2 * width, 4 * width, feature_dim]
        self.body = nn.Sequential(*[m for a, b in itertools.pairwise(widths) for m in _block(a, b)])
        # One linear layer holds every head; `_split` cuts its output into per-attribute slices.
        self.head = nn.Linear(feature_dim, sum(a.outputs for a in self.attributes))

    def architecture(self) -> dict[str, int]:
        """The constructor's size arguments, as saved in config.json."""
        return {
            "channels": self.channels,
            "resolution": self.resolution,
            "width": self.width,
            "feature_dim": self.feature_dim,
        }

    def _prepare(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 4 or x.shape[1] != self.channels:
            raise LatentkitError(
                f"feature net: expected images (N, {self.channels}, H, W), got shape {tuple(x.shape)}"
            )
        if x.shape[-2:] != (self.resolution, self.resolution):
            x = F.interpolate(x, size=(self.resolution,) * 2, mode="bilinear", antialias=True)
        return x

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """x: (N, C, H, W) float in [-1, 1] -> (N, feature_dim) float32 embedding."""
        return self.body(self._prepare(x)).mean(dim=(2, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Raw head outputs (N, total outputs): logits and standardised values side by side."""
        return self.head(self.features(x))

    def _split(self, out: torch.Tensor) -> dict[str, torch.Tensor]:
        """(N, total outputs) -> name -> (N,) logit/value, or (N, classes) logits for categorical."""
        parts, start = {}, 0
        for a in self.attributes:
            piece = out[:, start : start + a.outputs]
            parts[a.name] = piece if a.kind == "categorical" else piece[:, 0]
            start += a.outputs
        return parts

    def predict(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """x: (N, C, H, W) in [-1, 1] -> name -> (N,) in label units.

        Binary: probability of 1. Continuous: the value. Categorical: the class index (int64).
        """
        raw = self._split(self(x))
        pred = {}
        for a in self.attributes:
            r = raw[a.name]
            if a.kind == "binary":
                pred[a.name] = torch.sigmoid(r)
            elif a.kind == "categorical":
                pred[a.name] = r.argmax(dim=1)
            else:
                pred[a.name] = r * a.std + a.mean
        return pred

    def loss(self, x: torch.Tensor, targets: dict[str, torch.Tensor]) -> torch.Tensor:
        """Sum over attributes of BCE / MSE (standardised) / cross-entropy; targets in label units."""
        raw = self._split(self(x))
        total = x.new_zeros(())
        for a in self.attributes:
            r, t = raw[a.name], targets[a.name]
            if a.kind == "binary":
                total = total + F.binary_cross_entropy_with_logits(r, t)
            elif a.kind == "categorical":
                total = total + F.cross_entropy(r, t.long())
            else:
                total = total + F.mse_loss(r, (t - a.mean) / a.std)
        return total


# --- batched inference ---------------------------------------------------------------------------


def _to_float(images: torch.Tensor) -> torch.Tensor:
    """uint8 [0, 255] -> float32 [-1, 1]; float images pass through."""
    if images.dtype == torch.uint8:
        return to_float(images)
    return images.float()


@contextlib.contextmanager
def _evaluating(net: nn.Module):
    """no_grad and eval mode, restoring the module's mode afterwards."""
    was_training = net.training
    net.eval()
    try:
        with torch.no_grad():
            yield
    finally:
        net.train(was_training)


def extract_features(net: FeatureNet, images: torch.Tensor, batch_size: int = 256) -> torch.Tensor:
    """Features (N, feature_dim) float32 of images (N, C, H, W), uint8 or float in [-1, 1]."""
    device = next(net.parameters()).device
    with _evaluating(net):
        parts = [
            net.features(_to_float(images[s : s + batch_size]).to(device)).cpu()
            for s in range(0, len(images), batch_size)
        ]
    return torch.cat(parts) if parts else torch.empty(0, net.feature_dim)


def predict_attributes(net: FeatureNet, images: torch.Tensor, batch_size: int = 256) -> dict[str, np.ndarray]:
    """`net.predict` over images (N, C, H, W), uint8 or float, in batches: name -> (N,) numpy array."""
    device = next(net.parameters()).device
    parts: dict[str, list[np.ndarray]] = {a.name: [] for a in net.attributes}
    with _evaluating(net):
        for s in range(0, len(images), batch_size):
            for name, value in net.predict(_to_float(images[s : s + batch_size]).to(device)).items():
                parts[name].append(value.cpu().numpy())
    return {name: np.concatenate(p) if p else np.empty(0) for name, p in parts.items()}


def predict_channels(
    net: FeatureNet, images: torch.Tensor, attribute: str = "digit", batch_size: int = 256
) -> np.ndarray:
    """Apply a single-channel net to every channel of images (N, C, H, W) separately: (N, C) array.

    This is how a digit classifier trained on grey digits reads stacked digits (one digit per channel).
    """
    if net.channels != 1:
        raise LatentkitError(
            f"predict_channels: needs a single-channel feature net, this one has {net.channels}"
        )
    if attribute not in {a.name for a in net.attributes}:
        raise LatentkitError(f"predict_channels: the feature net does not predict {attribute!r}")
    n, c = images.shape[:2]
    grey = images.reshape(n * c, 1, *images.shape[2:])
    return predict_attributes(net, grey, batch_size)[attribute].reshape(n, c)


# --- training ------------------------------------------------------------------------------------


def _lr_factor(step: int, steps: int) -> float:
    """Linear warm-up over the first 5% of steps, then cosine decay to 0."""
    warmup = max(1, steps // 20)
    if step < warmup:
        return (step + 1) / warmup
    return 0.5 * (1.0 + math.cos(math.pi * (step - warmup) / max(1, steps - warmup)))


def _held_out_scores(net: FeatureNet, dataset: Dataset, index: np.ndarray, batch_size: int) -> dict:
    """name -> {"kind", "accuracy"} (binary, categorical) or {"kind", "r2"} (continuous) on `index`."""
    pred = predict_attributes(net, dataset.data[torch.from_numpy(index)], batch_size)
    scores = {}
    for a in net.attributes:
        truth, p = dataset.labels[a.name][index].astype(np.float64), pred[a.name].astype(np.float64)
        if a.kind == "binary":
            scores[a.name] = {"kind": a.kind, "accuracy": float(np.mean((p > 0.5) == (truth > 0.5)))}
        elif a.kind == "categorical":
            scores[a.name] = {"kind": a.kind, "accuracy": float(np.mean(p == truth))}
        else:
            total = np.sum((truth - truth.mean()) ** 2)
            r2 = 1.0 - np.sum((truth - p) ** 2) / total if total > 0 else float("nan")
            scores[a.name] = {"kind": a.kind, "r2": float(r2)}
    return scores


def train_feature_net(
    dataset: Dataset,
    attributes: list[str] | None = None,
    steps: int | None = None,
    epochs: float = 4.0,
    batch_size: int = 128,
    lr: float = 2e-3,
    seed: int = 0,
    val_fraction: float = 0.1,
    width: int = 32,
    feature_dim: int = 128,
    channels_last: bool = False,
    device: str | torch.device = "cpu",
    progress: bool = True,
) -> tuple[FeatureNet, dict[str, Any]]:
    """Train a `FeatureNet` to predict `attributes` (None: every label with more than one value).

    Args:
        dataset: an image dataset with labels.
        steps: optimiser steps; None means `epochs` passes over the training split.
        val_fraction: share of samples held out (chosen by `seed`) for the report; 0 keeps all.
        channels_last: NHWC memory layout, faster for convolutions on many CPUs.
    Returns:
        the net (eval mode) and a JSON-able report: per-attribute held-out accuracy / R^2, sizes,
        steps, mean loss over the first and last 10% of steps, seconds.
    Same dataset, arguments and seed (and thread count) -> identical weights.
    """
    if not dataset.is_image:
        raise LatentkitError(f"dataset {dataset.name!r}: the feature net needs images, got points")
    if not dataset.labels:
        raise LatentkitError(f"dataset {dataset.name!r}: has no labels to train the feature net on")
    if not 0.0 <= val_fraction < 1.0:
        raise LatentkitError(f"val_fraction must be in [0, 1), got {val_fraction}")
    names = attributes if attributes is not None else _trainable_labels(dataset)
    unknown = [n for n in names if n not in dataset.labels]
    if unknown:
        raise LatentkitError(
            f"dataset {dataset.name!r}: no label {unknown[0]!r} (has {', '.join(dataset.labels)})"
        )
    if not names:
        raise LatentkitError(f"dataset {dataset.name!r}: no label has more than one value")

    n = len(dataset)
    order = np.random.default_rng(seed).permutation(n)
    n_val = round(n * val_fraction)
    val_index, train_index = np.sort(order[:n_val]), order[n_val:]
    if len(train_index) < 2:
        raise LatentkitError(
            f"dataset {dataset.name!r}: need at least 2 training samples, got {len(train_index)}"
        )
    specs = [infer_attribute(name, dataset.labels[name][train_index]) for name in names]

    with torch.random.fork_rng(devices=[]):  # seed the init without touching the caller's RNG
        torch.manual_seed(seed)
        net = FeatureNet(dataset.shape[0], dataset.shape[1], specs, width, feature_dim)
    memory_format = torch.channels_last if channels_last else torch.contiguous_format
    net = net.to(device, memory_format=memory_format).train()
    opt = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=1e-4)
    batch_size = min(batch_size, len(train_index))
    steps = steps if steps is not None else max(1, round(epochs * len(train_index) / batch_size))
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: _lr_factor(s, steps))
    labels = {name: torch.from_numpy(dataset.labels[name].astype(np.float32)) for name in names}
    batches = _index_batches(train_index, batch_size, seed)

    losses, start = [], time.perf_counter()
    bar = tqdm(range(steps), desc="feature net", disable=not progress, leave=False)
    for step in bar:
        idx = torch.from_numpy(next(batches))
        x = dataset.batch(idx).to(device, memory_format=memory_format)
        loss = net.loss(x, {name: labels[name][idx].to(device) for name in names})
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        losses.append(loss.item())
        if step % 20 == 0:
            bar.set_postfix(loss=f"{loss.item():.3f}")
    seconds = time.perf_counter() - start

    net.eval()
    tail = max(1, steps // 10)
    report = {
        "dataset": dataset.name,
        "train_size": len(train_index),
        "val_size": len(val_index),
        "steps": steps,
        "batch_size": batch_size,
        "lr": lr,
        "seed": seed,
        "loss_first": float(np.mean(losses[:tail])),
        "loss_last": float(np.mean(losses[-tail:])),
        "seconds": round(seconds, 2),
        "attributes": _held_out_scores(net, dataset, val_index, 256) if len(val_index) else {},
    }
    return net, report


def _trainable_labels(dataset: Dataset) -> list[str]:
    """Every label with more than one distinct value."""
    return [name for name, v in dataset.labels.items() if len(np.unique(v)) > 1]


def _index_batches(index: np.ndarray, batch_size: int, seed: int):
    """Endless batches of `index`: a fresh seeded permutation per epoch, the ragged tail dropped."""
    rng = np.random.default_rng(seed + 1)
    while True:
        perm = rng.permutation(index)
        for s in range(0, len(perm) - batch_size + 1, batch_size):
            yield perm[s : s + batch_size]


# --- save / load ---------------------------------------------------------------------------------


def save_feature_net(path: str | os.PathLike, net: FeatureNet, report: dict[str, Any] | None = None) -> Path:
    """Write `net` as a folder: weights.safetensors, then config.json (architecture, attributes, report)."""
    path = Path(path)
    # safetensors needs contiguous CPU tensors; channels_last weights are not NCHW-contiguous.
    tensors = {k: v.detach().cpu().contiguous() for k, v in net.state_dict().items()}
    write_bytes(path / WEIGHTS_FILE, safetensors.torch.save(tensors))
    write_json(
        path / CONFIG_FILE,
        {
            "format": FORMAT,
            "version": VERSION,
            "architecture": net.architecture(),
            "attributes": [asdict(a) for a in net.attributes],
            "report": report or {},
        },
    )
    return path


def load_feature_net(path: str | os.PathLike, device: str | torch.device = "cpu") -> tuple[FeatureNet, dict]:
    """Load a folder written by `save_feature_net`: (net in eval mode, training report).

    Every defect (missing file, bad JSON, wrong format, corrupt or mismatched weights) is a
    `LatentkitError` naming the file.
    """
    path = Path(path).expanduser()
    config_path, weights_path = path / CONFIG_FILE, path / WEIGHTS_FILE
    doc = _read_config(config_path)
    arch = doc.get("architecture")
    keys = ("channels", "resolution", "width", "feature_dim")
    if not isinstance(arch, dict) or not all(isinstance(arch.get(k), int) and arch[k] > 0 for k in keys):
        raise LatentkitError(f"{config_path}: 'architecture' needs positive integers {', '.join(keys)}")
    specs = doc.get("attributes")
    if not isinstance(specs, list) or not specs:
        raise LatentkitError(f"{config_path}: 'attributes' must be a non-empty list")
    specs = [AttributeSpec.from_dict(s, str(config_path)) for s in specs]
    net = FeatureNet(attributes=specs, **{k: arch[k] for k in keys})

    try:
        tensors = safetensors.torch.load(read_bytes(weights_path))
    except LatentkitError:
        raise
    except Exception as e:  # safetensors raises its own error type for truncated/garbled files
        raise LatentkitError(f"{weights_path}: not a valid safetensors file ({e})") from None
    expected = {k: tuple(v.shape) for k, v in net.state_dict().items()}
    for key, shape in expected.items():
        if key not in tensors:
            raise LatentkitError(f"{weights_path}: missing tensor {key!r}")
        if tuple(tensors[key].shape) != shape:
            raise LatentkitError(
                f"{weights_path}: tensor {key!r} has shape {tuple(tensors[key].shape)}, config needs {shape}"
            )
    extra = sorted(set(tensors) - set(expected))
    if extra:
        raise LatentkitError(f"{weights_path}: unexpected tensor {extra[0]!r}")
    net.load_state_dict(tensors)
    report = doc.get("report") if isinstance(doc.get("report"), dict) else {}
    return net.to(device).eval(), report


def _read_config(path: Path) -> dict[str, Any]:
    return parse_tagged_json(read_bytes(path), path, FORMAT, VERSION, what="feature net")
