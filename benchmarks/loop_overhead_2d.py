"""Per-step time of latentkit's training loop against a plain PyTorch loop of the same 2D networks.

Both train the ring recipe's networks and objective (train/recipes.py: MLPs, RpGAN + R1 + R2, Adam
(0, 0.99), cosine learning rate, batch 100) in this one process, alternating rounds so they share
the machine's load. latentkit runs its whole `train()` (logging, samples, checkpoints at the
recipe's intervals); the plain loop is the textbook one. Prints the median ms per step of the plain
loop, of latentkit's training steps (its log's clock) and of its whole `train()` call.

    OMP_NUM_THREADS=1 python benchmarks/loop_overhead_2d.py --steps 1000 --rounds 3
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from latentkit.data import load_dataset
from latentkit.models import build_discriminator, build_generator
from latentkit.models.config import config_for_data
from latentkit.train.config import TrainConfig
from latentkit.train.loop import train
from latentkit.train.monitor import read_log
from latentkit.train.recipes import apply_recipe
from latentkit.train.schedule import schedule_factor


def plain_loop(cfg: TrainConfig, steps: int) -> float:
    """Seconds per step of a plain loop: RpGAN + R1 + R2 with the recipe's settings."""
    data = load_dataset(cfg.dataset, n=cfg.data_n, seed=cfg.data_seed).data
    mcfg = config_for_data(cfg.model, data.shape[1:])
    torch.manual_seed(0)
    G, D = build_generator(mcfg), build_discriminator(mcfg)
    betas = (cfg.beta1, cfg.beta2)
    opt_g = torch.optim.Adam(G.parameters(), cfg.lr_g, betas=betas)
    opt_d = torch.optim.Adam(D.parameters(), cfg.lr_d, betas=betas)
    t0 = time.perf_counter()
    for step in range(steps):
        f = schedule_factor(cfg.lr_schedule, step, steps)
        opt_g.param_groups[0]["lr"], opt_d.param_groups[0]["lr"] = cfg.lr_g * f, cfg.lr_d * f
        x = data[torch.randint(len(data), (cfg.batch_size,))].requires_grad_(True)
        fake = G(torch.randn(cfg.batch_size, mcfg.latent_dim))
        xf = fake.detach().requires_grad_(True)
        r, fl = D(x), D(xf)
        (gr,) = torch.autograd.grad(r.sum(), x, create_graph=True)
        (gf,) = torch.autograd.grad(fl.sum(), xf, create_graph=True)
        loss_d = F.softplus(fl - r).mean()
        loss_d = (
            loss_d + cfg.r1_gamma / 2 * gr.pow(2).sum(1).mean() + cfg.r2_gamma / 2 * gf.pow(2).sum(1).mean()
        )
        opt_d.zero_grad(set_to_none=True)
        loss_d.backward()
        opt_d.step()
        D.requires_grad_(False)
        loss_g = F.softplus(D(x.detach()) - D(fake)).mean()
        opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        opt_g.step()
        D.requires_grad_(True)
    return (time.perf_counter() - t0) / steps


def latentkit_loop(cfg: TrainConfig, steps: int, out: Path) -> tuple[float, float]:
    """Seconds per step of the whole `train()` call (set-up, logging, sample grids and checkpoints
    included), and of its training steps alone (the log's `time`: steps and EMA, no I/O)."""
    cfg = TrainConfig.from_dict({**cfg.to_dict(), "steps": steps})
    t0 = time.perf_counter()
    train(cfg, out, progress=False)
    whole = (time.perf_counter() - t0) / steps
    return whole, read_log(out)[-1]["time"] / steps


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dataset", default="ring")
    p.add_argument("--steps", type=int, default=1000)
    p.add_argument("--rounds", type=int, default=3)
    a = p.parse_args()
    cfg = TrainConfig.from_dict(apply_recipe({"dataset": a.dataset, "data_n": 100_000})).validate()
    plain, whole, steps_only = [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(a.rounds):
            plain.append(plain_loop(cfg, a.steps))
            w, s = latentkit_loop(cfg, a.steps, Path(tmp) / f"run{i}")
            whole.append(w)
            steps_only.append(s)
    ms = {
        "plain_ms": statistics.median(plain) * 1e3,
        "latentkit_steps_ms": statistics.median(steps_only) * 1e3,
        "latentkit_whole_ms": statistics.median(whole) * 1e3,
    }
    ms["ratio_steps"] = ms["latentkit_steps_ms"] / ms["plain_ms"]
    ms["ratio_whole"] = ms["latentkit_whole_ms"] / ms["plain_ms"]
    print(json.dumps({k: round(v, 3) for k, v in ms.items()} | {"threads": torch.get_num_threads()}))
    assert math.isfinite(ms["ratio_whole"])


if __name__ == "__main__":
    main()
