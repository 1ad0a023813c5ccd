"""The PacGAN mode-collapse table on the 2D ring and grid, and a stacked-digits run.

    python benchmarks/mode_collapse.py                 # full table -> docs/mode_collapse.md + PNGs
    python benchmarks/mode_collapse.py --quick         # a smoke run (few steps, 1 seed, no files)
    python benchmarks/mode_collapse.py --stacked-only  # only the stacked-digits comparison

Stacked digits (Metz et al. 2017; PacGAN Table 2): three digits as R, G, B -> 1000 modes. A DCGAN
(32 px, `--stacked-width` channels) is trained with the baseline recipe and with PacGAN4; a digit
classifier (latentkit's FeatureNet trained on the grey digits) reads each channel of 26,000 samples,
and we report modes covered out of 1000 and KL(generated modes || uniform).

Protocol (PacGAN, Lin et al. 2018, sec. 5.1, after VEEGAN): ring = 8 Gaussians on the unit circle,
std 0.01; grid = 25 Gaussians at spacing 2, std 0.05. Generator: MLP with 4 hidden layers of ReLU units
and batch norm, 2-D noise; discriminator: MLP with 4 hidden layers of LeakyReLU units. PacGAN used 400
(G) and 3 x 200 maxout (D) units; we use `--width` (default 128) for both to fit a 2-core CPU budget.
Adam lr 1e-4, beta1 0.5, batch 100 (WGAN-GP: its own defaults). After training, 2,500
samples are scored: modes covered, % high-quality (within 3 std of a mode), reverse KL of the mode
histogram to uniform. Mean and standard error over seeds.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

DOCS = Path(__file__).resolve().parent.parent / "docs"

METHODS: dict[str, dict] = {
    "GAN (minimax)": {"loss": "minimax"},
    "GAN (non-saturating)": {"loss": "ns"},
    "WGAN-GP": {"loss": "wgan-gp"},
    "Unrolled GAN (5 steps)": {"loss": "ns", "unrolled_steps": 5},
    "Minibatch discrimination": {"loss": "ns", "model": {"minibatch": "discrimination"}},
    "PacGAN2": {"loss": "ns", "model": {"pack": 2}},
    "PacGAN4": {"loss": "ns", "model": {"pack": 4}},
    "PacGAN4 + minibatch stddev": {"loss": "ns", "model": {"pack": 4, "minibatch": "stddev"}},
}

# PacGAN Table 1 (published): modes, % high quality, reverse KL.
PUBLISHED = {
    ("ring", "GAN"): (6.3, 98.2, 0.45),
    ("grid", "GAN"): (17.3, 94.8, 0.70),
    ("ring", "PacGAN4"): (7.8, 95.9, 0.07),
    ("grid", "PacGAN4"): (24.8, 93.6, 0.04),
}


def run_one(job: tuple[str, str, int, int, int]) -> dict:
    """Train one (dataset, method, seed) and score 2,500 samples."""
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    import torch

    from latentkit.metrics.modes import mode_metrics
    from latentkit.models.bundle import load_bundle
    from latentkit.train.config import TrainConfig
    from latentkit.train.loop import train

    torch.set_num_threads(1)
    dataset, method, seed, steps, width = job
    options = json.loads(json.dumps(METHODS[method]))
    model = {"latent_dim": 2, "hidden": width, "depth": 4, "g_norm": "batch", "d_norm": "none"}
    model.update(options.pop("model", {}))
    optim = {} if options["loss"] == "wgan-gp" else {"lr_g": 1e-4, "lr_d": 1e-4, "beta1": 0.5}
    cfg = TrainConfig.from_dict({
        "dataset": dataset, "data_n": 100_000, "batch_size": 100, "steps": steps, "seed": seed, "ema": 0.0,
        "log_every": 100, "sample_every": 10 * steps, "checkpoint_every": 10 * steps, **optim, **options,
        "model": model,
    })  # fmt: skip
    t = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        run = train(cfg, Path(tmp) / "run", progress=False)
        G = load_bundle(run).generator
        with torch.no_grad():
            x = G(torch.randn(2500, 2, generator=torch.Generator().manual_seed(10_000 + seed))).numpy()
    return {"dataset": dataset, "method": method, "seed": seed, "seconds": time.perf_counter() - t,
            **mode_metrics(x, dataset), "samples": x[:2500].tolist()}  # fmt: skip


STACKED = {"DCGAN (ns)": {}, "PacGAN4": {"pack": 4}}


def run_stacked(steps: int, width: int, samples: int = 26_000) -> dict:
    """Train the stacked-digits DCGANs and count their modes; returns {method: metrics}."""
    import torch

    from latentkit.data import load_dataset
    from latentkit.metrics.evaluate import generate
    from latentkit.metrics.modes import stacked_mode_ids, stacked_mode_metrics
    from latentkit.models.bundle import load_bundle
    from latentkit.predictor import train_feature_net
    from latentkit.train.config import TrainConfig
    from latentkit.train.loop import train

    t = time.perf_counter()
    classifier, report = train_feature_net(load_dataset("digits", size=32), attributes=["digit"], epochs=40,
                                           seed=0, progress=False)  # fmt: skip
    results = {
        "classifier_accuracy": report["attributes"]["digit"],
        "seconds_classifier": time.perf_counter() - t,
    }
    real = load_dataset("stacked-digits", size=32, n=samples, seed=1)
    results["real data"] = stacked_mode_metrics(stacked_mode_ids(classifier, real.data))
    for method, model in STACKED.items():
        t = time.perf_counter()
        cfg = TrainConfig.from_dict({
            "dataset": "stacked-digits", "size": 32, "steps": steps, "batch_size": 64,
            "model": {"ngf": width, "ndf": width, "latent_dim": 100, **model},
            "log_every": 50, "sample_every": steps, "checkpoint_every": steps,
        })  # fmt: skip
        with tempfile.TemporaryDirectory() as tmp:
            run = train(cfg, Path(tmp) / "run", progress=False)
            fake = generate(load_bundle(run).generator, samples, seed=0)
        torch.manual_seed(0)
        results[method] = {**stacked_mode_metrics(stacked_mode_ids(classifier, fake)),
                           "seconds": time.perf_counter() - t}  # fmt: skip
    return results


def stacked_markdown(res: dict, steps: int, width: int) -> str:
    acc = f"{res['classifier_accuracy']['accuracy']:.3f}"
    lines = [
        "## Stacked digits (1000 modes)",
        "",
        f"Reproduce: `python benchmarks/mode_collapse.py --stacked-only --stacked-steps {steps}`. "
        f"DCGAN at 32 px, ngf = ndf = {width}, batch 64, {steps} steps, one seed; 26,000 samples read "
        f"by a digit classifier (held-out accuracy {acc}).",
        "",
        "| | modes covered (of 1000) | KL to uniform | training s |",
        "| --- | --- | --- | --- |",
    ]
    for name in ("real data", *STACKED):
        r = res[name]
        sec = f"{r['seconds']:.0f}" if "seconds" in r else ""
        lines.append(f"| {name} | {r['modes_covered']} | {r['kl']:.2f} | {sec} |")
    lines += ["| *DCGAN, PacGAN paper (Table 2)* | *99.0* | *3.40* | |",
              "| *PacGAN4, PacGAN paper (Table 2)* | *1000.0* | *0.07* | |", ""]  # fmt: skip
    return "\n".join(lines)


def summarise(results: list[dict]) -> dict:
    """(dataset, method) -> mean and standard error of each metric."""
    table = {}
    for key in {(r["dataset"], r["method"]) for r in results}:
        rows = [r for r in results if (r["dataset"], r["method"]) == key]
        stats = {}
        for metric in ("modes_covered", "high_quality", "reverse_kl", "seconds"):
            v = np.array([r[metric] for r in rows], dtype=float)
            # reverse KL is infinite for a run with no high-quality sample at all: average the
            # finite runs and say how many were not (the table prints "(k inf)").
            finite = v[np.isfinite(v)]
            se = finite.std(ddof=1) / math.sqrt(len(finite)) if len(finite) > 1 else 0.0
            stats[metric] = (
                float(finite.mean()) if len(finite) else math.inf,
                float(se),
                int(len(v) - len(finite)),
            )
        table[key] = stats
    return table


def scatter(results: list[dict], dataset: str, path: Path) -> None:
    """One panel per method: seed 0's samples over the true modes."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from latentkit.data.mixtures import mixture_means

    means = mixture_means(dataset)
    fig, axes = plt.subplots(2, 4, figsize=(14, 7), constrained_layout=True)
    lim = 1.5 if dataset == "ring" else 5.5
    for ax, method in zip(axes.flat, METHODS, strict=True):
        (r,) = [r for r in results if r["dataset"] == dataset and r["method"] == method and r["seed"] == 0]
        x = np.array(r["samples"])
        ax.scatter(x[:, 0], x[:, 1], s=2, alpha=0.4)
        ax.scatter(means[:, 0], means[:, 1], s=25, c="red", marker="x")
        ax.set_xlim(-lim, lim)
        ax.set_ylim(-lim, lim)
        ax.set_aspect("equal")
        ax.set_title(f"{method}\n{r['modes_covered']} modes, {100 * r['high_quality']:.0f}% HQ", fontsize=9)
    fig.suptitle(f"{dataset}: 2,500 samples of seed 0 (red x: true modes)")
    fig.savefig(path, dpi=80)
    plt.close(fig)


def markdown(table: dict, steps: int, seeds: int, minutes: float, workers: int) -> str:
    lines = [
        "# Mode collapse on the 2D benchmarks",
        "",
        f"Reproduce: `python benchmarks/mode_collapse.py --steps {steps} --seeds {seeds}` "
        f"({minutes:.0f} min wall clock with --workers {workers}). {steps} generator steps per run, "
        f"batch 100; mean ± standard error over {seeds} seeds; 2,500 samples scored per run. "
        "Protocol in the script's docstring.",
        "",
    ]
    for dataset in ("ring", "grid"):
        k = 8 if dataset == "ring" else 25
        lines += [
            f"## {dataset} ({k} modes)",
            "",
            f"| method | modes (max {k}) | high-quality samples | reverse KL | s / run |",
            "| --- | --- | --- | --- | --- |",
        ]
        for method in METHODS:
            s = table[(dataset, method)]
            m, hq, kl, sec = s["modes_covered"], s["high_quality"], s["reverse_kl"], s["seconds"]
            lines.append(
                f"| {method} | {m[0]:.1f} ± {m[1]:.1f} | {100 * hq[0]:.1f}% ± {100 * hq[1]:.1f} "
                f"| {kl[0]:.2f} ± {kl[1]:.2f}{f' ({kl[2]} inf)' if kl[2] else ''} | {sec[0]:.0f} |"
            )
        for name in ("GAN", "PacGAN4"):
            m, hq, kl = PUBLISHED[(dataset, name)]
            lines.append(f"| *{name}, PacGAN paper (Table 1)* | *{m}* | *{hq}%* | *{kl}* | |")
        lines += ["", verdict(table, dataset), ""]
        lines += [f"![{dataset} samples per method](mode_collapse_{dataset}.png)", ""]
    return "\n".join(lines)


def best_method(table: dict, dataset: str) -> str:
    """The method with the most modes covered, ties broken by the lower reverse KL."""
    return max(
        METHODS,
        key=lambda m: (table[(dataset, m)]["modes_covered"][0], -table[(dataset, m)]["reverse_kl"][0]),
    )


def verdict(table: dict, dataset: str) -> str:
    """One plain sentence: our best configuration against the published PacGAN4 figures."""
    best = best_method(table, dataset)
    s = table[(dataset, best)]
    m, hq, kl = s["modes_covered"][0], 100 * s["high_quality"][0], s["reverse_kl"][0]
    pm, phq, pkl = PUBLISHED[(dataset, "PacGAN4")]

    def cmp(ours: float, theirs: float, higher_is_better: bool) -> str:
        better = ours > theirs if higher_is_better else ours < theirs
        return "better" if better else ("equal" if ours == theirs else "worse")

    return (
        f"**Best here: {best}** with {m:.1f} modes, {hq:.1f}% high-quality samples and reverse KL {kl:.2f}, "
        f"against the published PacGAN4 {pm} / {phq}% / {pkl}: modes {cmp(m, pm, True)}, "
        f"quality {cmp(hq, phq, True)}, reverse KL {cmp(kl, pkl, False)} (our networks are smaller than the "
        f"paper's; see the protocol)."
    )


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--steps", type=int, default=3000)
    p.add_argument("--seeds", type=int, default=5)
    p.add_argument("--width", type=int, default=128, help="hidden units of G and D")
    p.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    p.add_argument("--quick", action="store_true", help="smoke run: 50 steps, 1 seed, print only")
    p.add_argument("--stacked-only", action="store_true", help="only the stacked-digits comparison")
    p.add_argument("--stacked-steps", type=int, default=1500)
    p.add_argument("--stacked-width", type=int, default=16)
    args = p.parse_args()
    if args.stacked_only:
        res = run_stacked(args.stacked_steps, args.stacked_width)
        print(json.dumps(res, indent=1))
        path = DOCS / "mode_collapse.md"
        text = path.read_text().split("## Stacked digits")[0] if path.exists() else ""
        path.write_text(
            text.rstrip() + "\n\n" + stacked_markdown(res, args.stacked_steps, args.stacked_width)
        )
        return
    if args.quick:
        args.steps, args.seeds = 50, 1
    jobs = [
        (d, m, s, args.steps, args.width)
        for s in range(args.seeds)
        for d in ("ring", "grid")
        for m in METHODS
    ]
    t = time.perf_counter()
    with ProcessPoolExecutor(args.workers) as pool:
        results = list(pool.map(run_one, jobs))
    minutes = (time.perf_counter() - t) / 60
    table = summarise(results)
    for (dataset, method), s in sorted(table.items()):
        print(dataset, method, {k: round(v[0], 3) for k, v in s.items()})
    if args.quick:
        return
    DOCS.mkdir(exist_ok=True)
    for dataset in ("ring", "grid"):
        scatter(results, dataset, DOCS / f"mode_collapse_{dataset}.png")
    path = DOCS / "mode_collapse.md"
    _, marker, rest = path.read_text().partition("## Stacked digits") if path.exists() else ("", "", "")
    path.write_text(
        markdown(table, args.steps, args.seeds, minutes, args.workers)
        + ("\n" + marker + rest if marker else "")
    )
    print(f"wrote {DOCS / 'mode_collapse.md'} in {minutes:.1f} min")


if __name__ == "__main__":
    main()
