"""Training checkpoints: one safetensors file per step, exact resume, safe against `kill -9`.

A checkpoint is `folder/checkpoint_name(step)` (e.g. `step-00001000.safetensors`) holding, as plain
tensors (no pickle):

    module.{name}.{key}               every module's state_dict entry
    optim.{name}.state.{idx}.{key}    every optimizer's per-parameter state tensor (Adam's `step` too)
    state.{name}                      the tensors in `state["tensors"]` (e.g. RNG states)

and one JSON string in the safetensors metadata under "latentkit": format, version, step, the optimizers'
param_groups and non-tensor per-param state, the JSON-able rest of `state`, and a sha256 over every
tensor and every other metadata field (version 2; version 1 files, whose digest covers the tensors
only, still load). safetensors only checks that the header is consistent, so the digest is what
catches a flipped bit in the data or an edited learning rate in the metadata.

Files are written with `latentkit.io.write_safetensors` (streamed into a temp file, fsync, rename), so
a killed writer leaves either the previous set of checkpoints or the new one, plus at worst a stale
`.step-*.tmp` that the next save removes. One writer per folder.

Exact resume = restore modules, optimizers *and* every RNG the loop draws from (`capture_rng`,
`apply_rng`) at the same step; the data order must be a function of those RNGs too.
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
import re
import struct
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import safetensors.torch
import torch

from latentkit.errors import LatentkitError
from latentkit.io import write_safetensors

FORMAT = "latentkit-checkpoint"
VERSION = 2
READABLE_VERSIONS = (1, 2)
_NAME_RE = re.compile(r"step-(\d{8,})\.safetensors")
_STALE_TMP_GLOB = ".step-*.safetensors.*.tmp"  # the names latentkit.io.atomic_write gives its temp files


@dataclass
class Checkpoint:
    """A loaded, verified checkpoint: `tensors` by stored name, `meta` the decoded JSON metadata."""

    path: Path
    step: int
    tensors: dict[str, torch.Tensor]
    meta: dict


# ---------------------------------------------------------------------------------------------- save


def save_checkpoint(
    folder: str | Path,
    step: int,
    modules: dict[str, torch.nn.Module],
    optimizers: dict[str, torch.optim.Optimizer],
    state: dict,
    keep: int = 3,
) -> Path:
    """Atomically write `folder/checkpoint_name(step)`, then prune to the newest `keep` files.

    `state` is JSON-able data (counters, RNG states from `capture_rng`) plus optional
    `state["tensors"]`: dict name -> tensor. JSON turns tuples into lists and dict keys into strings.
    Returns the path written.
    """
    if keep < 1:
        raise LatentkitError(f"keep: must be at least 1, got {keep}")
    folder = Path(folder)
    tensors: dict[str, torch.Tensor] = {}
    for name, module in modules.items():
        _check_name(name)
        for key, t in module.state_dict().items():
            tensors[f"module.{name}.{key}"] = t
    param_groups, scalar_state = {}, {}
    for name, opt in optimizers.items():
        _check_name(name)
        param_groups[name], scalar_state[name] = _flatten_optimizer(name, opt, into=tensors)
    for name, t in state.get("tensors", {}).items():
        tensors[f"state.{name}"] = t
    tensors = _storable(tensors)
    rest = {k: v for k, v in state.items() if k != "tensors"}

    meta = {
        "format": FORMAT,
        "version": VERSION,
        "step": int(step),
        "optim_param_groups": param_groups,
        "optim_scalar_state": scalar_state,
        "state": _to_json(rest, "state"),
    }
    meta["sha256"] = _digest(tensors, meta)
    path = folder / checkpoint_name(step)
    write_safetensors(path, tensors, metadata={"latentkit": json.dumps(meta)})
    _prune(folder, keep, just_written=path)
    return path


def _flatten_optimizer(name: str, opt: torch.optim.Optimizer, into: dict[str, torch.Tensor]) -> tuple:
    """Put the per-param state tensors in `into`; return (JSON param_groups, JSON non-tensor state)."""
    sd = opt.state_dict()
    scalars: dict[str, dict] = {}
    for idx, param_state in sd["state"].items():
        for key, value in param_state.items():
            if isinstance(value, torch.Tensor):
                into[f"optim.{name}.state.{idx}.{key}"] = value
            else:  # e.g. SGD's momentum_buffer=None
                where = f"optimizer '{name}' state {idx}.{key}"
                scalars.setdefault(str(idx), {})[key] = _to_json(value, where)
    return _to_json(sd["param_groups"], f"optimizer '{name}' param_groups"), scalars


def _check_name(name: str) -> None:
    # Stored names are split on "." when restoring, so a dotted name would be ambiguous ("G" vs "G.ema").
    if not name or "." in name:
        raise LatentkitError(f"checkpoint: module/optimizer name '{name}' must be non-empty and dot-free")


def _storable(tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """`tensors` as safetensors stores them: detached, on the CPU, contiguous, no two sharing memory.

    A tensor that already is so is used as it is, not copied (the save is synchronous: the loop does
    not touch it meanwhile), so a checkpoint costs no second copy of the training state in memory;
    channels-last weights, GPU tensors and tied or viewed storage (which safetensors refuses) are
    copied.
    """
    out, seen = {}, set()
    for name, t in tensors.items():
        t = t.detach().to("cpu").contiguous()
        storage = t.untyped_storage().data_ptr()
        if storage in seen or t.untyped_storage().nbytes() != t.nbytes:
            t = t.clone()
            storage = t.untyped_storage().data_ptr()
        seen.add(storage)
        out[name] = t
    return out


def _to_json(value: Any, where: str) -> Any:
    """`value` with tuples as lists and numpy arrays/scalars as Python values; raise if not JSON-able."""
    if isinstance(value, dict):
        return {str(k): _to_json(v, f"{where}.{k}") for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_to_json(v, where) for v in value]
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise LatentkitError(
        f"checkpoint: {where} is a {type(value).__name__}, which is not JSON-able "
        "(put tensors in state['tensors'])"
    )


def _digest(tensors: dict[str, torch.Tensor], meta: dict | None = None) -> str:
    """sha256 over name, dtype, shape and raw bytes of every tensor, in sorted name order, then over
    the canonical JSON of `meta` without its "sha256" (None: tensors only, as version 1 did)."""
    h = hashlib.sha256()
    for name in sorted(tensors):
        t = tensors[name]
        h.update(f"{name}|{t.dtype}|{tuple(t.shape)}|".encode())
        # uint8 view gives the raw bytes for any dtype (bfloat16 has no numpy equivalent).
        h.update(t.contiguous().reshape(-1).view(torch.uint8).numpy())
    if meta is not None:
        rest = {k: v for k, v in meta.items() if k != "sha256"}
        h.update(json.dumps(rest, sort_keys=True, separators=(",", ":")).encode())
    return h.hexdigest()


def _prune(folder: Path, keep: int, just_written: Path) -> None:
    """Delete checkpoints beyond the newest `keep` (never `just_written`) and stale temp files."""
    for old in list_checkpoints(folder)[keep:]:
        if old != just_written:
            old.unlink(missing_ok=True)
    # A writer killed between mkstemp and rename leaves its temp file; nothing else will ever claim it.
    for tmp in folder.glob(_STALE_TMP_GLOB):
        tmp.unlink(missing_ok=True)


# ---------------------------------------------------------------------------------------------- load


def checkpoint_name(step: int) -> str:
    """The checkpoint file name of `step` (1000 -> `step-00001000.safetensors`); see checkpoint_step."""
    return f"step-{int(step):08d}.safetensors"


def checkpoint_step(path: str | Path) -> int | None:
    """The step in a checkpoint file name (`step-00001000.safetensors` -> 1000); None for other names."""
    m = _NAME_RE.fullmatch(Path(path).name)
    return int(m.group(1)) if m else None


def list_checkpoints(folder: str | Path) -> list[Path]:
    """Checkpoint files in `folder`, newest (highest step) first; [] if the folder does not exist."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    found = [(n, p) for p in folder.iterdir() if (n := checkpoint_step(p)) is not None]
    return [p for _, p in sorted(found, reverse=True)]


def load_checkpoint(path: str | Path) -> Checkpoint:
    """Read and verify one checkpoint; raise `LatentkitError` naming the file if it is unusable."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as e:
        raise LatentkitError(f"{path}: cannot read checkpoint ({e.strerror or e})") from None
    meta = _read_meta(path, data)
    try:
        # Clone: the loaded tensors view read-only bytes, and optimizers update some state in place.
        tensors = {k: t.clone() for k, t in safetensors.torch.load(data).items()}
    except Exception as e:  # safetensors raises its own error types for truncated/inconsistent files
        raise LatentkitError(f"{path}: corrupt or truncated checkpoint ({_one_line(e)})") from None
    covered = meta if meta.get("version") >= 2 else None
    if _digest(tensors, covered) != meta.get("sha256"):
        raise LatentkitError(f"{path}: checksum mismatch, the tensor data or its metadata is corrupt")
    step = meta.get("step")
    named = checkpoint_step(path)
    if not isinstance(step, int) or (named is not None and named != step):
        raise LatentkitError(f"{path}: step in metadata ({step}) does not match the file name")
    return Checkpoint(path=path, step=step, tensors=tensors, meta=meta)


def _read_meta(path: Path, data: bytes) -> dict:
    """Decode our JSON from the safetensors header: 8-byte little-endian length, then JSON."""
    try:
        (n,) = struct.unpack("<Q", data[:8])
        if n > len(data) - 8:
            raise ValueError(f"header length {n} exceeds file size {len(data)}")
        header = json.loads(data[8 : 8 + n])
        meta = json.loads(header["__metadata__"]["latentkit"])
    except (struct.error, ValueError, KeyError, TypeError) as e:
        raise LatentkitError(
            f"{path}: not a latentkit checkpoint or truncated header ({_one_line(e)})"
        ) from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise LatentkitError(f"{path}: not a latentkit checkpoint (format is {meta.get('format')!r})")
    if meta.get("version") not in READABLE_VERSIONS:
        raise LatentkitError(f"{path}: checkpoint version {meta.get('version')} is not supported")
    return meta


def _one_line(e: BaseException) -> str:
    return (str(e).strip().splitlines() or [type(e).__name__])[0]


def load_latest_valid(
    folder: str | Path, log: Callable[[str], Any] | logging.Logger = print
) -> Checkpoint | None:
    """The newest checkpoint in `folder` that loads and verifies, or None if there is none.

    Each unusable newer file is reported with one line through `log` (a print-like callable or a Logger).
    """
    report = log.warning if isinstance(log, logging.Logger) else log
    for path in list_checkpoints(folder):
        try:
            return load_checkpoint(path)
        except LatentkitError as e:
            report(f"skipping checkpoint: {e}")
    return None


def restore(
    ckpt: Checkpoint, modules: dict[str, torch.nn.Module], optimizers: dict[str, torch.optim.Optimizer]
) -> dict:
    """Load the given modules (strict) and optimizers from `ckpt`; return the saved `state` dict.

    The returned dict is the JSON part of `state` plus `"tensors"` (dict name -> tensor, maybe empty).
    Modules/optimizers in the checkpoint but not passed here are ignored.
    """
    for name, module in modules.items():
        sd = _with_prefix(ckpt.tensors, f"module.{name}.")
        if not sd:
            raise LatentkitError(f"{ckpt.path}: no module '{name}' in checkpoint")
        try:
            module.load_state_dict(sd, strict=True)
        except RuntimeError as e:
            raise LatentkitError(f"{ckpt.path}: module '{name}' does not match ({_one_line(e)})") from None
    for name, opt in optimizers.items():
        try:
            opt.load_state_dict(_optimizer_state_dict(ckpt, name, opt))
        except (ValueError, KeyError) as e:
            raise LatentkitError(f"{ckpt.path}: optimizer '{name}' does not match ({_one_line(e)})") from None
        _match_layouts(opt)
    return {**ckpt.meta["state"], "tensors": _with_prefix(ckpt.tensors, "state.")}


def _match_layouts(opt: torch.optim.Optimizer) -> None:
    """Give each parameter-shaped state tensor (Adam's moments) its parameter's memory layout.

    Checkpoints store tensors contiguous; a channels-last parameter's moments were channels-last when
    saved, and fused Adam takes a different (differently rounded) path over mixed layouts, so a resumed
    run would drift from the uninterrupted one by a few ulps per step."""
    for group in opt.param_groups:
        for param in group["params"]:
            for key, value in opt.state.get(param, {}).items():
                shaped = isinstance(value, torch.Tensor) and value.shape == param.shape
                if shaped and value.stride() != param.stride():
                    opt.state[param][key] = torch.empty_like(param).copy_(value)


def _with_prefix(tensors: dict[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    return {k[len(prefix) :]: v for k, v in tensors.items() if k.startswith(prefix)}


def _optimizer_state_dict(ckpt: Checkpoint, name: str, opt: torch.optim.Optimizer) -> dict:
    """Rebuild `{"state": {idx: {...}}, "param_groups": [...]}` as `Optimizer.state_dict()` returns it."""
    groups = ckpt.meta["optim_param_groups"].get(name)
    if groups is None:
        raise LatentkitError(f"{ckpt.path}: no optimizer '{name}' in checkpoint")
    state: dict[int, dict] = {}
    for key, t in _with_prefix(ckpt.tensors, f"optim.{name}.state.").items():
        idx, field = key.split(".", 1)
        state.setdefault(int(idx), {})[field] = t
    for idx, fields in ckpt.meta["optim_scalar_state"].get(name, {}).items():
        state.setdefault(int(idx), {}).update(fields)
    # JSON turned tuples (Adam's betas) into lists; take the types back from the live optimizer.
    if len(groups) != len(opt.param_groups):
        raise LatentkitError(
            f"{ckpt.path}: optimizer '{name}' has {len(opt.param_groups)} param groups, "
            f"the checkpoint has {len(groups)}"
        )
    groups = [
        {k: _like(live.get(k), v) for k, v in saved.items()}
        for saved, live in zip(groups, opt.param_groups, strict=True)
    ]
    return {"state": state, "param_groups": groups}


def _like(template: Any, value: Any) -> Any:
    return tuple(value) if isinstance(template, tuple) and isinstance(value, list) else value


# ----------------------------------------------------------------------------------------------- RNG


def capture_rng(
    generators: dict[str, torch.Generator] | None = None,
    np_rngs: dict[str, np.random.Generator] | None = None,
) -> dict:
    """Every RNG a training loop may draw from, as a `state` fragment for `save_checkpoint`.

    Returns {"tensors": {"rng.torch", "rng.cuda.{i}", "rng.gen.{name}": uint8 tensors},
    "rng": {"python", "numpy", "np_generators": {name: bit_generator.state}}}. Merge your own
    `state["tensors"]` into the "tensors" dict rather than replacing it.
    """
    tensors = {"rng.torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        for i, s in enumerate(torch.cuda.get_rng_state_all()):
            tensors[f"rng.cuda.{i}"] = s
    for name, g in (generators or {}).items():
        tensors[f"rng.gen.{name}"] = g.get_state()
    rng = {
        "python": _to_json(random.getstate(), "random.getstate()"),
        "numpy": _to_json(np.random.get_state(), "np.random.get_state()"),
        "np_generators": {n: _to_json(r.bit_generator.state, n) for n, r in (np_rngs or {}).items()},
    }
    return {"tensors": tensors, "rng": rng}


def apply_rng(
    state: dict,
    generators: dict[str, torch.Generator] | None = None,
    np_rngs: dict[str, np.random.Generator] | None = None,
) -> None:
    """Restore the RNGs captured by `capture_rng` (from `restore()`'s return value or capture_rng's)."""
    tensors, rng = state["tensors"], state["rng"]
    torch.set_rng_state(tensors["rng.torch"])
    cuda = [tensors[f"rng.cuda.{i}"] for i in range(sum(k.startswith("rng.cuda.") for k in tensors))]
    if cuda and torch.cuda.is_available() and len(cuda) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(cuda)
    for name, g in (generators or {}).items():
        if f"rng.gen.{name}" not in tensors:
            raise LatentkitError(f"checkpoint: no RNG state saved for torch generator '{name}'")
        g.set_state(tensors[f"rng.gen.{name}"])
    version, internal, gauss_next = rng["python"]
    random.setstate((version, tuple(internal), gauss_next))
    kind, key, pos, has_gauss, cached = rng["numpy"]
    np.random.set_state((kind, np.asarray(key, dtype=np.uint32), pos, has_gauss, cached))
    for name, r in (np_rngs or {}).items():
        if name not in rng["np_generators"]:
            raise LatentkitError(f"checkpoint: no RNG state saved for numpy generator '{name}'")
        saved = rng["np_generators"][name]
        if saved["bit_generator"] == "MT19937":  # the only bit generator whose state holds an array
            saved = {
                **saved,
                "state": {**saved["state"], "key": np.asarray(saved["state"]["key"], np.uint32)},
            }
        r.bit_generator.state = saved
