"""Training throughput: latentkit's loop against a minimal plain-PyTorch loop of the same networks.

    python benchmarks/train_throughput.py [--steps 200] [--rounds 4] [--size 64] [--width 64]
                                          [--batch 64] [--arch dcgan|resnet] [--precision auto] [--rss]

Both train the same networks (latentkit's DCGAN with BatchNorm, or its normalisation-free ResNet
with `--arch resnet`; non-saturating loss, Adam 2e-4/0.5) on the same in-memory faces. The plain loop
is the textbook one (NCHW tensors, float32, D's weight gradients computed in the G step). latentkit
runs as a user runs it: JSONL logging, EMA, sample grids and checkpoints on, `--precision` as given
(`auto` picks what the engine picks on this machine), and its wall clock includes all of that.

The machine is shared, so the two are alternated: `--rounds` rounds, each `--steps / --rounds` steps
of the plain loop, then as many of latentkit (one run, resumed exactly each round; a checkpoint and
a sample grid at the end of every round, which is more often than real runs write them). The ratio
is of the summed times. `--rss` also runs each loop alone in a child process for `--steps` steps
and reports its peak resident memory (the whole process: Python, torch, data, models).

Prints one JSON line: images/s of each, the ratio, the step's FLOPs (torch's counter on the plain
step), the achieved GFLOP/s, and this machine's float32 and bfloat16 matmul GFLOP/s.
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
from pathlib import Path

import torch
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode

from latentkit.data import load_dataset
from latentkit.models import DCGANConfig, ModelConfig, ResNetConfig, build_discriminator, build_generator
from latentkit.train.config import TrainConfig
from latentkit.train.loop import train

DATA_N = 10_000


def model_config(arch: str, size: int, width: int) -> ModelConfig:
    if arch == "resnet":
        return ResNetConfig(resolution=size, width=width, latent_dim=100)
    return DCGANConfig(resolution=size, ngf=width, ndf=width, latent_dim=100)


def options(cfg: ModelConfig) -> dict:
    """`cfg` as TrainConfig's `model` options (the data fixes resolution and channels)."""
    return {k: v for k, v in cfg.to_dict().items() if k not in ("resolution", "channels")}


class PlainLoop:
    """The textbook GAN step (Radford et al. 2015 / the PyTorch DCGAN tutorial) on latentkit's nets."""

    def __init__(self, cfg: ModelConfig, data: torch.Tensor, batch: int):
        torch.manual_seed(0)
        self.G, self.D, self.data, self.batch, self.latent = (
            build_generator(cfg), build_discriminator(cfg), data, batch, cfg.latent_dim
        )  # fmt: skip
        self.opt_g = torch.optim.Adam(self.G.parameters(), 2e-4, betas=(0.5, 0.999))
        self.opt_d = torch.optim.Adam(self.D.parameters(), 2e-4, betas=(0.5, 0.999))

    def step(self) -> None:
        real = self.data[torch.randint(len(self.data), (self.batch,))].float().div_(127.5).sub_(1)
        fake = self.G(torch.randn(self.batch, self.latent))
        ones, zeros = torch.ones(self.batch), torch.zeros(self.batch)
        self.opt_d.zero_grad()
        loss_d = F.binary_cross_entropy_with_logits(self.D(real), ones)
        loss_d = loss_d + F.binary_cross_entropy_with_logits(self.D(fake.detach()), zeros)
        loss_d.backward()
        self.opt_d.step()
        self.opt_g.zero_grad()
        F.binary_cross_entropy_with_logits(self.D(fake), ones).backward()
        self.opt_g.step()

    def flops(self) -> int:
        with FlopCounterMode(display=False) as counter:
            self.step()
        return counter.get_total_flops()

    def run(self, steps: int) -> float:
        """Seconds for `steps` steps."""
        t = time.perf_counter()
        for _ in range(steps):
            self.step()
        return time.perf_counter() - t


class LatentkitLoop:
    """`latentkit.train` on the same nets with everything on; each `run` continues the same run."""

    def __init__(self, cfg: ModelConfig, size: int, batch: int, precision: str, folder: Path, chunk: int):
        self.folder, self.done = folder, 0
        self.tc = TrainConfig(
            dataset="faces", size=size, data_n=DATA_N, model=options(cfg), steps=2, batch_size=batch,
            log_every=10, sample_every=chunk, checkpoint_every=chunk, precision=precision,
        )  # fmt: skip
        train(self.tc, folder / "warmup", progress=False)  # renders/caches the data, warms up kernels

    def run(self, steps: int) -> float:
        """Seconds of the `train()` call that takes the run `steps` further (startup and resume included)."""
        self.tc.steps = self.done + steps
        t = time.perf_counter()
        train(self.tc, self.folder / "run", resume=self.done > 0, progress=False)
        self.done += steps
        return time.perf_counter() - t

    def precision(self) -> str:
        log = (self.folder / "run" / "log.jsonl").read_text().splitlines()
        events = [json.loads(line) for line in log if '"precision"' in line]
        return next((e.get("precision", "?") for e in events if e.get("event") == "precision"), "?")


def matmul_gflops(dtype: torch.dtype, n_max: int = 2048, budget_s: float = 1.0) -> float:
    """Matmul GFLOP/s of this machine in `dtype` with torch's current thread count, in about `budget_s`.

    The square size doubles from 256 up to `n_max` while one product takes under a tenth of the
    budget, then products repeat until the budget is spent. A fixed 2048-square loop would take
    minutes where `dtype` has no hardware path (bf16 without AVX512-BF16/AMX runs near 1 GFLOP/s)."""
    n = 256
    while True:
        a, b = torch.randn(n, n, dtype=dtype), torch.randn(n, n, dtype=dtype)
        t = time.perf_counter()
        a @ b
        once = time.perf_counter() - t
        if n >= n_max or once > budget_s / 10:
            break
        n *= 2
    repeat, t = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - t) < budget_s or repeat == 0:
        a @ b
        repeat += 1
    return 2 * n**3 * repeat / elapsed / 1e9


def peak_rss_mb(loop: str, args: argparse.Namespace) -> float:
    """Peak resident memory (MiB) of a child process that runs only `loop` for --steps steps.

    The child reports its own high-water mark (VmHWM): the parent's rusage would not do, because a
    child forked from this process inherits its resident size into ru_maxrss."""
    cmd = [sys.executable, __file__, "--child", loop, "--steps", str(args.steps), "--size", str(args.size),
           "--width", str(args.width), "--batch", str(args.batch), "--arch", args.arch,
           "--precision", args.precision]  # fmt: skip
    result = subprocess.run(cmd, stdout=subprocess.PIPE, text=True)
    if result.returncode:
        raise SystemExit(f"{loop} child process failed ({result.returncode})")
    return float(result.stdout.strip().splitlines()[-1])


def own_peak_rss_mb() -> float:
    """This process's resident-memory high-water mark in MiB (Linux /proc, else getrusage)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024  # kB
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child(args: argparse.Namespace) -> None:
    cfg = model_config(args.arch, args.size, args.width)
    if args.child == "plain":
        PlainLoop(cfg, load_dataset("faces", size=args.size, n=DATA_N).data, args.batch).run(args.steps)
    else:
        with tempfile.TemporaryDirectory() as tmp:
            loop = LatentkitLoop(cfg, args.size, args.batch, args.precision, Path(tmp), args.steps)
            loop.run(args.steps)
    print(round(own_peak_rss_mb(), 1))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--steps", type=int, default=200, help="steps of each loop in all")
    p.add_argument("--rounds", type=int, default=4, help="alternations of the two loops")
    p.add_argument("--size", type=int, default=64)
    p.add_argument("--width", type=int, default=64, help="ngf = ndf (dcgan) or the base width (resnet)")
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--arch", choices=("dcgan", "resnet"), default="dcgan")
    p.add_argument("--precision", default="auto", help="latentkit's --precision")
    p.add_argument("--rss", action="store_true", help="also measure each loop's peak RSS in its own process")
    p.add_argument("--child", choices=("plain", "latentkit"), help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        return child(args)
    if args.steps % args.rounds:
        raise SystemExit(f"--steps {args.steps} must be a multiple of --rounds {args.rounds}")
    chunk = args.steps // args.rounds
    cfg = model_config(args.arch, args.size, args.width)
    plain = PlainLoop(cfg, load_dataset("faces", size=args.size, n=DATA_N).data, args.batch)
    flops = plain.flops()
    plain.run(2)  # warm-up
    with tempfile.TemporaryDirectory() as tmp:
        ours = LatentkitLoop(cfg, args.size, args.batch, args.precision, Path(tmp), chunk)
        t_plain = t_ours = 0.0
        for r in range(args.rounds):
            t_plain += plain.run(chunk)
            t_ours += ours.run(chunk)
            print(
                f"round {r + 1}/{args.rounds}: plain {t_plain:.1f} s, latentkit {t_ours:.1f} s",
                file=sys.stderr,
            )
        precision = ours.precision()
    images = args.steps * args.batch
    result = {
        "benchmark": "train_throughput",
        "config": f"{args.arch} {args.size}px width {args.width} batch {args.batch} ns",
        "steps": args.steps,
        "rounds": args.rounds,
        "threads": torch.get_num_threads(),
        "cpu": platform.processor() or platform.machine(),
        "load_average": round(os.getloadavg()[0], 2),
        "latentkit_precision": precision,
        "plain_img_per_s": round(images / t_plain, 1),
        "latentkit_img_per_s": round(images / t_ours, 1),
        "ratio": round(t_plain / t_ours, 3),
        "step_gflop": round(flops / 1e9, 2),
        "latentkit_gflop_per_s": round(flops / 1e9 * args.steps / t_ours, 1),
        "matmul_fp32_gflop_per_s": round(matmul_gflops(torch.float32), 1),
        "matmul_bf16_gflop_per_s": round(matmul_gflops(torch.bfloat16), 1),
    }
    if args.rss:
        result["peak_rss_mb"] = {loop: round(peak_rss_mb(loop, args), 1) for loop in ("plain", "latentkit")}
    print(json.dumps(result))


if __name__ == "__main__":
    main()
