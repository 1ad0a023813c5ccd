"""Metric versus wall-clock for training recipes: which recipe reaches a given FID first?

    python benchmarks/recipe_curves.py --runs runs/f64-classic runs/f64-hinge \
        --features pretrained/faces64/features --every 1000 --samples 2000 \
        --json docs/recipe_curves.json --figure docs/recipe_curves.png

For every run and every `--every`-th checkpoint, the generator is rebuilt from the checkpoint and
scored with `latentkit.metrics.evaluate` (FID, precision and recall, k=3) against real faces of a data
seed the runs did not train on, next to the real-vs-real floor. Wall-clock is the run's own training
time at that checkpoint (`elapsed`, saved in every checkpoint), so runs trained side by side on a
shared machine compare fairly only if they had the same share of it: run them alike.

Each run gives up to two curves: its EMA generator (BatchNorm statistics recalibrated, as latentkit
ships) and, with `--raw`, its raw generator as the classic DCGAN recipe samples it (no averaging).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

from latentkit.data import load_dataset
from latentkit.metrics.evaluate import evaluate
from latentkit.models import DCGANConfig, build_generator
from latentkit.predictor import load_feature_net
from latentkit.train.checkpoint import list_checkpoints, load_checkpoint
from latentkit.train.snapshot import checkpoint_generator


def generators(ckpt) -> dict[str, torch.nn.Module]:
    """The checkpoint's raw ("G") and EMA ("G_ema", BatchNorm recalibrated) generators."""
    return {"G": checkpoint_generator(ckpt, ema=False)[0], "G_ema": checkpoint_generator(ckpt)[0]}


def curves(run: Path, features, data, every: int, samples: int, raw: bool) -> dict[str, list[dict]]:
    """label -> [{"step", "seconds", "fid", "precision", "recall"}, ...] for one run directory."""
    found: dict[str, list[dict]] = {}
    paths = sorted(list_checkpoints(run / "checkpoints"), key=lambda p: p.name)
    for path in paths:
        ckpt = load_checkpoint(path)
        if ckpt.step % every:
            continue
        for name, G in generators(ckpt).items():
            if name == "G" and not raw:
                continue
            label = f"{run.name} ({'raw G' if name == 'G' else 'EMA'})"
            r = evaluate(G, data, features, ["fid", "pr"], samples, seed=0)
            m = r["metrics"]
            point = {"step": ckpt.step, "seconds": round(ckpt.meta["state"]["elapsed"], 1), **m}
            found.setdefault(label, []).append(point)
            print(f"{label:40s} step {ckpt.step:6d} {point['seconds']:7.0f} s  FID {m['fid']:.3f}  "
                  f"P {m['precision']:.3f} R {m['recall']:.3f}", flush=True)  # fmt: skip
    return found


def time_to_reach(points: list[dict], fid: float) -> float | None:
    """Seconds at the first checkpoint whose FID is at or below `fid` (None if never)."""
    return next((p["seconds"] for p in points if p["fid"] <= fid), None)


def plot(found: dict[str, list[dict]], floor: float, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(15, 4.2))
    for label, pts in found.items():
        minutes = [p["seconds"] / 60 for p in pts]
        for ax, key in zip(axes, ("fid", "precision", "recall"), strict=True):
            ax.plot(minutes, [p[key] for p in pts], marker="o", ms=3, label=label)
    axes[0].axhline(floor, color="gray", ls="--", label="real vs real")
    axes[0].set_yscale("log")
    for ax, key in zip(
        axes, ("FID (own features, log scale)", "precision (k=3)", "recall (k=3)"), strict=True
    ):
        ax.set_xlabel("training wall-clock (min, 1 CPU thread each)")
        ax.set_title(key)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--runs", nargs="+", required=True, help="run directories")
    p.add_argument("--features", required=True, help="feature network (latentkit attributes train)")
    p.add_argument("--every", type=int, default=1000, help="evaluate checkpoints at multiples of this step")
    p.add_argument("--samples", type=int, default=2000, help="samples per side")
    p.add_argument("--raw", nargs="*", default=[], help="runs whose raw generator is scored as well")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--json")
    p.add_argument("--figure")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    features, _ = load_feature_net(args.features)
    first = json.loads((Path(args.runs[0]) / "config.json").read_text())
    data = load_dataset("faces", size=first["size"], n=2 * args.samples, seed=1)
    t = time.perf_counter()
    found: dict[str, list[dict]] = {}
    for run in map(Path, args.runs):
        found.update(curves(run, features, data, args.every, args.samples, str(run) in args.raw))
    floor = evaluate(build_generator(DCGANConfig(resolution=first["size"])).eval(), data, features, ["fid"],
                     args.samples)["real_vs_real"]["fid"]  # fmt: skip
    summary = {"real_vs_real_fid": floor, "samples": args.samples, "curves": found}
    raw = [label for label in found if "raw G" in label]
    if raw:
        target = found[raw[0]][-1]["fid"]
        base = time_to_reach(found[raw[0]], target)
        summary["time_to_classic_final_fid"] = {
            label: {"seconds": time_to_reach(pts, target), "ratio_to_classic": None}
            for label, pts in found.items()
        }
        for v in summary["time_to_classic_final_fid"].values():
            if v["seconds"] is not None and base:
                v["ratio_to_classic"] = round(v["seconds"] / base, 3)
        summary["classic_final_fid"] = target
    print(json.dumps({k: v for k, v in summary.items() if k != "curves"}, indent=1))
    print(f"({time.perf_counter() - t:.0f} s)")
    if args.json:
        Path(args.json).write_text(json.dumps(summary, indent=1) + "\n")
    if args.figure:
        plot(found, floor, Path(args.figure))
    return 0


if __name__ == "__main__":
    sys.exit(main())
