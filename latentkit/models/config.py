"""The one description of a network pair: a plain dataclass, saved as JSON inside every bundle.

`ModelConfig` only stores hyper-parameters; `latentkit.models.build_generator(cfg)` and
`build_discriminator(cfg)` turn it into modules. Fields that do not apply to the chosen `kind`
(e.g. `hidden` for a DCGAN) are kept but ignored, so one dataclass serves both families.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from latentkit.errors import LatentkitError

KINDS = ("dcgan", "mlp")
G_NORMS = ("batch", "none")
D_NORMS = ("batch", "none", "spectral", "layer", "instance")
UPSAMPLES = ("transpose", "resize")
MINIBATCH = ("none", "stddev", "discrimination")
MIN_RESOLUTION, MAX_RESOLUTION = 32, 256
MAX_SIZE = 16_384  # cap on widths, depths and counts: far above any real model, far below an OOM


@dataclass
class ModelConfig:
    """Hyper-parameters of a generator/discriminator pair.

    Attributes:
        kind: "dcgan" (images) or "mlp" (points, e.g. 2D toy mixtures).
        resolution: dcgan image side in pixels, a power of two in [32, 256].
        channels: dcgan image channels (1 grey, 3 RGB).
        latent_dim: size of z.
        ngf, ndf: dcgan base widths of G and D; the widest stage is 8x this.
        g_norm: normalisation in G's hidden layers, "batch" or "none".
        d_norm: normalisation in D: "batch", "none", "spectral", "layer" (GroupNorm with one group)
            or "instance" (dcgan only). Batch norm is invalid with a gradient penalty.
        upsample: dcgan G upsampling, "transpose" (4x4 stride-2 transposed conv) or "resize"
            (nearest 2x + 3x3 conv, which avoids checkerboard artefacts; Odena et al. 2016).
        data_dim: mlp sample size (2 for the toy mixtures).
        hidden, depth: mlp hidden width and number of hidden layers.
        pack: PacGAN packing, D judges this many samples at once (1 = off).
        minibatch: a batch-level layer before D's head: "none", "stddev" (minibatch standard
            deviation) or "discrimination" (Salimans et al.'s minibatch discrimination).
    """

    kind: str = "dcgan"
    resolution: int = 64
    channels: int = 3
    latent_dim: int = 128
    ngf: int = 64
    ndf: int = 64
    g_norm: str = "batch"
    d_norm: str = "batch"
    upsample: str = "transpose"
    data_dim: int = 2
    hidden: int = 256
    depth: int = 3
    pack: int = 1
    minibatch: str = "none"

    def validate(self) -> ModelConfig:
        """Raise `LatentkitError` naming the first bad field; return self so calls can chain."""
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            expected = int if f.type == "int" else str
            # bool is a subclass of int, but `channels: true` is a mistake, not 1.
            if not isinstance(value, expected) or isinstance(value, bool):
                raise LatentkitError(f"model config: {f.name}={value!r} must be {expected.__name__}")
        _check_choice("kind", self.kind, KINDS)
        _check_choice("g_norm", self.g_norm, G_NORMS)
        _check_choice("d_norm", self.d_norm, D_NORMS)
        _check_choice("upsample", self.upsample, UPSAMPLES)
        _check_choice("minibatch", self.minibatch, MINIBATCH)
        for name in ("channels", "latent_dim", "ngf", "ndf", "data_dim", "hidden", "depth", "pack"):
            if not 1 <= getattr(self, name) <= MAX_SIZE:
                raise LatentkitError(f"model config: {name}={getattr(self, name)} must be in 1..{MAX_SIZE}")
        if self.kind == "dcgan":
            r = self.resolution
            if r & (r - 1) or not MIN_RESOLUTION <= r <= MAX_RESOLUTION:
                raise LatentkitError(
                    f"model config: resolution={r} must be a power of two between "
                    f"{MIN_RESOLUTION} and {MAX_RESOLUTION}"
                )
        if self.kind == "mlp" and self.d_norm == "instance":
            raise LatentkitError("model config: d_norm=instance needs images (kind=dcgan); use layer")
        return self

    def to_dict(self) -> dict[str, Any]:
        """All fields as a JSON-able dict."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ModelConfig:
        """Build and validate a config; missing keys take defaults, unknown keys are an error."""
        if not isinstance(d, dict):
            raise LatentkitError(f"model config: expected a JSON object, got {type(d).__name__}")
        known = {f.name for f in dataclasses.fields(cls)}
        for key in d:
            if key not in known:
                raise LatentkitError(f"model config: unknown key {key!r} (valid: {', '.join(sorted(known))})")
        return cls(**d).validate()


def _check_choice(name: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise LatentkitError(f"model config: {name}={value!r} is not one of {', '.join(choices)}")
