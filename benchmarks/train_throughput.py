"""Training throughput: latentkit's loop against a minimal plain-PyTorch DCGAN loop.

    python benchmarks/train_throughput.py [--steps 40] [--size 64] [--width 64] [--batch 64]

Both train the same networks (DCGAN, BatchNorm, non-saturating loss, Adam 2e-4/0.5) on the same
in-memory faces. The plain loop is the textbook one (NCHW tensors, D's weight gradients computed in
the G step). latentkit runs with everything on: JSONL logging, EMA, sample grids and checkpoints
(each once mid-run and at the end), and its wall clock includes all of that. Prints one JSON line:
images/s of each, the ratio, achieved training GFLOP/s and the machine's float32 matmul GFLOP/s.
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode

from latentkit.data import load_dataset
from latentkit.models import DCGANConfig, ModelConfig, build_discriminator, build_generator
from latentkit.train.config import TrainConfig
from latentkit.train.loop import train


def plain_step(G, D, opt_g, opt_d, data, batch: int, latent: int) -> None:
    """One textbook DCGAN step (Radford et al. 2015 / the PyTorch DCGAN tutorial)."""
    real = data[torch.randint(len(data), (batch,))].float().div_(127.5).sub_(1)
    fake = G(torch.randn(batch, latent))
    ones, zeros = torch.ones(batch), torch.zeros(batch)
    opt_d.zero_grad()
    loss_d = F.binary_cross_entropy_with_logits(D(real), ones) + F.binary_cross_entropy_with_logits(
        D(fake.detach()), zeros
    )
    loss_d.backward()
    opt_d.step()
    opt_g.zero_grad()
    loss_g = F.binary_cross_entropy_with_logits(D(fake), ones)
    loss_g.backward()
    opt_g.step()


def plain_loop(cfg: ModelConfig, data: torch.Tensor, steps: int, batch: int) -> tuple[float, float]:
    """Returns (images/s, FLOPs per step) of the plain loop."""
    torch.manual_seed(0)
    G, D = build_generator(cfg), build_discriminator(cfg)
    opt_g = torch.optim.Adam(G.parameters(), 2e-4, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(D.parameters(), 2e-4, betas=(0.5, 0.999))
    with FlopCounterMode(display=False) as counter:
        plain_step(G, D, opt_g, opt_d, data, batch, cfg.latent_dim)
    for _ in range(2):
        plain_step(G, D, opt_g, opt_d, data, batch, cfg.latent_dim)
    t = time.perf_counter()
    for _ in range(steps):
        plain_step(G, D, opt_g, opt_d, data, batch, cfg.latent_dim)
    return steps * batch / (time.perf_counter() - t), counter.get_total_flops()


def latentkit_loop(cfg: ModelConfig, size: int, steps: int, batch: int) -> float:
    """Images/s of `latentkit.train` with logging, EMA, samples and checkpoints on (wall clock)."""
    with tempfile.TemporaryDirectory() as tmp:
        tc = TrainConfig(
            dataset="faces", size=size, data_n=10_000, model=cfg, steps=2, batch_size=batch,
            log_every=10, sample_every=steps // 2, checkpoint_every=steps // 2,
        )  # fmt: skip
        train(tc, Path(tmp) / "warmup", progress=False)  # renders/caches the data, warms up kernels
        tc.steps = steps
        t = time.perf_counter()
        train(tc, Path(tmp) / "run", progress=True)
        return steps * batch / (time.perf_counter() - t)


def matmul_gflops(n: int = 2048, repeat: int = 10) -> float:
    """Float32 matmul GFLOP/s of this machine with torch's current thread count."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b
    t = time.perf_counter()
    for _ in range(repeat):
        a @ b
    return 2 * n**3 * repeat / (time.perf_counter() - t) / 1e9


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--steps", type=int, default=40)
    p.add_argument("--size", type=int, default=64)
    p.add_argument("--width", type=int, default=64, help="ngf = ndf")
    p.add_argument("--batch", type=int, default=64)
    args = p.parse_args()
    cfg = DCGANConfig(resolution=args.size, ngf=args.width, ndf=args.width, latent_dim=100)
    data = load_dataset("faces", size=args.size, n=10_000).data
    plain, flops = plain_loop(cfg, data, args.steps, args.batch)
    ours = latentkit_loop(cfg, args.size, args.steps, args.batch)
    print(
        json.dumps(
            {
                "benchmark": "train_throughput",
                "config": f"{args.size}px ngf=ndf={args.width} batch {args.batch} ns BatchNorm",
                "steps": args.steps,
                "threads": torch.get_num_threads(),
                "cpu": platform.processor() or platform.machine(),
                "plain_img_per_s": round(plain, 1),
                "latentkit_img_per_s": round(ours, 1),
                "ratio": round(ours / plain, 3),
                "plain_step_gflop": round(flops / 1e9, 2),
                "latentkit_gflop_per_s": round(flops / 1e9 * ours / args.batch, 1),
                "matmul_gflop_per_s": round(matmul_gflops(), 1),
            }
        )
    )


if __name__ == "__main__":
    main()
