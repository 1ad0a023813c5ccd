"""Mode collapse at the papers' budgets: PacGAN's 2D tables and stacked digits, resumable over sittings.

    python benchmarks/mode_collapse.py --datasets ring grid --seeds 10 --workers 2   # run what is missing
    python benchmarks/mode_collapse.py --datasets stacked-digits --seeds 3
    python benchmarks/mode_collapse.py --list        # the runs still to do, with their cost so far
    python benchmarks/mode_collapse.py --rebuild     # docs/mode_collapse.{md,json} + PNGs from the results
    python benchmarks/mode_collapse.py --time 300    # CPU ms per step of each method (no files written)
    python benchmarks/mode_collapse.py --checkpoints RUN  # raw vs averaged G at each checkpoint of RUN

Every (dataset, method, seed, steps) run writes one JSON file under `--results` (default
benchmarks/results/mode_collapse/, committed): final metrics, CPU seconds, the resolved config, and a
curve of intermediate evaluations every `--eval-every` steps (seed 0 also keeps 2,500 sample points for
the scatter plots). A finished run is never redone; an unfinished one continues from its newest
checkpoint (its run folder lives under `--work`, not committed), and a chunk that Ctrl-C stopped is
scored when the next sitting finishes it. The page is rebuilt from the result
files alone (plus the hand-written NOTES.md beside them, quoted as the page's "Notes"), so the tables
can be completed over several sittings on fresh machines.

Settings (latentkit.train.presets): `pacgan2d` for ring and grid (PacGAN's G 4 x 400 ReLU + BN, D 3
maxout layers of 200 x 5, Adam 1e-4 / beta1 0.8, batch 100 D examples, 400,000 steps; 2,500 samples
scored within 3 std), `veegan-stacked` for stacked digits (DCGAN, z 100, Adam 2e-4 / 0.5, batch 64,
100,000 steps; 26,000 samples read channel by channel by a digit classifier).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import shutil
import sys
import textwrap
import time
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results" / "mode_collapse"
WORK = ROOT / "benchmarks" / "results" / "mode_collapse_runs"
DOCS = ROOT / "docs"
PRESET_OF = {"ring": "pacgan2d", "grid": "pacgan2d", "stacked-digits": "veegan-stacked"}
CLASSIFIER_EPOCHS = 80  # held-out accuracy 0.989 on the 180 held-out digits (40 epochs: 0.978)
SCATTER_POINTS = 2500
GRID_IMAGES = 64  # stacked digits: seed 0's final samples, kept as a PNG beside its result file
NOTES_NAME = "NOTES.md"  # hand-written reading of the results, kept beside them and quoted on the page
METRICS = ("modes_covered", "high_quality", "reverse_kl")  # what every run reports

# A method is its changes to the preset: "pack" packs D, "model" updates the model options, None
# restores a loss's published optimiser, "recipe" replaces the preset by latentkit's own recipe (with
# "steps" in place of the recipe's; --steps overrides both).
R3GAN = {"loss": "rpgan", "r1_gamma": 0.1, "r2_gamma": 0.1, "beta1": 0.0, "beta2": 0.99}
NO_OPTIM = {"lr_g": None, "lr_d": None, "beta1": None, "beta2": None}
LONG_EMA = {"recipe": True, "steps": 40_000, "ema": None, "ema_kimg": 50.0}
METHODS_2D: dict[str, dict] = {
    "GAN": {},
    "GAN (minimax)": {"loss": "minimax"},
    "PacGAN2": {"pack": 2},
    "PacGAN4": {"pack": 4},
    # PacGAN4 as PacGAN's code trains it, where latentkit's preset differs: D and G updated together
    # from one batch (blocks' ALI algorithm) and G run once per pack slot (batch norm over 100 points).
    "PacGAN4, as PacGAN's code (simultaneous updates, G per slot)": {
        "pack": 4,
        "updates": "simultaneous",
        "g_per_slot": True,
    },
    # ...and the GAN under PacGAN's update rule (G per slot needs a packed D): does the rule move the GAN
    # row, which reproduced with latentkit's sequential updates? With more seeds, decides the preset's rule.
    "GAN, as PacGAN's code (simultaneous updates)": {"updates": "simultaneous"},
    "Unrolled GAN (5 steps)": {"unrolled_steps": 5},
    "Minibatch discrimination": {"model": {"minibatch": "discrimination"}},
    "WGAN-GP": {"loss": "wgan-gp", **NO_OPTIM},
    "RpGAN + R1 + R2": R3GAN,
    "latentkit recipe (RpGAN + R1 + R2)": {"recipe": True},
    # The same recipe run longer (the cosine schedules stretch with it)...
    "latentkit recipe, long (RpGAN + R1 + R2)": {"recipe": True, "steps": 40_000},
    # ...scored on G's moving average (half-life 50,000 points = 500 steps): the raw G of the long
    # recipe still swings by several points of high quality between checkpoints; its average does not.
    "latentkit recipe, long + EMA (RpGAN + R1 + R2)": LONG_EMA,
    # ...and with gamma held at 0.1 (the recipe decays it to a tenth): the averaged G no longer loses
    # high quality over the last quarter of the run. The best combination found here.
    "latentkit recipe, long + EMA, constant gamma (RpGAN + R1 + R2)": {
        **LONG_EMA,
        "gamma_schedule": "constant",
    },
}
R3GAN_DCGAN = {**R3GAN, "model": {"d_norm": "none"}}  # a gradient penalty refuses D's batch norm
R3GAN_DCGAN_EMA = {**R3GAN_DCGAN, "ema": None, "ema_kimg": 10.0}
HALF_WIDTH = {**R3GAN_DCGAN_EMA, "model": {**R3GAN_DCGAN["model"], "ngf": 32, "ndf": 32}}
METHODS_STACKED: dict[str, dict] = {
    "GAN": {},
    "PacGAN2": {"pack": 2},
    "PacGAN4": {"pack": 4},
    "RpGAN + R1 + R2": R3GAN_DCGAN,
    # ...scored on G's moving average (half-life 10,000 images, StyleGAN2's default), as the 2D best.
    "RpGAN + R1 + R2 + EMA": R3GAN_DCGAN_EMA,
    # ...on DCGAN at half width (ngf = ndf = 32): a third of the CPU per step, so more steps fit.
    "RpGAN + R1 + R2 + EMA, half width": HALF_WIDTH,
    # ...with both learning rates cosine-decayed to a tenth over the run (R3GAN decays its learning
    # rate too, brownvc/R3GAN train.py): at a constant 2e-4 the KL plateaus at 0.03-0.06 with a bias in
    # the digit frequencies that differs between runs. Measured: KL 0.064 at 20,000 steps against 0.040 and
    # 0.047 for the constant lr (NOTES.md), so the decay freezes the bias rather than removing it.
    "RpGAN + R1 + R2 + EMA, half width, lr cosine": {**HALF_WIDTH, "lr_schedule": "cosine"},
}

# PacGAN Tables 1 and 2 (mean; ring/grid: modes, % high quality, reverse KL; stacked: modes, KL).
PUBLISHED = {
    ("ring", "GAN"): (6.3, 98.2, 0.45), ("ring", "PacGAN2"): (7.9, 95.6, 0.07),
    ("ring", "PacGAN4"): (7.8, 95.9, 0.07), ("grid", "GAN"): (17.3, 94.8, 0.70),
    ("grid", "PacGAN2"): (23.8, 91.3, 0.13), ("grid", "PacGAN4"): (24.8, 93.6, 0.04),
    ("stacked-digits", "GAN"): (99.0, None, 3.40), ("stacked-digits", "PacGAN2"): (1000.0, None, 0.06),
    ("stacked-digits", "PacGAN4"): (1000.0, None, 0.07),
}  # fmt: skip


def methods_for(dataset: str) -> dict[str, dict]:
    return METHODS_STACKED if dataset == "stacked-digits" else METHODS_2D


def slug(name: str) -> str:
    """A file-name form of a method name: "PacGAN4" -> "pacgan4"."""
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


@dataclass(frozen=True)
class Job:
    """One run: a method on a dataset with one seed; `steps` None = the preset's (or recipe's) own."""

    dataset: str
    method: str
    seed: int
    steps: int | None = None
    eval_every: int = 10_000

    def config(self) -> dict:
        """The run's TrainConfig fields."""
        from latentkit.train.presets import preset_config
        from latentkit.train.recipes import recipe_for

        change = json.loads(json.dumps(methods_for(self.dataset)[self.method]))
        if change.pop("recipe", False):
            cfg = {**recipe_for(self.dataset), "dataset": self.dataset, "data_n": 100_000, "ema": 0.0}
            own = change.pop("steps", None)
            cfg["steps"] = self.steps or own or cfg["steps"]
        else:
            cfg = preset_config(PRESET_OF[self.dataset], self.dataset, change.pop("pack", 1), self.steps)
        cfg["model"].update(change.pop("model", {}))
        cfg.update(change)
        return {k: v for k, v in {**cfg, "seed": self.seed}.items() if v is not None}

    @property
    def total_steps(self) -> int:
        return self.config()["steps"]

    def path(self, results: Path) -> Path:
        return results / self.dataset / slug(self.method) / f"steps-{self.total_steps}-seed-{self.seed}.json"


def _scheduled(cfg: dict) -> bool:
    """A learning-rate or gamma schedule spans the run, so the run cannot be trained in chunks."""
    return "cosine" in (cfg.get("lr_schedule"), cfg.get("gamma_schedule"))


def evaluate(generator, dataset: str, seed: int, classifier=None, n: int | None = None) -> dict:
    """Metrics of `generator` on fixed evaluation noise; 2D: modes, HQ, reverse KL; stacked: modes, KL
    and each channel's KL ("channel_kl").
    "x" holds the samples drawn: 2D points (n, 2) float, or the first `GRID_IMAGES` stacked digits
    (n, 3, 32, 32) uint8."""
    import torch

    from latentkit.metrics.modes import mode_metrics, stacked_mode_ids, stacked_mode_metrics

    if dataset == "stacked-digits":
        from latentkit.metrics.evaluate import generate

        fake = generate(generator, n or 26_000, seed=10_000 + seed)
        m = stacked_mode_metrics(stacked_mode_ids(classifier, fake))
        return {"modes_covered": m["modes_covered"], "high_quality": None, "reverse_kl": m["kl"],
                "channel_kl": m["channel_kl"], "x": fake[:GRID_IMAGES]}  # fmt: skip
    g = torch.Generator().manual_seed(10_000 + seed)
    with torch.no_grad():
        x = generator(torch.randn(n or 2500, generator.latent_dim, generator=g)).numpy()
    m = mode_metrics(x, dataset)
    kl = m["reverse_kl"] if math.isfinite(m["reverse_kl"]) else None  # None: no high-quality sample
    return {"modes_covered": m["modes_covered"], "high_quality": m["high_quality"], "reverse_kl": kl, "x": x}


def digit_classifier(work: Path):
    """The per-channel digit reader (FeatureNet on the grey digits), trained once and cached in `work`."""
    from latentkit.data import load_dataset
    from latentkit.predictor import load_feature_net, save_feature_net, train_feature_net

    path = work / "digit-classifier"
    if not (path / "config.json").exists():
        net, report = train_feature_net(load_dataset("digits", size=32), attributes=["digit"],
                                        epochs=CLASSIFIER_EPOCHS, seed=0, progress=False)  # fmt: skip
        save_feature_net(path, net, report)
    net, report = load_feature_net(path)
    return net, report["attributes"]["digit"]["accuracy"]


@contextmanager
def claimed(run: Path):
    """Hold an exclusive lock beside `run` for the block; yields False when another process holds it.

    Several harness processes can then share one --work folder: each trains the runs nobody else is
    training. The kernel drops the lock when its holder exits, so a killed sitting blocks nothing.
    """
    import fcntl

    run.parent.mkdir(parents=True, exist_ok=True)
    with open(run.with_name(run.name + ".lock"), "a") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        yield True


def run_job(job: Job, results: Path, work: Path, keep_run: bool = False, threads: int = 1) -> Path | None:
    """Train `job` on `threads` CPU threads (continuing its unfinished run folder, if any), evaluate
    every `eval_every` steps, and write its result file; returns that file's path (None: another
    process is training it). Its CPU seconds are the sum over those threads."""
    out = job.path(results)
    with claimed(work / job.dataset / slug(job.method) / out.stem) as mine:
        if not mine:
            return None
        if out.exists():  # finished by another process since this one listed its jobs
            return out
        return _run_claimed(job, results, work, keep_run, threads)


def _between(run: Path, done: int, target: int, job: Job, classifier) -> list[dict]:
    """Curve points of the checkpoints at multiples of `job.eval_every` strictly between `done` and
    `target` (a scheduled run trains in one chunk, so its curve comes from these), scored on the
    generator the run ships; CPU seconds are not known per checkpoint (None)."""
    from latentkit.train.checkpoint import checkpoint_step, list_checkpoints, load_checkpoint
    from latentkit.train.snapshot import checkpoint_generator

    points = []
    for path in reversed(list_checkpoints(run / "checkpoints")):  # oldest first
        step = checkpoint_step(path)
        if done < step < target and step % job.eval_every == 0:
            m = evaluate(checkpoint_generator(load_checkpoint(path))[0], job.dataset, job.seed, classifier)
            m.pop("x", None)
            points.append({"step": step, **m, "cpu_seconds": None})
    return points


def _run_claimed(job: Job, results: Path, work: Path, keep_run: bool, threads: int) -> Path:
    import torch

    from latentkit.io import read_json, write_json
    from latentkit.models.bundle import load_bundle
    from latentkit.train import loop
    from latentkit.train.checkpoint import checkpoint_step, list_checkpoints
    from latentkit.train.config import TrainConfig

    torch.set_num_threads(threads)
    base, out = job.config(), job.path(results)
    steps, chunk = base["steps"], base["steps"] if _scheduled(base) else job.eval_every
    run = work / job.dataset / slug(job.method) / out.stem
    classifier, accuracy = digit_classifier(work) if job.dataset == "stacked-digits" else (None, None)
    curve = read_json(run / "curve.json") if (run / "curve.json").exists() else []
    done, x = (curve[-1]["step"] if curve else 0), None
    t_wall = time.perf_counter()
    while done < steps:
        target = min(steps, done + chunk)
        every = {
            "log_every": min(1000, target),
            "sample_every": target,
            "checkpoint_every": min(target, 10_000, job.eval_every),
        }
        if _scheduled(base):  # one chunk: its curve is read from the checkpoints it keeps
            every["keep_checkpoints"] = steps // job.eval_every + 2
        checkpoints = list_checkpoints(run / "checkpoints") if (run / "checkpoints").is_dir() else []
        # CPU time of a chunk that a sitting trained but did not get to evaluate, kept for the next one.
        unscored = run / "unscored_cpu.json"
        spent = read_json(unscored)["cpu_seconds"] if unscored.exists() else 0.0
        t = time.process_time()
        loop.train(TrainConfig.from_dict({**base, "steps": target, **every}), run, resume=bool(checkpoints),
              progress=False)  # fmt: skip
        spent += time.process_time() - t
        write_json(unscored, {"cpu_seconds": spent})
        if checkpoint_step(list_checkpoints(run / "checkpoints")[0]) < target:
            raise KeyboardInterrupt  # Ctrl-C stopped training mid-chunk: the next sitting continues it
        cpu = spent + (curve[-1]["cpu_seconds"] if curve else 0.0)
        curve += _between(run, done, target, job, classifier)
        m = evaluate(load_bundle(run / "bundle").generator, job.dataset, job.seed, classifier)
        x = m.pop("x", None)
        curve.append({"step": target, **m, "cpu_seconds": round(cpu, 1)})
        write_json(run / "curve.json", curve)
        unscored.unlink()
        done = target
    result = {
        "dataset": job.dataset, "method": job.method, "seed": job.seed, "steps": steps,
        "metrics": {k: curve[-1][k] for k in METRICS},
        "cpu_seconds": curve[-1]["cpu_seconds"],
        "wall_seconds_last_sitting": round(time.perf_counter() - t_wall, 1), "threads_last_sitting": threads,
        "config": read_json(run / "config.json"), "curve": curve,
    }  # fmt: skip
    if accuracy is not None:
        result["classifier_accuracy"] = accuracy
    out.parent.mkdir(parents=True, exist_ok=True)
    if job.seed == 0:
        if x is None:  # finished in an earlier sitting: draw the final samples again
            x = evaluate(load_bundle(run / "bundle").generator, job.dataset, job.seed, classifier)["x"]
        if job.dataset == "stacked-digits":
            save_sample_grid(x, out.with_suffix(".png"))
        else:
            result["samples"] = encode_points(x[:SCATTER_POINTS])
    write_json(out, result)
    if not keep_run:
        shutil.rmtree(run, ignore_errors=True)
    return out


def save_sample_grid(images, path: Path) -> None:
    """(N, 3, H, W) uint8 stacked digits -> an 8-wide PNG grid (the page's figure)."""
    from latentkit.viz import image_grid, save_figure

    save_figure(path, image_grid(images, nrow=8))


def encode_points(x: np.ndarray) -> str:
    """(N, 2) points as one string "x,y x,y ..." at 3 decimals (a list would take a line per number)."""
    return " ".join(f"{a:.3f},{b:.3f}" for a, b in x)


def decode_points(text: str) -> np.ndarray:
    return np.array([[float(v) for v in pair.split(",")] for pair in text.split()]).reshape(-1, 2)


def pending(jobs: list[Job], results: Path) -> list[Job]:
    """The jobs without a result file (finished runs are skipped)."""
    return [j for j in jobs if not j.path(results).exists()]


def load_results(results: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted(results.glob("*/*/*.json"))]


def _mean_se(values: list[float]) -> list[float]:
    v = np.asarray(values, dtype=float)
    se = float(v.std(ddof=1) / math.sqrt(len(v))) if len(v) > 1 else 0.0
    return [float(v.mean()), se]


def summarise(results: list[dict]) -> list[dict]:
    """One row per (dataset, method) at its longest budget: mean and standard error over seeds."""
    rows = []
    for dataset in PRESET_OF:
        for method in methods_for(dataset):
            runs = [r for r in results if (r["dataset"], r["method"]) == (dataset, method)]
            if not runs:
                continue
            steps = max(r["steps"] for r in runs)
            runs = [r for r in runs if r["steps"] == steps]
            metric = {k: [r["metrics"][k] for r in runs] for k in METRICS}
            finite_kl = [v for v in metric["reverse_kl"] if v is not None]
            rows.append({
                "dataset": dataset, "method": method, "seeds": sorted(r["seed"] for r in runs),
                "steps": steps,
                "modes": _mean_se(metric["modes_covered"]),
                "high_quality_pct": None if dataset == "stacked-digits"
                else [100 * v for v in _mean_se(metric["high_quality"])],
                "reverse_kl": _mean_se(finite_kl) if finite_kl else None,
                "reverse_kl_infinite_runs": len(runs) - len(finite_kl),
                "cpu_seconds_per_run": float(np.mean([r["cpu_seconds"] for r in runs])),
            })  # fmt: skip
    return rows


def theory_section() -> list[str]:
    """The worked example of latentkit.theory: D* and JS of two distributions on three points."""
    from latentkit.theory import js, optimal_discriminator, value_at_optimum

    p, q = np.array([0.5, 0.5, 0.0]), np.array([0.0, 0.5, 0.5])
    d = ", ".join(f"{v:g}" for v in optimal_discriminator(p, q))
    return [
        "## The divergence the game minimises",
        "",
        "For a fixed generator the best discriminator is D*(x) = p_data(x) / (p_data(x) + p_g(x)), and the "
        "generator then minimises V(D*, G) = -log 4 + 2 JS(p_data || p_g) (Goodfellow et al. 2014; "
        "`latentkit.theory`). Worked example, p_data = [1/2, 1/2, 0] and p_g = [0, 1/2, 1/2]: "
        f"D* = [{d}], JS = {js(p, q):.4f} nats (= log 2 / 2), V(D*, G) = {value_at_optimum(p, q):.4f} "
        f"(= -log 4 + 2 JS = {-math.log(4) + 2 * js(p, q):.4f}). A generator that drops a mode is a p_g "
        "with a zero where p_data has mass: the tables below measure how close training gets to JS = 0.",
        "",
    ]


def _fmt(pair: list[float] | None, digits: int, seeds: int = 2) -> str:
    """ "mean ± se" at `digits` decimals; the mean alone for one seed (it has no standard error)."""
    if pair is None:
        return ""
    return f"{pair[0]:.{digits}f}" if seeds < 2 else f"{pair[0]:.{digits}f} ± {pair[1]:.{digits}f}"


def _steps_cell(row: dict) -> str:
    """The row's budget; a preset method run short of the paper's budget says so ("50,000 of 400,000")."""
    from latentkit.train.presets import PRESETS

    paper = PRESETS[PRESET_OF[row["dataset"]]].steps
    recipe = methods_for(row["dataset"])[row["method"]].get("recipe", False)
    short = not recipe and row["steps"] < paper
    return f"{row['steps']:,} of {paper:,}" if short else f"{row['steps']:,}"


def markdown(rows: list[dict], figures: dict[str, list[str]], notes: str = "") -> str:
    lines = ["# Mode collapse at the papers' budgets", "", *theory_section()]
    lines += [
        "Rebuilt by `python benchmarks/mode_collapse.py --rebuild` from the result files in "
        "benchmarks/results/mode_collapse/ (one per dataset, method and seed); protocol and settings in "
        "the script's docstring and `latentkit.train.presets`. Mean ± standard error over the seeds listed. "
        '"Steps" reads "N of M" where a paper-setting run stopped short of the paper\'s budget M: '
        "such a row is a point on the way (its curve shows where it was heading), not the converged result.",
        "",
    ]
    if notes:
        source = f"Hand-written, from {NOTES_NAME} beside the result files."
        lines += ["## Notes", "", source, "", notes.strip(), ""]
    for dataset in PRESET_OF:
        mine = [r for r in rows if r["dataset"] == dataset]
        k = {"ring": 8, "grid": 25, "stacked-digits": 1000}[dataset]
        lines += [f"## {dataset} ({k} modes)", ""]
        if not mine:
            lines += ["No results yet.", ""]
            continue
        lines += [
            f"| method | seeds | steps | modes (of {k}) | high-quality % | reverse KL | CPU s / run |",
            "| --- | --- | --- | --- | --- | --- | --- |",
        ]
        for r in mine:
            inf = f" ({r['reverse_kl_infinite_runs']} inf)" if r["reverse_kl_infinite_runs"] else ""
            n = len(r["seeds"])
            n_kl = n - r["reverse_kl_infinite_runs"]
            lines.append(
                f"| {r['method']} | {n} | {_steps_cell(r)} | {_fmt(r['modes'], 1, n)} "
                f"| {_fmt(r['high_quality_pct'], 1, n) or '–'} | {_fmt(r['reverse_kl'], 3, n_kl)}{inf} "
                f"| {r['cpu_seconds_per_run']:,.0f} |"
            )
        for (d, name), (m, hq, kl) in PUBLISHED.items():
            if d == dataset:
                table = "Table 2" if dataset == "stacked-digits" else "Table 1"
                hq_cell = "–" if hq is None else f"*{hq}*"  # stacked digits have no high-quality test
                lines.append(f"| *{name}, PacGAN ({table})* | | | *{m}* | {hq_cell} | *{kl}* | |")
        lines.append("")
        lines += [
            f"![{dataset}: {'curves' if name.endswith('_curves.png') else 'samples'}]({name})"
            for name in figures.get(dataset, [])
        ]
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def figures(results: list[dict], rows: list[dict], docs: Path, results_dir: Path) -> dict[str, list[str]]:
    """Per dataset: seed 0's final samples per method (a scatter in 2D, the grid kept beside the result
    file for stacked digits) and seed 0's curves; file names."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from latentkit.data.mixtures import mixture_means

    made: dict[str, list[str]] = {}
    for dataset in PRESET_OF:
        budget = {x["method"]: x["steps"] for x in rows if x["dataset"] == dataset}
        found = {
            r["method"]: r
            for r in results
            if r["dataset"] == dataset and r["seed"] == 0 and budget.get(r["method"]) == r["steps"]
        }
        first = {m: found[m] for m in methods_for(dataset) if m in found}  # in the tables' order
        if not first:
            continue
        names = []
        with_points = {m: r for m, r in first.items() if "samples" in r}
        if with_points:
            means, lim = mixture_means(dataset), 1.5 if dataset == "ring" else 5.5
            cols = min(4, len(with_points))
            rows_n = math.ceil(len(with_points) / cols)
            size = (max(3.5 * cols, 7.0), 3.5 * rows_n)  # wide enough for the title over one panel
            fig, axes = plt.subplots(rows_n, cols, figsize=size, squeeze=False)
            for ax, (method, r) in zip(axes.flat, with_points.items(), strict=False):
                x = decode_points(r["samples"])
                ax.scatter(x[:, 0], x[:, 1], s=2, alpha=0.4)
                ax.scatter(means[:, 0], means[:, 1], s=25, c="red", marker="x")
                ax.set(xlim=(-lim, lim), ylim=(-lim, lim), aspect="equal")
                m = r["metrics"]
                title = "\n".join(textwrap.wrap(method, 36))  # long method names stay over their panel
                ax.set_title(
                    f"{title}\n{m['modes_covered']} modes, {100 * m['high_quality']:.0f}% HQ", fontsize=8
                )
            for ax in list(axes.flat)[len(with_points) :]:
                ax.axis("off")
            fig.suptitle(f"{dataset}: 2,500 samples of seed 0 at the end of training (red x: modes)")
            fig.tight_layout()
            names.append(f"mode_collapse_{dataset}.png")
            fig.savefig(docs / names[-1], dpi=80)
            plt.close(fig)
        grids = {
            m: path
            for m, r in first.items()
            if (path := Job(dataset, m, 0, steps=r["steps"]).path(results_dir).with_suffix(".png")).exists()
        }
        if grids:
            names.append(f"mode_collapse_{dataset}.png")
            _grid_figure(grids, first, dataset, docs / names[-1])
        panels = (
            ("modes_covered", "high_quality")
            if dataset != "stacked-digits"
            else ("modes_covered", "reverse_kl")
        )
        fig, axes = plt.subplots(1, 2, figsize=(11, 4))
        for method, r in first.items():
            steps = [c["step"] for c in r["curve"]]
            for ax, key in zip(axes, panels, strict=True):
                ax.plot(
                    steps,
                    [np.nan if c[key] is None else c[key] for c in r["curve"]],
                    marker=".",
                    label=method,
                )
        for ax, key in zip(axes, panels, strict=True):
            ax.set(xlabel="generator steps", ylabel=key.replace("_", " "))
            ax.ticklabel_format(axis="y", useOffset=False)  # 1000 modes reads 1000, not +1e3
        axes[0].set_ylim(0, 1.05 * axes[0].get_ylim()[1])  # from zero: 999 of 1000 is no collapse
        axes[0].legend(fontsize=7)
        fig.suptitle(f"{dataset}: seed 0 evaluated during training")
        fig.tight_layout()
        names.append(f"mode_collapse_{dataset}_curves.png")
        fig.savefig(docs / names[-1], dpi=80)
        plt.close(fig)
        made[dataset] = names
    return made


def _grid_figure(grids: dict[str, Path], first: dict[str, dict], dataset: str, path: Path) -> None:
    """One panel per method: its saved sample grid, titled with its modes and KL."""
    import matplotlib.pyplot as plt
    from PIL import Image

    fig, axes = plt.subplots(1, len(grids), figsize=(4 * len(grids), 4.8), squeeze=False)
    for ax, (method, grid) in zip(axes.flat, grids.items(), strict=True):
        with Image.open(grid) as img:
            ax.imshow(np.asarray(img.convert("RGB")))
        m = first[method]["metrics"]
        ax.set_title(f"{method}, {first[method]['steps']:,} steps\n{m['modes_covered']} modes, KL "
                     f"{m['reverse_kl']:.3f}", fontsize=8)  # fmt: skip
        ax.axis("off")
    fig.suptitle(f"{dataset}: {GRID_IMAGES} samples of seed 0 at the end of training (R, G, B: three digits)")
    fig.tight_layout(rect=(0, 0, 1, 0.94))  # the suptitle keeps its own band above the panel titles
    fig.savefig(path, dpi=80)
    plt.close(fig)


def rebuild(results: Path, docs: Path, with_figures: bool = True) -> list[dict]:
    """Write docs/mode_collapse.md and .json (and the figures) from the result files; returns the rows."""
    from latentkit.io import write_bytes, write_json

    found = load_results(results)
    rows = summarise(found)
    docs.mkdir(parents=True, exist_ok=True)
    made = figures(found, rows, docs, results) if with_figures else {}
    write_json(docs / "mode_collapse.json", {"rows": rows, "published": [
        {"dataset": d, "method": m, "modes": v[0], "high_quality_pct": v[1], "reverse_kl": v[2]}
        for (d, m), v in PUBLISHED.items()]})  # fmt: skip
    notes = (results / NOTES_NAME).read_text() if (results / NOTES_NAME).exists() else ""
    write_bytes(docs / "mode_collapse.md", markdown(rows, made, notes).encode())
    return rows


def time_methods(datasets: list[str], steps: int) -> None:
    """CPU ms per step of each method (short runs through train()), and the cost at the full budget."""
    import tempfile

    from latentkit.train.config import TrainConfig
    from latentkit.train.loop import train

    os.environ.setdefault("OMP_NUM_THREADS", "1")
    import torch

    torch.set_num_threads(1)
    for dataset in datasets:
        for method in methods_for(dataset):
            full = Job(dataset, method, 0).config()
            cfg = {
                **full,
                "steps": steps,
                "log_every": steps,
                "sample_every": steps,
                "checkpoint_every": steps,
            }
            with tempfile.TemporaryDirectory() as tmp:
                t = time.process_time()
                train(TrainConfig.from_dict(cfg), Path(tmp) / "run", progress=False)
                ms = 1000 * (time.process_time() - t) / steps
            print(f"{dataset:15s} {method:36s} {ms:7.1f} ms/step  -> {ms * full['steps'] / 3.6e6:6.2f} CPU h "
                  f"for {full['steps']:,} steps", flush=True)  # fmt: skip


def checkpoint_scores(run: Path, n: int = 10_000) -> list[dict]:
    """Modes, high quality and reverse KL of the raw G and of its moving average at every checkpoint
    of a 2D run folder (`latentkit train --out RUN`), oldest first; n samples on fixed noise."""
    from latentkit.io import read_json
    from latentkit.train.checkpoint import list_checkpoints, load_checkpoint
    from latentkit.train.snapshot import checkpoint_generator

    dataset, rows = read_json(run / "config.json")["dataset"], []
    for path in reversed(list_checkpoints(run / "checkpoints")):  # listed newest first
        ckpt = load_checkpoint(path)
        row = {"step": ckpt.step}
        for name, ema in (("raw", False), ("ema", True)):
            m = evaluate(checkpoint_generator(ckpt, ema=ema)[0], dataset, 0, n=n)
            row[name] = {k: m[k] for k in METRICS}
        rows.append(row)
    return rows


def print_checkpoint_scores(runs: list[Path]) -> None:
    import torch

    torch.set_num_threads(1)
    for run in runs:
        rows = checkpoint_scores(run)
        print(f"{run}: step, then raw G and its moving average (modes, % high quality, reverse KL)")
        for r in rows:
            cells = [f"{r[k]['modes_covered']:3d} {100 * r[k]['high_quality']:5.1f}% "
                     f"{r[k]['reverse_kl'] if r[k]['reverse_kl'] is not None else float('nan'):.3f}"
                     for k in ("raw", "ema")]  # fmt: skip
            print(f"  {r['step']:7,d}   raw {cells[0]}   ema {cells[1]}", flush=True)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--datasets", nargs="+", default=["ring", "grid"], choices=list(PRESET_OF))
    p.add_argument("--methods", nargs="+", default=None, help="method names (default: all of the dataset)")
    p.add_argument("--seeds", type=int, default=10, help="seeds 0..N-1 (PacGAN ran 10)")
    p.add_argument("--steps", type=int, default=None, help="generator steps (default: the paper's)")
    p.add_argument("--eval-every", type=int, default=10_000, help="steps between evaluations (the curves)")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--threads", type=int, default=1, help="CPU threads per worker")
    p.add_argument("--results", type=Path, default=RESULTS)
    p.add_argument("--work", type=Path, default=WORK, help="unfinished run folders (not committed)")
    p.add_argument("--docs", type=Path, default=DOCS)
    p.add_argument("--keep-runs", action="store_true", help="keep each finished run's folder in --work")
    p.add_argument("--list", action="store_true", help="print the runs still to do and exit")
    p.add_argument("--rebuild", action="store_true", help="rebuild the page from the result files only")
    p.add_argument("--time", type=int, default=0, metavar="STEPS", help="time each method for STEPS steps")
    p.add_argument(
        "--checkpoints",
        nargs="+",
        type=Path,
        default=None,
        metavar="RUN",
        help="score the raw and averaged G at every checkpoint of 2D run folders, then exit",
    )
    args = p.parse_args()
    if args.checkpoints:
        from latentkit.errors import LatentkitError

        try:
            print_checkpoint_scores(args.checkpoints)
        except LatentkitError as e:  # a folder that is not a run: one line, as latentkit's own CLI does
            print(f"error: {e}", file=sys.stderr)
            raise SystemExit(2) from None
        return
    if args.rebuild:
        rows = rebuild(args.results, args.docs)
        print(f"wrote {args.docs / 'mode_collapse.md'} ({len(rows)} rows)")
        return
    if args.time:
        time_methods(args.datasets, args.time)
        return
    jobs = [
        Job(d, m, s, args.steps, args.eval_every)
        for s in range(args.seeds)
        for d in args.datasets
        for m in (args.methods or methods_for(d))
        if m in methods_for(d)
    ]
    todo = pending(jobs, args.results)
    print(f"{len(jobs) - len(todo)} of {len(jobs)} runs done; {len(todo)} to run")
    if args.list:
        for j in todo:
            print(f"  {j.dataset} / {j.method} / seed {j.seed} / {j.total_steps:,} steps")
        return
    args.work.mkdir(parents=True, exist_ok=True)
    (args.work / ".gitignore").write_text("*\n")
    if args.threads < 1:
        p.error("--threads must be at least 1")
    os.environ.setdefault("OMP_NUM_THREADS", str(args.threads))  # inherited by the workers
    try:
        with ProcessPoolExecutor(args.workers, mp_context=get_context("spawn")) as pool:
            futures = [
                pool.submit(run_job, j, args.results, args.work, args.keep_runs, args.threads) for j in todo
            ]
            for job, f in zip(todo, futures, strict=True):
                path = f.result()
                skipped = (
                    f"skipped {job.dataset} / {job.method} / seed {job.seed}: another process is training it"
                )
                print(f"wrote {path}" if path else skipped, flush=True)
    except KeyboardInterrupt:  # the workers saw Ctrl-C too and left a checkpoint
        print("stopped: finished runs and checkpoints are kept; the same command continues", file=sys.stderr)
        raise SystemExit(130) from None
    rebuild(args.results, args.docs)


if __name__ == "__main__":
    main()
