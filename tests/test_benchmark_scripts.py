"""The benchmark scripts the README and docs/benchmarks.md quote still run (tiny settings)."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from latentkit.train.precision import cpu_has_bf16

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow  # ~30 s: three processes load torch and train
def test_train_throughput_alternates_both_loops_and_reports_their_rates_and_memory():
    cmd = [sys.executable, str(ROOT / "benchmarks" / "train_throughput.py"), "--steps", "4", "--rounds", "2",
           "--size", "32", "--width", "8", "--batch", "8", "--rss"]  # fmt: skip
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    assert result.stderr.count("round ") == 2
    r = json.loads(result.stdout.strip().splitlines()[-1])
    native = "bf16" if cpu_has_bf16() else "fp32"  # what --precision auto picks for an image model here
    assert r["steps"] == 4 and r["latentkit_precision"] == native
    assert r["plain_img_per_s"] > 0 and r["latentkit_img_per_s"] > 0
    assert (
        r["ratio"] == round(r["latentkit_img_per_s"] / r["plain_img_per_s"], 3)
        or abs(r["ratio"] - r["latentkit_img_per_s"] / r["plain_img_per_s"]) < 0.01
    )
    assert r["step_gflop"] > 0 and r["matmul_fp32_gflop_per_s"] > 0 and r["matmul_bf16_gflop_per_s"] > 0
    assert set(r["peak_rss_mb"]) == {"plain", "latentkit"} and min(r["peak_rss_mb"].values()) > 100
