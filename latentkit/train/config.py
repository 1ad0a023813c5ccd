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
from latentkit.models.config import FAMILIES, family_fields
from latentkit.train.augment import parse_policy
from latentkit.train.losses import LOSSES
from latentkit.train.precision import PRECISIONS
from latentkit.train.schedule import SCHEDULES

DEVICES = ("auto", "cpu", "cuda")
UPDATES = ("sequential", "simultaneous")  # how one step orders D's and G's updates (objective.py)


def _opt(default: Any, help: str) -> Any:
    """A training option with its command-line help (the flag is the name with dashes)."""
    return field(default=default, metadata={"help": help})


@dataclass
class TrainConfig:
    """Options of one training run; every field is a CLI flag of the same name with dashes.

    `model` holds the network options the user chose (any fields of a family's config in
    `latentkit.models.config`); the family and its shape fields come from the data at the start of
    training (`config_for_data`), and the run's config.json records the resolved model config.
    Optimiser fields left as None take the loss's published defaults (DCGAN's Adam 2e-4, betas
    0.5/0.999 for ns/minimax/hinge/lsgan; WGAN-GP's 1e-4, betas 0/0.9 and 5 D steps).
    """

    dataset: str = _opt("faces", "faces, ring, grid, digits, stacked-digits, or a folder of images")
    size: int = _opt(64, "image side in pixels, a power of two (ignored for 2D point data)")
    data_n: int | None = _opt(None, "samples of a procedural dataset (default: its own)")
    data_seed: int = _opt(0, "seed of the procedural dataset")
    model: dict[str, Any] = field(default_factory=dict, metadata={"help": "network options (models.config)"})
    loss: str = _opt("ns", f"the game: {', '.join(LOSSES)}")
    r1_gamma: float = _opt(0.0, "R1 penalty weight on real data (0 = off)")
    r2_gamma: float = _opt(0.0, "R2 penalty weight on generated data (0 = off; R3GAN uses r1 = r2)")
    reg_every: int = _opt(1, "compute R1/R2 every k steps, scaled by k (StyleGAN2's lazy regularisation)")
    gamma_schedule: str = _opt("constant", f"R1/R2 weight over the run: {', '.join(SCHEDULES)} (to a tenth)")
    real_label: float = _opt(1.0, "real target of ns/minimax; 0.9 = one-sided label smoothing")
    feature_matching: bool = _opt(False, "G matches D's mean features instead of its logit (Salimans et al.)")
    unrolled_steps: int = _opt(0, "score G against D unrolled this many Adam steps ahead (Metz et al.)")
    diffaugment: str = _opt("", "DiffAugment policies for D's inputs, e.g. color,translation,cutout")
    updates: str = _opt(
        "sequential",
        "sequential: D steps, then G against the new D; simultaneous: both from one batch, each against "
        "the other's old weights (the ALI algorithm of PacGAN's 2D code)",
    )
    g_per_slot: bool = _opt(
        False,
        "PacGAN: G makes each of D's pack slots as a batch of its own, so its batch norm sees "
        "batch_size / pack samples (PacGAN's code ran G once per slot)",
    )
    style_mixing: float = _opt(
        0.0, "share of batches whose layers take two ws (StyleGAN's mixing regularisation, 0.9; style G only)"
    )
    steps: int = _opt(20_000, "total generator steps (--resume continues up to this)")
    batch_size: int = _opt(64, "batch size per process")
    n_critic: int | None = _opt(None, "discriminator steps per generator step (default: the loss's)")
    lr_g: float | None = _opt(None, "generator learning rate (default: the loss's)")
    lr_d: float | None = _opt(None, "discriminator learning rate (default: the loss's)")
    beta1: float | None = _opt(None, "Adam beta1 (default: the loss's)")
    beta2: float | None = _opt(None, "Adam beta2 (default: the loss's)")
    lr_schedule: str = _opt("constant", f"learning rates over the run: {', '.join(SCHEDULES)} (to a tenth)")
    ema_kimg: float | None = _opt(
        None,
        "half-life of G's moving average in 1000s of images (0 = off; default 10 for images, 0 for points)",
    )
    ema_rampup: float = _opt(
        0.05, "EMA ramp-up: the half-life is at most this times the images seen (0 = none)"
    )
    ema: float | None = _opt(None, "fixed EMA decay per step instead of --ema-kimg (as older runs; 0 = off)")
    seed: int = _opt(0, "seed of weights, batches and noise")
    deterministic: bool = _opt(False, "use deterministic algorithms only (bit-identical reruns)")
    device: str = _opt("auto", "auto, cpu or cuda")
    precision: str = _opt(
        "auto", "auto, fp32, bf16 or fp16 (auto: bf16 for images where it is native, else fp32)"
    )
    channels_last: bool = _opt(
        True, "channels-last memory format for DCGAN image models (faster on CPU; resnet models never)"
    )
    sync_bn: bool = _opt(False, "SyncBatchNorm across processes under torchrun")
    log_every: int = _opt(10, "steps between log lines")
    sample_every: int = _opt(500, "steps between sample grids")
    checkpoint_every: int = _opt(500, "steps between checkpoints")
    keep_checkpoints: int = _opt(3, "checkpoints kept")
    eval_every: int = _opt(0, "steps between FID evaluations; the best model is kept in RUN/best (0 = off)")
    eval_features: str | None = _opt(None, "feature network for --eval-every on images")
    eval_samples: int = _opt(2000, "samples per FID evaluation")

    def validate(self) -> TrainConfig:
        """Raise `LatentkitError` naming the first bad field; return self."""
        check_model_options(self.model, "train config: model")
        if self.loss not in LOSSES:
            raise LatentkitError(f"train config: loss={self.loss!r} is unknown (valid: {', '.join(LOSSES)})")
        if self.precision not in PRECISIONS:
            raise LatentkitError(
                f"train config: precision={self.precision!r} is not one of {', '.join(PRECISIONS)}"
            )
        if self.device not in DEVICES:
            raise LatentkitError(f"train config: device={self.device!r} is not one of {', '.join(DEVICES)}")
        positive = (
            "steps",
            "batch_size",
            "log_every",
            "sample_every",
            "checkpoint_every",
            "keep_checkpoints",
            "reg_every",
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
        if not 0 <= self.style_mixing <= 1:
            raise LatentkitError(f"train config: style_mixing={self.style_mixing} must be in [0, 1]")
        if self.ema is not None and not 0 <= self.ema < 1:
            raise LatentkitError(f"train config: ema={self.ema} must be in [0, 1) (0 turns it off)")
        if self.ema is not None and self.ema_kimg is not None:
            raise LatentkitError(
                f"train config: ema={self.ema} and ema_kimg={self.ema_kimg} both set the moving average; "
                "keep one (ema_kimg, a half-life in images, does not depend on the batch size)"
            )
        if (self.ema_kimg is not None and not self.ema_kimg >= 0) or not self.ema_rampup >= 0:
            raise LatentkitError(
                f"train config: ema_kimg={self.ema_kimg} and ema_rampup={self.ema_rampup} must be >= 0"
            )
        if not 0 < self.real_label <= 1:
            raise LatentkitError(f"train config: real_label={self.real_label} must be in (0, 1]")
        for name in ("r1_gamma", "r2_gamma"):
            if getattr(self, name) < 0:
                raise LatentkitError(f"train config: {name}={getattr(self, name)} must be >= 0")
        for name in ("gamma_schedule", "lr_schedule"):
            if getattr(self, name) not in SCHEDULES:
                raise LatentkitError(
                    f"train config: {name}={getattr(self, name)!r} is not one of {', '.join(SCHEDULES)}"
                )
        if self.updates not in UPDATES:
            raise LatentkitError(f"train config: updates={self.updates!r} is not one of {', '.join(UPDATES)}")
        if self.g_per_slot and self.model.get("pack", 1) == 1:
            raise LatentkitError("train config: g_per_slot needs a packed D (model.pack > 1)")
        if self.g_per_slot and self.style_mixing:
            raise LatentkitError("train config: g_per_slot and style_mixing cannot be combined; turn one off")
        if not isinstance(self.unrolled_steps, int) or self.unrolled_steps < 0:
            raise LatentkitError(f"train config: unrolled_steps={self.unrolled_steps!r} must be >= 0")
        try:
            parse_policy(self.diffaugment)
        except ValueError as e:
            raise LatentkitError(f"train config: diffaugment={self.diffaugment!r}: {e}") from None
        pack = self.model.get("pack", 1)
        if isinstance(pack, int) and pack >= 1 and self.batch_size % pack:
            raise LatentkitError(
                f"train config: batch_size={self.batch_size} must be a multiple of model.pack={pack}"
            )
        if self.size < 8 or self.size & (self.size - 1):
            raise LatentkitError(f"train config: size={self.size} must be a power of two")
        return self

    def to_dict(self) -> dict[str, Any]:
        """All options as a JSON-able dict (the model options as a nested dict)."""
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
        if not isinstance(d.get("model", {}), dict):
            raise LatentkitError(f"{source}: 'model' must be a table of model options")
        d["model"] = _migrate_union(dict(d.get("model", {})))
        types = {f.name: f.type for f in dataclasses.fields(cls)}
        for key, value in d.items():
            _check_type(key, value, types[key], source)
        return cls(**d)


# The model options before families existed: every field, at these defaults, in each run's config.json.
_UNION_DEFAULTS = {
    "kind": "dcgan", "resolution": 64, "channels": 3, "latent_dim": 128, "ngf": 64, "ndf": 64,
    "g_norm": "batch", "d_norm": "batch", "upsample": "transpose", "data_dim": 2, "hidden": 256,
    "depth": 3, "pack": 1, "minibatch": "none",
}  # fmt: skip


def _migrate_union(model: dict[str, Any]) -> dict[str, Any]:
    """A pre-family run's model options (all 14 fields): keep only what the user changed.

    Such runs took kind, resolution, channels and data_dim from the data, switched an MLP's default
    batch norms off, and ignored the other family's fields, so only changed values carry meaning.
    """
    if set(model) != set(_UNION_DEFAULTS):
        return model
    shape = ("kind", "resolution", "channels", "data_dim")
    return {k: v for k, v in model.items() if k not in shape and v != _UNION_DEFAULTS[k]}


def check_model_options(model: dict[str, Any], source: str) -> None:
    """Each key names a field of some model family (values are checked once the family is known)."""
    known = {name for cls in FAMILIES.values() for name in family_fields(cls)} | {"kind"}
    for key in model:
        if key not in known:
            raise LatentkitError(f"{source}: unknown option {key!r} (valid: {', '.join(sorted(known))})")


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
