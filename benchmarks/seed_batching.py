"""What vectorising independent seeds would buy on PacGAN's 2D networks: S seeds in one vmapped step.

The mode-collapse tables need ~10 seeds per method at 400,000 steps each (benchmarks/mode_collapse.py),
and one step of the paper's networks (latentkit.train.presets "pacgan2d": G 4 x 400 + BatchNorm, D 3
maxout layers of 200 x 5, batch 100, non-saturating loss, Adam) is ~1.3 GFLOP. This times that step for
one seed (a plain loop) against S seeds stacked with `torch.func.stack_module_state` and run under
`vmap` (one Adam over the stacked parameters, which is the same elementwise update per seed), in
alternating rounds in this process, and prints CPU ms per seed-step and the ratio. BatchNorm keeps no
running statistics in either loop (`replace_all_batch_norm_modules_`: vmap cannot update buffers in
place), so both do the same work. A measurement, not a training path.

    OMP_NUM_THREADS=1 python benchmarks/seed_batching.py --seeds 5 --steps 100 --rounds 3
"""

from __future__ import annotations

import argparse
import copy
import statistics
import time

import torch
import torch.nn.functional as F
from torch.func import functional_call, grad, replace_all_batch_norm_modules_, stack_module_state, vmap

from latentkit.models import build_discriminator, build_generator
from latentkit.models.config import config_for_data
from latentkit.train.config import TrainConfig
from latentkit.train.presets import preset_config


def paper_networks(seed: int) -> tuple[torch.nn.Module, torch.nn.Module, int]:
    """PacGAN's 2D G and D (preset pacgan2d), BatchNorm without running statistics; and z's size."""
    cfg = TrainConfig.from_dict(preset_config("pacgan2d", "ring"))
    mcfg = config_for_data(cfg.model, (2,))
    torch.manual_seed(seed)
    G, D = build_generator(mcfg), build_discriminator(mcfg)
    return replace_all_batch_norm_modules_(G), D, mcfg.latent_dim


def adam(params, lr: float = 1e-4) -> torch.optim.Adam:
    return torch.optim.Adam(params, lr, betas=(0.8, 0.999))


def plain_seconds(steps: int, batch: int = 100) -> float:
    """CPU seconds per step of one seed's plain non-saturating GAN step."""
    G, D, nz = paper_networks(0)
    og, od = adam(G.parameters()), adam(D.parameters())
    x = torch.randn(100_000, 2)
    t = time.process_time()
    for _ in range(steps):
        real = x[torch.randint(len(x), (batch,))]
        fake = G(torch.randn(batch, nz))
        loss_d = F.softplus(D(fake.detach())).mean() + F.softplus(-D(real)).mean()
        od.zero_grad(set_to_none=True)
        loss_d.backward()
        od.step()
        loss_g = F.softplus(-D(G(torch.randn(batch, nz)))).mean()
        og.zero_grad(set_to_none=True)
        loss_g.backward()
        og.step()
    return (time.process_time() - t) / steps


def stacked_seconds(seeds: int, steps: int, batch: int = 100) -> float:
    """CPU seconds per step of `seeds` independent seeds run as one vmapped step."""
    nets = [paper_networks(s) for s in range(seeds)]
    nz = nets[0][2]
    pg, bg = stack_module_state([g for g, _, _ in nets])
    pd, bd = stack_module_state([d for _, d, _ in nets])
    g0, d0 = copy.deepcopy(nets[0][0]).to("meta"), copy.deepcopy(nets[0][1]).to("meta")

    def g(p, z):
        return functional_call(g0, (p, bg), (z,))

    def d(p, v):
        return functional_call(d0, (p, bd), (v,))

    def loss_d(p_d, p_g, real, z):
        fake = g(p_g, z).detach()
        return F.softplus(d(p_d, fake)).mean() + F.softplus(-d(p_d, real)).mean()

    def loss_g(p_g, p_d, z):
        return F.softplus(-d(p_d, g(p_g, z))).mean()

    grad_d, grad_g = vmap(grad(loss_d)), vmap(grad(loss_g))
    og, od = adam(pg.values()), adam(pd.values())
    x = torch.randn(100_000, 2)
    t = time.process_time()
    for _ in range(steps):
        real = x[torch.randint(len(x), (seeds, batch))]
        for name, gr in grad_d(pd, pg, real, torch.randn(seeds, batch, nz)).items():
            pd[name].grad = gr
        od.step()
        for name, gr in grad_g(pg, pd, torch.randn(seeds, batch, nz)).items():
            pg[name].grad = gr
        og.step()
    return (time.process_time() - t) / steps


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--seeds", type=int, default=5)
    p.add_argument("--steps", type=int, default=100)
    p.add_argument("--rounds", type=int, default=3)
    args = p.parse_args()
    plain, stacked = [], []
    for _ in range(args.rounds):  # alternated, so both see the same machine load
        plain.append(plain_seconds(args.steps))
        stacked.append(stacked_seconds(args.seeds, args.steps) / args.seeds)
    a, b = statistics.median(plain), statistics.median(stacked)
    print(f"one seed, plain loop:          {1000 * a:6.1f} ms per seed-step")
    print(f"{args.seeds} seeds, vmapped together: {1000 * b:6.1f} ms per seed-step")
    print(f"speed-up per seed: {a / b:.2f}x; 400,000 steps x 10 seeds: {a * 4e6 / 3600:.1f} vs "
          f"{b * 4e6 / 3600:.1f} CPU h")  # fmt: skip


if __name__ == "__main__":
    main()
