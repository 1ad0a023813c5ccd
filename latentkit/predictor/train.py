"""Training the attribute predictor (`FeatureNet`) on a labelled image dataset.

    net, report = train_feature_net(load_dataset("faces", size=64), epochs=4)
    save_feature_net("predictor", net, report)      # latentkit.predictor.io

AdamW with linear warm-up and cosine decay; a seeded share of the samples is held out, and the
report gives each attribute's held-out accuracy (binary, categorical) or R^2 (continuous).
"""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from latentkit.data.base import Dataset
from latentkit.errors import LatentkitError
from latentkit.predictor.net import FeatureNet, infer_attribute, predict_attributes


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
