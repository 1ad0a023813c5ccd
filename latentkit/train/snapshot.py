"""A run's checkpoint as a model: rebuild its generator, and save it as a bundle.

A run keeps `RUN/bundle` (its newest step) and, with `--eval-every`, `RUN/best`. To ship any other
step, e.g. the best by a metric measured afterwards, `latentkit bundle RUN --step N --out DIR`
rebuilds that checkpoint's generator the way the training loop saves one: the EMA weights, with
BatchNorm statistics re-estimated for them.
"""

from __future__ import annotations

import copy
import os
from pathlib import Path

import torch
from torch import nn

from latentkit.errors import LatentkitError
from latentkit.models import ModelConfig, build_generator, model_config_from_dict
from latentkit.models.bundle import save_bundle
from latentkit.models.weights import check_shapes, shapes_of
from latentkit.train.checkpoint import Checkpoint, checkpoint_step, list_checkpoints, load_checkpoint
from latentkit.train.precision import PRECISIONS


@torch.no_grad()
def recalibrated(G_ema: nn.Module, latent_dim: int, device: torch.device, batches: int = 8) -> nn.Module:
    """A copy of the EMA generator whose BatchNorm statistics are re-estimated for its own weights.

    The running statistics were collected with the raw generator's weights; averaged weights need
    their own (a few batches of fresh noise from a fixed seed, so this never touches training RNG).
    """
    G = copy.deepcopy(G_ema)
    bns = [m for m in G.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if not bns:
        return G.eval()
    for bn in bns:
        bn.reset_running_stats()
        bn.momentum = None  # cumulative average over the calibration batches
    G.train()
    gen = torch.Generator(device="cpu").manual_seed(12345)
    for _ in range(batches):
        G(torch.randn(64, latent_dim, generator=gen).to(device))
    return G.eval()


def checkpoint_generator(ckpt: Checkpoint, ema: bool = True) -> tuple[nn.Module, ModelConfig]:
    """The generator stored in `ckpt` (eval mode, CPU) and its config.

    `ema=True` gives the moving average with recalibrated BatchNorm (what latentkit ships and
    samples); `ema=False` the raw generator as the optimiser left it.
    """
    try:
        cfg = model_config_from_dict(ckpt.meta["state"]["model"])
    except (KeyError, TypeError) as e:
        raise LatentkitError(f"{ckpt.path}: checkpoint has no model config ({e})") from None
    name = "G_ema" if ema else "G"
    prefix = f"module.{name}."
    weights = {k[len(prefix) :]: v for k, v in ckpt.tensors.items() if k.startswith(prefix)}
    with torch.device("meta"):  # shapes first: a config claiming a huge network allocates nothing
        expected = shapes_of(build_generator(cfg))
    check_shapes(expected, weights, ckpt.path)
    G = build_generator(cfg)
    try:
        G.load_state_dict(weights)
    except RuntimeError as e:
        first = (str(e).strip().splitlines() or ["mismatch"])[0]
        raise LatentkitError(f"{ckpt.path}: {name} weights do not fit its model config ({first})") from None
    return (recalibrated(G, cfg.latent_dim, torch.device("cpu")) if ema else G.eval()), cfg


def find_checkpoint(run: str | os.PathLike, step: int | None = None) -> Path:
    """The checkpoint file of `run` at `step` (newest if None); a clear error if there is none."""
    folder = Path(run) / "checkpoints"
    found = list_checkpoints(folder)
    if not found:
        raise LatentkitError(f"{run}: no checkpoints (expected {folder}/step-*.safetensors)")
    if step is None:
        return found[0]
    by_step = {checkpoint_step(p): p for p in found}
    if step not in by_step:
        steps = sorted(by_step)
        shown = ", ".join(map(str, steps if len(steps) <= 8 else [*steps[:3], "...", *steps[-3:]]))
        raise LatentkitError(f"{run}: no checkpoint at step {step} (steps: {shown})")
    return by_step[step]


def bundle_checkpoint(
    run: str | os.PathLike,
    out: str | os.PathLike,
    step: int | None = None,
    name: str | None = None,
    ema: bool = True,
    extra: dict | None = None,
) -> Path:
    """Save the generator of `run`'s checkpoint at `step` (newest if None) as a bundle at `out`."""
    ckpt = load_checkpoint(find_checkpoint(run, step))
    G, cfg = checkpoint_generator(ckpt, ema=ema)
    state = ckpt.meta.get("state", {})
    record = {"run": str(run), "step": ckpt.step, "generator": "ema" if ema else "raw"}
    if isinstance(state.get("elapsed"), (int, float)):
        record["train_seconds"] = round(float(state["elapsed"]), 1)
    if state.get("precision") in PRECISIONS:  # what the run's own bundle records (checkpoints since v2)
        record["precision"] = state["precision"]
    return save_bundle(out, G, cfg, name=name, extra={"run": {**record, **(extra or {})}})
