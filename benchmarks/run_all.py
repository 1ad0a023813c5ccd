"""Run every speed benchmark and write `docs/benchmarks.md` (what `make bench` does).

    python benchmarks/run_all.py [--model pretrained/faces64] [--quick] [--out docs/benchmarks.md]

Each benchmark runs as its own process (so one's threads and memory do not colour the next) and
hands its figures back as JSON. The page lists, per figure: what we measured, the issue's target,
and the command that reproduces it, under a header with the machine, the software and the load
average, because a shared 2-core machine can halve any of these numbers. `--quick` shrinks every
benchmark to a smoke run (for checking this script, not for publishing).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH = Path(__file__).resolve().parent


@dataclass
class Row:
    """One line of the table: a figure, its target, and the command that measures it."""

    figure: str
    measured: str
    target: str
    command: str


def run(script: str, args: list[str], json_path: Path | None = None, timeout: float = 3600) -> dict:
    """Run benchmarks/SCRIPT with ARGS; the figures come from --json PATH or the last JSON stdout line."""
    cmd = [sys.executable, str(BENCH / script), *args]
    print("$", " ".join(cmd[1:]), flush=True)
    t = time.perf_counter()
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, text=True, timeout=timeout, cwd=ROOT)
    print(proc.stdout.rstrip(), f"\n({time.perf_counter() - t:.0f} s)\n", flush=True)
    if proc.returncode not in (0, 1):  # editor_latency exits 1 when the load test saw errors
        raise SystemExit(f"{script} failed with exit code {proc.returncode}")
    if json_path is not None:
        return json.loads(json_path.read_text())
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    return json.loads(lines[-1])


def shown(script: str, args: list[str]) -> str:
    """The command as a reader would type it (without our temp --json paths)."""
    kept, skip = [], False
    for a in args:
        if skip:
            skip = False
        elif a == "--json":
            skip = True
        else:
            kept.append(a)
    return "`python benchmarks/" + " ".join([script, *kept]) + "`"


def faces_render(quick: bool) -> list[Row]:
    args = ["--n", "1000" if quick else "10000", "--size", "64"]
    r = run("faces_render.py", args)
    n = args[1]
    return [
        Row(
            f"render {int(n):,} faces at 64 px",
            f"{r['best_s']:.1f} s",
            "< 60 s (10,000)",
            shown("faces_render.py", args),
        )
    ]


def train_throughput(quick: bool) -> list[Row]:
    args = ["--steps", "5" if quick else "30"]
    r = run("train_throughput.py", args)
    cmd = shown("train_throughput.py", args)
    return [
        Row(
            "training, 64 px DCGAN ngf=ndf=64 batch 64: latentkit vs plain PyTorch loop",
            f"{r['latentkit_img_per_s']} vs {r['plain_img_per_s']} img/s = **{r['ratio']:.2f}x**",
            ">= 1.15x",
            cmd,
        ),
        Row(
            "training FLOP rate vs float32 matmul",
            f"{r['latentkit_gflop_per_s']} vs {r['matmul_gflop_per_s']} GFLOP/s",
            "reported",
            cmd,
        ),
    ]


def latent_edit(quick: bool, tmp: Path, model: str | None) -> list[Row]:
    out = tmp / "latent_edit.json"
    args = ["--samples", "2000" if quick else "20000", "--batch-images", "20" if quick else "1000"]
    args += ["--model", model] if model else []
    args += ["--json", str(out)]
    r = run("latent_edit.py", args, out)
    cmd = shown("latent_edit.py", args)
    single, fit, batch = r["single_edit"], r["directions_fit"], r["batch_export"]
    ms = batch["ms_per_image"]
    where = ", ".join(f"{k} {v:.1f}" for k, v in sorted(ms.items(), key=lambda kv: -kv[1])[:4])
    one, g = single["edit_plus_forward"], r["generator"]
    rows = [
        Row(
            f"one edit rendered (edit + generator forward, batch 1, {g['resolution']} px, ngf {g['ngf']})",
            f"p50 {one['p50_ms']:.1f} ms, p95 {one['p95_ms']:.1f} ms",
            "<= 5 ms",
            cmd,
        ),
        Row(
            f"`directions fit`, N={fit['samples']:,}, three attributes, end to end",
            f"{fit['total_s']:.0f} s (render + score {fit.get('render_and_score_s', 0):.0f} s, "
            f"SVMs {fit.get('svm_fits_s', 0):.1f} s)",
            "<= 60 s",
            cmd,
        ),
        Row(
            f"batch edit of {batch['images']:,} images to signed PNG",
            f"{batch['images_per_s']} img/s (ms/image: {where})",
            "reported",
            cmd,
        ),
    ]
    for key in ("interpolation_gif", "interpolation_mp4"):
        if key in r:
            a = r[key]
            rows.append(
                Row(
                    f"interpolation: {a['frames']} frames at {a['size']} px, signed {a['format'].upper()}",
                    f"{a['total_s']:.2f} s ({a['ms_per_frame']:.0f} ms/frame, watermark bits "
                    f"{a['watermark_bit_accuracy']['mean']:.3f})",
                    "reported",
                    cmd,
                )
            )
    return rows


def editor(quick: bool, tmp: Path, model: str | None) -> list[Row]:
    out = tmp / "editor.json"
    args = ["--json", str(out)] + (["--model", model] if model else [])
    if quick:
        args += ["--n", "30", "--round-trips", "5", "--users", "4", "--edits", "3"]
    r = run("editor_latency.py", args, out)
    cmd = shown("editor_latency.py", args)
    load = r["load"]
    rows = [
        Row(
            f"editor server: slider move -> image ({r['resolution']} px)",
            f"p50 {r['server']['p50_ms']:.1f} ms, p95 {r['server']['p95_ms']:.1f} ms",
            "<= 15 ms p95",
            cmd,
        ),
    ]
    if "browser" in r:
        b = r["browser"]
        rows.append(
            Row(
                "editor in Chromium: slider set -> new picture on screen",
                f"p50 {b['p50_ms']:.0f} ms, p95 {b['p95_ms']:.0f} ms",
                "<= 150 ms p95",
                cmd,
            )
        )
    rows += [
        Row(
            f"editor load: {load['users']} users x {load['edits']} edits at once",
            f"{load['errors']} errors, p50 {load.get('p50_ms', float('nan')):.0f} ms, "
            f"p95 {load.get('p95_ms', float('nan')):.0f} ms",
            "0 errors",
            cmd,
        ),
        Row("editor process peak memory (RSS)", f"{r['peak_rss_mb']:.0f} MiB", "reported", cmd),
    ]
    return rows


def watermark(quick: bool, tmp: Path) -> list[Row]:
    out = tmp / "watermark.json"
    args = ["--n", "20" if quick else "200", "--negatives", "50" if quick else "1000"]
    args += ["--candidates", "latentkit-iss/1", "--json", str(out)]
    r = run("watermark.py", args, out)["results"][0]
    acc = r["bit_accuracy"]
    worst = min(acc, key=acc.get)
    return [
        Row(
            "watermark embed / detect, 256 px",
            f"{r['embed_ms']:.1f} ms / {r['detect_ms']:.1f} ms",
            "reported",
            shown("watermark.py", args),
        ),
        Row(
            "watermark bit accuracy, worst listed attack",
            f"{acc[worst]:.3f} ({worst}); false positives {r['false_positives']}/{r['negatives']}",
            "reported",
            shown("watermark.py", args),
        ),
    ]


def inversion(quick: bool, tmp: Path, model: str | None) -> list[Row]:
    script = BENCH / "inversion.py"
    if not script.exists():
        return []
    out = tmp / "inversion.json"
    args = ["--n", "3" if quick else "100", "--json", str(out)] + (["--model", model] if model else [])
    r = run("inversion.py", args, out)
    return [
        Row(
            f"inversion of held-out faces ({r['n']} images, {r['resolution']} px)",
            f"{r['seconds_per_image_median']:.1f} s/image (median), PSNR {r['psnr_mean']:.1f} dB, "
            f"feature distance {r['feature_distance_mean']:.2f} (between faces "
            f"{r['feature_distance_between_faces']:.2f})",
            "<= 10 s/image",
            shown("inversion.py", args),
        )
    ]


def machine() -> list[str]:
    import torch

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return [
        f"- date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}",
        f"- CPU: {cpu}, {os.cpu_count()} cores, {mem:.0f} GiB RAM, no GPU used",
        f"- Python {platform.python_version()}, torch {torch.__version__}, {platform.platform()}",
    ]


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", help="bundle for the editor and inversion benchmarks (default: each one's own)")
    p.add_argument("--quick", action="store_true", help="smoke run with tiny sizes; does not write --out")
    p.add_argument("--out", default=str(ROOT / "docs" / "benchmarks.md"))
    args = p.parse_args()
    load_before = os.getloadavg()[0]
    rows: list[Row] = []
    with tempfile.TemporaryDirectory() as tmp:
        rows += faces_render(args.quick)
        rows += train_throughput(args.quick)
        rows += latent_edit(args.quick, Path(tmp), args.model)
        rows += editor(args.quick, Path(tmp), args.model)
        rows += watermark(args.quick, Path(tmp))
        rows += inversion(args.quick, Path(tmp), args.model)
    page = [
        "# Benchmarks",
        "",
        "Written by `make bench` (`python benchmarks/run_all.py`); every row names the command that",
        "measures it alone. Targets are the issues'. Wall-clock figures on a 2-core machine move with",
        "anything else running: the load average is recorded so a reader can judge.",
        "",
        *machine(),
        f"- load average (1 min) before: {load_before:.2f}, after: {os.getloadavg()[0]:.2f}",
        "",
        "| figure | measured | target | command |",
        "| --- | --- | --- | --- |",
        *(f"| {r.figure} | {r.measured} | {r.target} | {r.command} |" for r in rows),
        "",
    ]
    text = "\n".join(page)
    print(text)
    if not args.quick:
        Path(args.out).write_text(text)
        print(f"written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
