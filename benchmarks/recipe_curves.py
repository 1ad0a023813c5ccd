"""Metric versus wall-clock for training recipes: which recipe reaches a given FID first?

    python benchmarks/recipe_curves.py --runs runs/f64-classic runs/f64-hinge \
        --features pretrained/faces64/features --every 1000 --samples 2000 \
        --json docs/recipe_curves.json --figure docs/recipe_curves.png

For every run and every `--every`-th checkpoint, the generator is rebuilt from the checkpoint and
scored with `latentkit.metrics.evaluate` (FID, precision and recall with k=3, TwoNN dimension)
against real faces of a data seed the runs did not train on, next to the real-vs-real floor. When
the feature network is an attribute predictor, each point also names the pair of attributes whose
correlation is furthest from the data's (`corr_worst`, `corr_fake`, `corr_real`; a generator can
match every marginal and still tie independent attributes together) and every attribute's W1 between
generated and real predicted values as a share of its range (`w1_fraction`; issue 20 asks <= 0.05).
Wall-clock is the run's own training time at that checkpoint (`elapsed`, saved in every
checkpoint), so runs trained side by side on a shared machine compare fairly only if they had the
same share of it: run them alike.

Each run gives up to two curves: its EMA generator (BatchNorm statistics recalibrated, as latentkit
ships) and, with `--raw`, its raw generator as the classic DCGAN recipe samples it (no averaging).

`--merge docs/recipe_curves.json` adds the curves measured before (same samples, same real data), so
a new run is compared without retraining the old ones; `--reference "f64-da (EMA)"` reports each
curve's time to reach the reference's best FID and its best recall within 60 minutes:

    python benchmarks/recipe_curves.py --runs runs/f64s --features pretrained/faces64/predictor \
        --merge docs/recipe_curves.json --reference "f64-da (EMA)" --label-suffix ", 2 threads" \
        --json docs/recipe_curves.json --figure docs/recipe_curves.png
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

from latentkit.data import load_dataset
from latentkit.metrics.attributes import attribute_match
from latentkit.metrics.evaluate import evaluate, generate
from latentkit.models import DCGANConfig, build_generator
from latentkit.predictor import load_feature_net, predict_attributes
from latentkit.train.checkpoint import list_checkpoints, load_checkpoint
from latentkit.train.snapshot import checkpoint_generator


def generators(ckpt) -> dict[str, torch.nn.Module]:
    """The checkpoint's raw ("G") and EMA ("G_ema", BatchNorm recalibrated) generators."""
    return {"G": checkpoint_generator(ckpt, ema=False)[0], "G_ema": checkpoint_generator(ckpt)[0]}


def curves(run: Path, features, data, every: int, samples: int, raw: bool) -> dict[str, list[dict]]:
    """label -> [{"step", "seconds", "fid", "precision", "recall", "dimension_fake", ...}, ...] for one
    run directory (dimension: TwoNN intrinsic dimension of the features, `latentkit.metrics.knn`)."""
    found: dict[str, list[dict]] = {}
    scored = [a.name for a in getattr(features, "attributes", [])]
    real = predict_attributes(features, data.data[:samples]) if scored else None
    paths = sorted(list_checkpoints(run / "checkpoints"), key=lambda p: p.name)
    for path in paths:
        ckpt = load_checkpoint(path)
        if ckpt.step % every:
            continue
        for name, G in generators(ckpt).items():
            if name == "G" and not raw:
                continue
            label = f"{run.name} ({'raw G' if name == 'G' else 'EMA'})"
            r = evaluate(G, data, features, ["fid", "pr", "dim"], samples, seed=0)
            m = r["metrics"]
            point = {"step": ckpt.step, "seconds": round(ckpt.meta["state"]["elapsed"], 1), **m}
            joint = ""
            if real is not None:
                point.update(attribute_errors(G, features, real, scored, samples))
                c, w1 = point, point["w1_fraction"]
                far = max(w1, key=w1.get)
                joint = (f"  worst pair {c['corr_worst']} {c['corr_fake']:+.2f} (data {c['corr_real']:+.2f})"
                         f"  W1/range worst {far} {w1[far]:.3f}")  # fmt: skip
            found.setdefault(label, []).append(point)
            print(f"{label:40s} step {ckpt.step:6d} {point['seconds']:7.0f} s  FID {m['fid']:.3f}  "
                  f"P {m['precision']:.3f} R {m['recall']:.3f} dim {m['dimension_fake']:.1f} "
                  f"(real {m['dimension_real']:.1f}){joint}", flush=True)  # fmt: skip
    return found


def attribute_errors(G, features, real: dict, names: list[str], samples: int) -> dict:
    """On `samples` generated faces: the attribute pair whose correlation is furthest from the real
    one, and each attribute's W1 to the real predicted values as a share of its range."""
    from latentkit.data.faces import BINARY, RANGES

    fake = predict_attributes(features, generate(G, samples, seed=0))
    m = attribute_match(real, fake, {k: RANGES[k] for k in names if k in RANGES}, BINARY)
    j = m["joint"]
    w = j["pairs"][j["worst"]]
    w1 = {k: round(a["w1_fraction"], 4) for k, a in m["attributes"].items()}
    return {"corr_worst": j["worst"], "corr_fake": w["fake"], "corr_real": w["real"], "w1_fraction": w1}


def time_to_reach(points: list[dict], fid: float) -> float | None:
    """Seconds at the first checkpoint whose FID is at or below `fid` (None if never)."""
    return next((p["seconds"] for p in points if p["fid"] <= fid), None)


def plot(found: dict[str, list[dict]], floor: float, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(15, 4.2))
    colours = plt.get_cmap("tab20").colors  # more curves than the default cycle's 10 colours
    for i, (label, pts) in enumerate(found.items()):
        minutes = [p["seconds"] / 60 for p in pts]
        style = {"color": colours[(2 * i) % 20 + (i // 10) % 2], "ls": "-" if i < 10 else "--"}
        for ax, key in zip(axes, ("fid", "precision", "recall"), strict=True):
            ax.plot(minutes, [p[key] for p in pts], marker="o", ms=3, label=label, **style)
    axes[0].axhline(floor, color="gray", ls="--", label="real vs real")
    axes[0].set_yscale("log")
    for ax, key in zip(
        axes, ("FID (own features, log scale)", "precision (k=3)", "recall (k=3)"), strict=True
    ):
        ax.set_xlabel("training wall-clock (min; threads per run in the legend)")
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
    p.add_argument("--merge", help="an earlier --json whose curves join these (same samples and data)")
    p.add_argument(
        "--reference",
        help="a curve label: report each curve's time to reach that curve's best FID, and the ratio",
    )
    p.add_argument(
        "--label-suffix", default="", help="appended to this call's curve labels, e.g. ', 2 threads'"
    )
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    features, _ = load_feature_net(args.features)
    first = json.loads((Path(args.runs[0]) / "config.json").read_text())
    data = load_dataset("faces", size=first["size"], n=2 * args.samples, seed=1)
    t = time.perf_counter()
    found: dict[str, list[dict]] = {}
    if args.merge:
        earlier = json.loads(Path(args.merge).read_text())
        if earlier["samples"] != args.samples:
            raise SystemExit(
                f"--merge {args.merge}: scored on {earlier['samples']} samples, not {args.samples}"
            )
        found.update(earlier["curves"])
    for run in map(Path, args.runs):
        new = curves(run, features, data, args.every, args.samples, str(run) in args.raw)
        found.update({label + args.label_suffix: pts for label, pts in new.items()})
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
    if args.reference:
        best = min(p["fid"] for p in found[args.reference])
        base = time_to_reach(found[args.reference], best)
        summary["reference"] = {"label": args.reference, "best_fid": best, "seconds": base}
        summary["time_to_reference_best_fid"] = {
            label: {
                "seconds": time_to_reach(pts, best),
                "ratio": None
                if time_to_reach(pts, best) is None
                else round(time_to_reach(pts, best) / base, 3),
                "best_fid": min(p["fid"] for p in pts),
                "recall_within_60_min": max((p["recall"] for p in pts if p["seconds"] <= 3600), default=None),
            }
            for label, pts in found.items()
        }
    print(json.dumps({k: v for k, v in summary.items() if k != "curves"}, indent=1))
    print(f"({time.perf_counter() - t:.0f} s)")
    if args.json:
        Path(args.json).write_text(json.dumps(summary, indent=1) + "\n")
    if args.figure:
        plot(found, floor, Path(args.figure))
    return 0


if __name__ == "__main__":
    sys.exit(main())
