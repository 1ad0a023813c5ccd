"""Edit recipes: batches of edit jobs read from a JSON or TOML file, and the images each job makes.

A recipe (`latentkit edit --recipe FILE.toml|.json`) is a list of edit jobs; each key is optional
and defaults to the command-line value:

    [[jobs]]
    name = "smiling"              # subfolder of --out ("" = --out itself)
    seeds = "0-9"                 # or: latent = "z.npy" (relative to the recipe file)
    edits = { smile = 2.0, age = -1.0 }
    hold = ["glasses"]            # directions held fixed while editing
    mode = "relative"             # or "absolute"
    sweep = "smile=-3:3:7"
    psi = 0.7

A JSON recipe is {"jobs": [...]} or the bare list.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from latentkit.errors import LatentkitError

JOB_KEYS = ("name", "seeds", "latent", "edits", "hold", "mode", "sweep", "psi")
DEPRECATED_KEYS = {"conditional": "hold"}  # old key -> new key, still read


@dataclass
class EditJob:
    """One batch of edits: which latents, which edits, where (a subfolder of --out)."""

    name: str = ""
    seeds: list[int] | None = None
    latent: Path | None = None
    edits: dict[str, float] = field(default_factory=dict)
    hold: list[str] = field(default_factory=list)
    mode: str = "relative"
    sweep: str | None = None
    psi: float = 1.0


def read_recipe(path: str | Path, defaults: EditJob) -> list[EditJob]:
    """Parse a JSON or TOML recipe into jobs; missing keys take `defaults`' values."""
    import tomllib

    from latentkit.io import read_json
    from latentkit.latent.sampling import parse_seeds

    path = Path(path)
    if path.suffix == ".toml":
        try:
            doc = tomllib.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise LatentkitError(f"{path}: file not found") from None
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
            raise LatentkitError(f"{path}: invalid TOML ({e})") from None
        except RecursionError:
            raise LatentkitError(f"{path}: invalid TOML (nested too deeply)") from None
    elif path.suffix == ".json":
        doc = read_json(path)
    else:
        raise LatentkitError(f"{path}: a recipe is a .json or .toml file")
    jobs = doc.get("jobs") if isinstance(doc, dict) else doc
    if not isinstance(jobs, list) or not jobs:
        raise LatentkitError(f"{path}: expected a non-empty list of jobs (a 'jobs' list or [[jobs]] tables)")
    out = []
    for i, entry in enumerate(jobs):
        where = f"{path}: job {i + 1}"
        if not isinstance(entry, dict):
            raise LatentkitError(f"{where}: must be a table/object, got {type(entry).__name__}")
        entry = _renamed_keys(entry, where)
        unknown = [k for k in entry if k not in JOB_KEYS]
        if unknown:
            raise LatentkitError(f"{where}: unknown key {unknown[0]!r} (keys: {', '.join(JOB_KEYS)})")
        job = EditJob(**{**defaults.__dict__, "name": str(entry.get("name", f"job{i + 1}"))})
        if "seeds" in entry or "latent" in entry:
            try:
                job.seeds = parse_seeds(str(entry["seeds"])) if "seeds" in entry else None
            except LatentkitError as e:
                raise LatentkitError(f"{where}: {e}") from None
            job.latent = (path.parent / str(entry["latent"])) if "latent" in entry else None
        if "edits" in entry:
            if not isinstance(entry["edits"], dict):
                raise LatentkitError(f"{where}: 'edits' must map direction names to strengths")
            job.edits = dict(entry["edits"])
            for name, value in job.edits.items():  # checked here: a later job must not fail mid-export
                if isinstance(value, bool) or not isinstance(value, int | float) or value != value:
                    raise LatentkitError(f"{where}: edit {name}={value!r}: strength must be a number")
        if "hold" in entry:
            held = entry["hold"]
            if not isinstance(held, str | list):
                raise LatentkitError(f"{where}: 'hold' must be a list of direction names")
            job.hold = split_names(held) if isinstance(held, str) else [str(c) for c in held]
        job.mode = str(entry.get("mode", job.mode))
        job.sweep = entry.get("sweep", job.sweep)
        if job.sweep is not None and not isinstance(job.sweep, str):
            raise LatentkitError(f"{where}: 'sweep' must be a string like \"smile=-3:3:7\"")
        try:
            job.psi = float(entry.get("psi", job.psi))
        except (TypeError, ValueError):
            raise LatentkitError(f"{where}: psi must be a number") from None
        if "/" in job.name or "\\" in job.name or "\0" in job.name or job.name in (".", ".."):
            raise LatentkitError(f"{where}: name {job.name!r} must be a plain folder name")
        if job.name in {j.name for j in out}:
            raise LatentkitError(
                f"{where}: name {job.name!r} is used by an earlier job (outputs would clash)"
            )
        out.append(job)
    return out


def plan_job(editor, job: EditJob) -> list[tuple[str, Any, int | None, dict[str, float]]]:
    """Every image of `job` as (file stem, start latent, seed, edits), checking names and latents first."""
    import numpy as np

    from latentkit.latent.editor import parse_sweep

    if job.latent is not None:
        starts = [(f"latent{i:04d}", z, None) for i, z in enumerate(editor.read_latents(job.latent))]
    elif job.seeds is not None:
        starts = [(f"seed{s:04d}", editor.sample(s, job.psi), s) for s in job.seeds]
    else:
        raise LatentkitError("edit: give --seeds or --latent (or seeds/latent in each recipe job)")
    if job.mode not in ("relative", "absolute"):
        raise LatentkitError(f"edit mode {job.mode!r}: choose relative or absolute")
    sweep_name, values = parse_sweep(job.sweep) if job.sweep else (None, np.array([]))
    for name in [*job.edits, *([sweep_name] if sweep_name else [])]:
        editor.direction(name)
    editor.held(job.hold)  # names checked, "all" understood
    plan = []
    for stem, z, seed in starts:
        if sweep_name is None:
            plan.append((stem, z, seed, dict(job.edits)))
        for v in values:
            plan.append((f"{stem}_{sweep_name}{v:+.2f}", z, seed, {**job.edits, sweep_name: float(v)}))
    return plan


def _renamed_keys(entry: dict[str, Any], where: str) -> dict[str, Any]:
    """`entry` with deprecated keys under their new names (one warning line each); both is an error."""
    out = dict(entry)
    for old, new in DEPRECATED_KEYS.items():
        if old in out:
            if new in out:
                raise LatentkitError(f"{where}: give {new!r} only ({old!r} is its old name)")
            print(f"latentkit: warning: {where}: key {old!r} is deprecated; use {new!r}", file=sys.stderr)
            out[new] = out.pop(old)
    return out


def split_names(text: str) -> list[str]:
    """A comma-separated list of names, blanks dropped."""
    return [n.strip() for n in text.split(",") if n.strip()]
