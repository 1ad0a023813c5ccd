"""The run directory's rules: what a new run needs, and what a resumed run may change.

A new run takes a new or empty folder (never one holding a run, a dead run's log, or the user's own
files); a resumed run trains with its saved config.json and may change only `RESUMABLE` fields.
"""

from __future__ import annotations

from pathlib import Path

from latentkit.errors import LatentkitError
from latentkit.io import read_json
from latentkit.train.checkpoint import list_checkpoints
from latentkit.train.config import TrainConfig

# What a resumed run may change: how long it runs, where, and how often it reports.
RESUMABLE = ("steps", "device", "log_every", "sample_every", "checkpoint_every", "keep_checkpoints")


def prepare_run(cfg: TrainConfig, out: Path, resume: bool) -> TrainConfig:
    """Check the run directory against `resume` and return the config to train with.

    A new run needs a new or empty folder (never one holding a run, a dead run's log or the user's
    own files). A resumed run trains with the saved config.json: `cfg` may change only `RESUMABLE`
    fields; any other difference is an error naming the field, never silently ignored.
    """
    if out.exists() and not out.is_dir():
        raise LatentkitError(f"{out}: is a file; --out names the run folder")
    if not resume:
        if (out / "checkpoints").is_dir() and list_checkpoints(out / "checkpoints"):
            raise LatentkitError(
                f"{out}: already holds a run; pass --resume to continue it or choose a new --out"
            )
        if out.is_dir() and any(out.iterdir()):
            raise LatentkitError(f"{out}: is not empty; a new run needs a new or empty folder")
        return cfg
    if not (out / "config.json").exists():
        raise LatentkitError(f"{out}: no config.json, so nothing to resume (start it without --resume)")
    source = str(out / "config.json")
    saved = TrainConfig.from_dict(read_json(out / "config.json"), source=source).validate()
    _check_unchanged(saved, cfg, source)
    for name in RESUMABLE:
        setattr(saved, name, getattr(cfg, name))
    return saved.validate()


def _check_unchanged(saved: TrainConfig, cfg: TrainConfig, source: str) -> None:
    """Refuse a resume whose options differ from the run's own beyond `RESUMABLE` (model options
    are compared where `cfg` sets them: the saved config holds every field of the resolved model)."""
    new = cfg.to_dict()
    changed = [
        (k, v, new[k]) for k, v in saved.to_dict().items() if k not in ("model", *RESUMABLE) and new[k] != v
    ]
    changed += [
        (f"model.{k}", saved.model.get(k), v) for k, v in cfg.model.items() if saved.model.get(k, v) != v
    ]
    if changed:
        key, theirs, yours = changed[0]
        raise LatentkitError(
            f"{source}: the run has {key}={theirs!r}, not {yours!r}; a resumed run keeps its options "
            f"(only {', '.join(RESUMABLE)} may change): start a new run to change it"
        )
