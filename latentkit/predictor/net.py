"""The attribute predictor's network: attribute specs, `FeatureNet`, and batched inference.

One small CNN, trained on labelled data by `latentkit.predictor.train` (Inception weights cannot be
downloaded behind a firewall), serves two purposes:

- `net.features(x)`: a (N, feature_dim) embedding (the globally pooled last conv block) on which
  `latentkit.metrics` computes FID, KID, precision/recall and density/coverage;
  `net.block_features(x)`: each block's activations, for inversion's perceptual loss;
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
"""

from __future__ import annotations

import contextlib
import itertools
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from latentkit.errors import LatentkitError
from latentkit.pixels import to_float

KINDS = ("binary", "continuous", "categorical")
MAX_CLASSES = 1000
# Modules per stride-2 block (see `_block`). The body stays one flat Sequential rather than one per
# block so the saved tensor names (body.0 ... body.23) of shipped predictors keep loading.
BLOCK_MODULES = 6


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

    def block_features(self, x: torch.Tensor) -> list[torch.Tensor]:
        """x: (N, C, H, W) float in [-1, 1] -> the four blocks' outputs, block i (1..4) of shape
        (N, widths[i], resolution / 2^i, resolution / 2^i); the last one, pooled, is `features`."""
        x = self._prepare(x)
        outputs = []
        for i, module in enumerate(self.body):
            x = module(x)
            if (i + 1) % BLOCK_MODULES == 0:  # the ReLU closing a block
                outputs.append(x)
        return outputs

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

    def scores(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """x: (N, C, H, W) in [-1, 1] -> name -> (N,) differentiable score of every binary (its logit)
        and continuous (label units) attribute; categorical ones are left out."""
        raw = self._split(self(x))
        return {
            a.name: raw[a.name] if a.kind == "binary" else raw[a.name] * a.std + a.mean
            for a in self.attributes
            if a.kind != "categorical"
        }

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
