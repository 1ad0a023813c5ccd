"""Every option of a training run, as one plain dataclass saved as the run's `config.json`.

A run can be reproduced from that file alone (`latentkit train --config RUN/config.json`), and
`--resume` reads it back, so the options of a resumed run cannot drift from the original.
"""

from __future__ import annotations

import dataclasses
import json
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from latentkit.errors import LatentkitError
from latentkit.models.config import ModelConfig
from latentkit.train.augment import parse_policy
from latentkit.train.losses import LOSSES

DEVICES = ("auto", "cpu", "cuda")


@dataclass
class TrainConfig:
    """Options of one training run (the CLI flags are the same names with dashes).

    Optimiser fields left as None take the loss's published defaults (DCGAN's Adam 2e-4, betas
    0.5/0.999 for ns/minimax/hinge/lsgan; WGAN-GP's 1e-4, betas 0/0.9 and 5 D steps).
    """

    dataset: str = "faces"
    size: int = 64  # image side in pixels (ignored for 2D point data)
    data_n: int | None = None  # samples of a procedural dataset; None = its default
    data_seed: int = 0
    model: ModelConfig = field(default_factory=ModelConfig)
    loss: str = "ns"
    r1_gamma: float = 0.0  # R1 penalty weight on real data (0 = off)
    real_label: float = 1.0  # 0.9 = one-sided label smoothing (ns and minimax)
    feature_matching: bool = False  # G matches D's mean trunk features instead of its logit
    unrolled_steps: int = 0  # G is scored by D unrolled this many Adam steps ahead (0 = off)
    diffaugment: str = ""  # e.g. "color,translation,cutout" (images only)
    steps: int = 20_000  # total generator steps; --resume continues up to this
    batch_size: int = 64  # per process
    n_critic: int | None = None  # D steps per G step
    lr_g: float | None = None
    lr_d: float | None = None
    beta1: float | None = None
    beta2: float | None = None
    ema: float = 0.999  # decay of the generator's moving average (0 = off)
    seed: int = 0
    deterministic: bool = False
    device: str = "auto"
    channels_last: bool = True
    sync_bn: bool = False  # SyncBatchNorm across processes under torchrun
    log_every: int = 10
    sample_every: int = 500
    checkpoint_every: int = 500
    keep_checkpoints: int = 3
    eval_every: int = 0  # steps between FID evaluations (0 = off); the best model is kept in RUN/best
    eval_features: str | None = None  # feature network bundle for image FID (latentkit attributes train)
    eval_samples: int = 2000

    def validate(self) -> TrainConfig:
        """Raise `LatentkitError` naming the first bad field; return self."""
        self.model.validate()
        if self.loss not in LOSSES:
            raise LatentkitError(f"train config: loss={self.loss!r} is unknown (valid: {', '.join(LOSSES)})")
        if self.device not in DEVICES:
            raise LatentkitError(f"train config: device={self.device!r} is not one of {', '.join(DEVICES)}")
        positive = (
            "steps",
            "batch_size",
            "log_every",
            "sample_every",
            "checkpoint_every",
            "keep_checkpoints",
        )
        for name in positive:
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise LatentkitError(f"train config: {name}={value!r} must be a positive integer")
        if self.data_n is not None and self.data_n < 1:
            raise LatentkitError(
                f"train config: data_n={self.data_n} must be >= 1 (or unset for the default)"
            )
        if self.data_seed < 0 or self.seed < 0:
            raise LatentkitError(
                f"train config: data_seed={self.data_seed} and seed={self.seed} must be >= 0"
            )
        if self.n_critic is not None and self.n_critic < 1:
            raise LatentkitError(f"train config: n_critic={self.n_critic} must be >= 1")
        for name in ("lr_g", "lr_d"):
            value = getattr(self, name)
            if value is not None and not value > 0:
                raise LatentkitError(f"train config: {name}={value} must be > 0")
        for name in ("beta1", "beta2"):
            value = getattr(self, name)
            if value is not None and not 0 <= value < 1:
                raise LatentkitError(f"train config: {name}={value} must be in [0, 1)")
        if self.eval_every < 0 or self.eval_samples < 20:
            raise LatentkitError("train config: eval_every must be >= 0 and eval_samples >= 20")
        if not 0 <= self.ema < 1:
            raise LatentkitError(f"train config: ema={self.ema} must be in [0, 1) (0 turns it off)")
        if not 0 < self.real_label <= 1:
            raise LatentkitError(f"train config: real_label={self.real_label} must be in (0, 1]")
        if self.r1_gamma < 0:
            raise LatentkitError(f"train config: r1_gamma={self.r1_gamma} must be >= 0")
        if not isinstance(self.unrolled_steps, int) or self.unrolled_steps < 0:
            raise LatentkitError(f"train config: unrolled_steps={self.unrolled_steps!r} must be >= 0")
        try:
            parse_policy(self.diffaugment)
        except ValueError as e:
            raise LatentkitError(f"train config: diffaugment={self.diffaugment!r}: {e}") from None
        if self.batch_size % self.model.pack:
            raise LatentkitError(
                f"train config: batch_size={self.batch_size} must be a multiple of "
                f"model.pack={self.model.pack}"
            )
        if self.size < 8 or self.size & (self.size - 1):
            raise LatentkitError(f"train config: size={self.size} must be a power of two")
        return self

    def to_dict(self) -> dict[str, Any]:
        """All options as a JSON-able dict (the model as a nested dict)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any], source: str = "train config") -> TrainConfig:
        """Build from a dict such as a parsed config file; unknown keys are an error."""
        if not isinstance(d, dict):
            raise LatentkitError(f"{source}: expected a table of options, got {type(d).__name__}")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise LatentkitError(
                f"{source}: unknown option {unknown[0]!r} (valid: {', '.join(sorted(known))})"
            )
        d = dict(d)
        d["model"] = ModelConfig.from_dict(d.get("model", {}))
        types = {f.name: f.type for f in dataclasses.fields(cls)}
        for key, value in d.items():
            _check_type(key, value, types[key], source)
        return cls(**d)


def _check_type(key: str, value: Any, annotation: str, source: str) -> None:
    """A light check that a config value has the annotated type (int, float, str, bool, or None)."""
    if key == "model":
        return
    if value is None:
        if "None" not in annotation:
            raise LatentkitError(f"{source}: {key} must not be null")
        return
    base = annotation.split("|")[0].strip()
    ok = {
        "int": isinstance(value, int) and not isinstance(value, bool),
        "float": isinstance(value, (int, float)) and not isinstance(value, bool),
        "str": isinstance(value, str),
        "bool": isinstance(value, bool),
    }.get(base, True)
    if not ok:
        raise LatentkitError(f"{source}: {key}={value!r} must be {base}")


def read_config_file(path: str | Path) -> dict[str, Any]:
    """Parse a JSON or TOML config file into a dict (by extension; .toml is TOML, else JSON)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise LatentkitError(f"{path}: cannot read config ({e.strerror or e})") from None
    except UnicodeDecodeError:
        raise LatentkitError(f"{path}: not UTF-8 text") from None
    try:
        doc = tomllib.loads(text) if path.suffix.lower() == ".toml" else json.loads(text)
    except (tomllib.TOMLDecodeError, json.JSONDecodeError) as e:
        raise LatentkitError(f"{path}: invalid config file ({e})") from None
    except RecursionError:
        raise LatentkitError(f"{path}: invalid config file (nested too deeply)") from None
    if not isinstance(doc, dict):
        raise LatentkitError(f"{path}: expected a table of options, got {type(doc).__name__}")
    if not isinstance(doc.get("model", {}), dict):
        raise LatentkitError(f"{path}: 'model' must be a table of model options")
    return doc
