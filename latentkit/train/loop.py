"""The training loop: one readable function, `train(cfg, out)`, plus the few helpers it calls.

A step is `n_critic` discriminator updates then one generator update. With one D step the
generator update reuses the fake batch the discriminator just saw (as the classic DCGAN loop does),
which saves a third of the generator's forward work. The generator's exponential moving average
(EMA) is what samples and the saved bundle use.

Run directory (`out`):
    config.json         every option (TrainConfig), so the run can be reproduced and resumed
    log.jsonl           metrics every `log_every` steps, warnings and events (see monitor.py)
    samples/            a fixed-noise grid every `sample_every` steps
    checkpoints/        the newest `keep_checkpoints` checkpoints (safetensors, no pickle)
    bundle/             a ready model bundle (EMA generator) for `--model RUN`
"""

from __future__ import annotations

import copy
import math
import os
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn
from torch.func import functional_call
from tqdm.auto import tqdm

from latentkit.data import Dataset, load_dataset
from latentkit.errors import LatentkitError
from latentkit.io import write_json
from latentkit.models import build_discriminator, build_generator
from latentkit.models.bundle import save_bundle
from latentkit.models.config import ModelConfig
from latentkit.pixels import to_uint8
from latentkit.train import distributed
from latentkit.train.augment import diff_augment, parse_policy
from latentkit.train.checkpoint import (
    apply_rng,
    capture_rng,
    list_checkpoints,
    load_latest_valid,
    restore,
    save_checkpoint,
)
from latentkit.train.config import TrainConfig
from latentkit.train.losses import (
    GANLoss,
    check_compatible,
    d_outputs,
    get_loss,
    gradient_penalty,
    js_estimate,
    r1_penalty,
)
from latentkit.train.monitor import COLLAPSE_RATIO, RunLog, diversity
from latentkit.train.remedies import feature_matching_loss, unrolled_parameters
from latentkit.train.snapshot import recalibrated
from latentkit.viz import image_grid, points_figure, save_figure

N_FIXED = 64  # samples in the fixed-noise grid


@dataclass
class Nets:
    """Everything that learns, and what `save_checkpoint` needs to capture it."""

    G: nn.Module
    D: nn.Module
    G_ema: nn.Module
    opt_g: torch.optim.Optimizer
    opt_d: torch.optim.Optimizer
    modules: dict[str, nn.Module] = field(init=False)
    optimizers: dict[str, torch.optim.Optimizer] = field(init=False)

    def __post_init__(self) -> None:
        self.modules = {"G": self.G, "D": self.D, "G_ema": self.G_ema}
        self.optimizers = {"G": self.opt_g, "D": self.opt_d}


def model_config_for(cfg: TrainConfig, data: Dataset) -> ModelConfig:
    """The network config, with shape fields taken from the data (resolution, channels, point size)."""
    m = copy.deepcopy(cfg.model)
    if data.is_image:
        m.kind, m.channels, m.resolution = "dcgan", data.shape[0], data.shape[1]
    else:
        m.kind, m.data_dim = "mlp", data.shape[0]
        # Batch norm in a 2D toy MLP mostly hurts; "none" unless the user asked otherwise.
        if cfg.model.d_norm == "batch" and cfg.model.g_norm == "batch":
            m.d_norm, m.g_norm = "none", "none"
    return m.validate()


def optimiser_settings(cfg: TrainConfig, loss: GANLoss) -> dict:
    """lr_g, lr_d, betas and n_critic: the user's values, else the loss's published defaults."""
    d = loss.default_optim
    betas = (
        cfg.beta1 if cfg.beta1 is not None else d["betas"][0],
        cfg.beta2 if cfg.beta2 is not None else d["betas"][1],
    )
    return {
        "lr_g": cfg.lr_g or d["lr_g"],
        "lr_d": cfg.lr_d or d["lr_d"],
        "betas": betas,
        "n_critic": cfg.n_critic or d["n_critic"],
    }


def build_nets(
    mcfg: ModelConfig, opt: dict, device: torch.device, channels_last: bool, sync_bn: bool = False
) -> Nets:
    """G, D, EMA copy of G and their Adam optimisers, on `device`."""
    G, D = build_generator(mcfg).to(device), build_discriminator(mcfg).to(device)
    if sync_bn:
        G, D = nn.SyncBatchNorm.convert_sync_batchnorm(G), nn.SyncBatchNorm.convert_sync_batchnorm(D)
    if channels_last and mcfg.kind == "dcgan":
        G, D = G.to(memory_format=torch.channels_last), D.to(memory_format=torch.channels_last)
    G_ema = copy.deepcopy(G).eval().requires_grad_(False)
    opt_g = torch.optim.Adam(G.parameters(), lr=opt["lr_g"], betas=opt["betas"])
    opt_d = torch.optim.Adam(D.parameters(), lr=opt["lr_d"], betas=opt["betas"])
    return Nets(G, D, G_ema, opt_g, opt_d)


@torch.no_grad()
def update_ema(G_ema: nn.Module, G: nn.Module, decay: float) -> None:
    """G_ema <- decay * G_ema + (1 - decay) * G for parameters; buffers are copied."""
    for pe, p in zip(G_ema.parameters(), G.parameters(), strict=True):
        pe.lerp_(p, 1.0 - decay)
    for be, b in zip(G_ema.buffers(), G.buffers(), strict=True):
        be.copy_(b)


def grad_norm(module: nn.Module) -> float:
    """L2 norm of all gradients of `module`."""
    grads = [p.grad.detach().flatten() for p in module.parameters() if p.grad is not None]
    return torch.cat(grads).norm().item() if grads else 0.0


class _StopFlag:
    """Ctrl-C asks the loop to stop at the next step boundary (and checkpoint); a second one kills."""

    def __init__(self) -> None:
        self.requested = False
        self._old = None

    def __enter__(self) -> _StopFlag:
        try:
            self._old = signal.signal(signal.SIGINT, self._handle)
        except ValueError:  # not the main thread: leave Ctrl-C alone
            self._old = None
        return self

    def _handle(self, signum, frame) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True

    def __exit__(self, *exc) -> None:
        if self._old is not None:
            signal.signal(signal.SIGINT, self._old)


def prepare_run(cfg: TrainConfig, out: Path, resume: bool) -> TrainConfig:
    """Check the run directory against `resume` and return the config to train with.

    A new run refuses a folder that already holds checkpoints; a resumed run trains with the saved
    config.json, taking only `steps`, `device` and the logging intervals from `cfg`.
    """
    has_ckpts = bool(list_checkpoints(out / "checkpoints")) if (out / "checkpoints").exists() else False
    if not resume:
        if has_ckpts:
            raise LatentkitError(
                f"{out}: already holds a run; pass --resume to continue it or choose a new --out"
            )
        return cfg
    if not (out / "config.json").exists():
        raise LatentkitError(f"{out}: no config.json, so nothing to resume (start it without --resume)")
    from latentkit.io import read_json

    saved = TrainConfig.from_dict(read_json(out / "config.json"), source=str(out / "config.json")).validate()
    for name in ("steps", "device", "log_every", "sample_every", "checkpoint_every", "keep_checkpoints"):
        setattr(saved, name, getattr(cfg, name))
    return saved.validate()


def train(cfg: TrainConfig, out: str | os.PathLike, resume: bool = False, progress: bool = True) -> Path:
    """Train a GAN as `cfg` says, writing the run directory `out`; returns `out`.

    Under torchrun every process calls this; rank 0 alone writes files.
    """
    cfg.validate()
    out = Path(out)
    cfg = prepare_run(cfg, out, resume)
    dist = distributed.init(cfg.device)
    if dist.device.type == "cpu" and "OMP_NUM_THREADS" not in os.environ:
        # Processes on one machine share its cores; oversubscribed threads spin and crawl.
        torch.set_num_threads(max(1, (os.cpu_count() or 1) // int(os.environ.get("LOCAL_WORLD_SIZE", "1"))))
    if cfg.deterministic:
        torch.use_deterministic_algorithms(True)
        torch.backends.cudnn.benchmark = False

    loss = get_loss(cfg.loss, **({"real_label": cfg.real_label} if cfg.loss in ("ns", "minimax") else {}))
    data = load_dataset(cfg.dataset, size=cfg.size, n=cfg.data_n, seed=cfg.data_seed)
    mcfg = model_config_for(cfg, data)
    check_compatible(mcfg, loss, cfg.r1_gamma)
    opt = optimiser_settings(cfg, loss)
    channels_last = cfg.channels_last and data.is_image

    torch.manual_seed(cfg.seed)  # identical initial weights on every process
    if cfg.sync_bn and dist.world > 1 and dist.device.type == "cpu":
        raise LatentkitError("--sync-bn needs GPUs (PyTorch's SyncBatchNorm does not run on CPU)")
    nets = build_nets(mcfg, opt, dist.device, channels_last, sync_bn=cfg.sync_bn and dist.world > 1)
    distributed.broadcast_state(nets.G, dist)
    distributed.broadcast_state(nets.D, dist)
    # Each process draws its own batches and noise from its own generator and shard of the data.
    gen = torch.Generator().manual_seed(cfg.seed * 1000 + dist.rank + 1)
    shard = torch.arange(dist.rank, len(data), dist.world)
    fixed_z = torch.randn(N_FIXED, mcfg.latent_dim, generator=torch.Generator().manual_seed(cfg.seed))
    data_diversity = diversity(data.batch(torch.arange(min(N_FIXED, len(data)))))

    features = _eval_features(cfg, data)
    step, elapsed, peak_diversity, best_fid = 0, 0.0, 0.0, math.inf
    if resume:
        skipped: list[str] = []

        def report(message: str) -> None:
            skipped.append(message)
            print(f"latentkit: {message}")

        ckpt = load_latest_valid(out / "checkpoints", log=report) if dist.is_main else None
        if ckpt is None and skipped:  # never restart from step 0 over a run whose checkpoints are damaged
            raise LatentkitError(
                f"{out / 'checkpoints'}: none of its {len(skipped)} checkpoint(s) is usable (see above); "
                "restore one from a backup, or move them away to restart the run from step 0"
            )
        ckpt = _share_checkpoint(ckpt, out, dist)
        if ckpt is not None:
            state = restore(ckpt, nets.modules, nets.optimizers)
            apply_rng(state, {"batches": gen})
            step, elapsed, peak_diversity = ckpt.step, state["elapsed"], state["peak_diversity"]
            best_fid = state.get("best_fid") or math.inf
    if dist.is_main:
        out.mkdir(parents=True, exist_ok=True)
        (out / "samples").mkdir(exist_ok=True)
        write_json(out / "config.json", cfg.to_dict())
    log = RunLog(out / "log.jsonl", resume_step=step if resume else None) if dist.is_main else None
    if log and resume:
        log.write({"step": step, "event": "resume", "from_step": step})

    def checkpoint() -> None:
        if dist.is_main:
            state = capture_rng({"batches": gen})
            state.update({
                "elapsed": elapsed, "peak_diversity": peak_diversity, "model": mcfg.to_dict(),
                "best_fid": best_fid if math.isfinite(best_fid) else None,
            })  # fmt: skip
            path = save_checkpoint(
                out / "checkpoints", step, nets.modules, nets.optimizers, state, keep=cfg.keep_checkpoints
            )
            save_bundle(
                out / "bundle",
                recalibrated(nets.G_ema, mcfg.latent_dim, dist.device),
                mcfg,
                name=out.name,
                extra={"run": {"step": step, "dataset": cfg.dataset, "loss": cfg.loss}},
            )
            log.write({"step": step, "event": "checkpoint", "path": str(path.relative_to(out))})
        distributed.barrier(dist)

    def samples() -> None:
        if not dist.is_main:
            return
        G = recalibrated(nets.G_ema, mcfg.latent_dim, dist.device)
        with torch.no_grad():
            x = G(fixed_z.to(dist.device)).float().cpu()
        path = out / "samples" / f"step-{step:08d}.png"
        if data.is_image:
            save_figure(path, image_grid(to_uint8(x), nrow=8))
        else:
            save_figure(path, points_figure(x.numpy(), extent=float(data.data.abs().max()) * 1.25))
        nonlocal peak_diversity
        div = diversity(x)
        peak_diversity = max(peak_diversity, div)
        log.write({"step": step, "event": "samples", "path": str(path.relative_to(out)), "diversity": div})
        # Collapse is a fall: low diversity after having had more, not an untrained G's first grids.
        if div < COLLAPSE_RATIO * data_diversity and div < 0.5 * peak_diversity:
            log.write(
                {
                    "step": step,
                    "event": "warning",
                    "kind": "diversity",
                    "message": f"samples lose diversity: {div:.3f} vs the data's {data_diversity:.3f} "
                    "(mode collapse?)",
                }
            )

    def evaluate_fid() -> None:
        nonlocal best_fid
        if not dist.is_main:
            return
        from latentkit.metrics.evaluate import evaluate

        G = recalibrated(nets.G_ema, mcfg.latent_dim, dist.device)
        fid = evaluate(G, data, features, ["fid"], cfg.eval_samples, seed=cfg.seed)["metrics"]["fid"]
        record = {"step": step, "event": "eval", "fid": fid, "best": fid < best_fid}
        if fid < best_fid:
            best_fid = fid
            save_bundle(out / "best", G, mcfg, name=f"{out.name}-best",
                        extra={"run": {"step": step, "fid": fid, "dataset": cfg.dataset}})  # fmt: skip
        log.write(record)
        tqdm.write(f"latentkit: step {step}: FID {fid:.3f} (best {best_fid:.3f})")

    def batch_real() -> torch.Tensor:
        idx = shard[torch.randint(len(shard), (cfg.batch_size,), generator=gen)]
        x = data.batch(idx).to(dist.device)
        return x.contiguous(memory_format=torch.channels_last) if channels_last else x

    policy = parse_policy(cfg.diffaugment) if data.is_image else ()

    def augment(x: torch.Tensor) -> torch.Tensor:
        return diff_augment(x, policy) if policy else x

    def noise() -> torch.Tensor:
        return torch.randn(cfg.batch_size, mcfg.latent_dim, generator=gen).to(dist.device)

    bar = tqdm(total=cfg.steps, initial=step, disable=not (progress and dist.is_main), dynamic_ncols=True)
    t_last, step_last = time.perf_counter(), step
    G, D = nets.G, nets.D
    with _StopFlag() as stop:
        try:
            while step < cfg.steps and not stop.requested:
                t0 = time.perf_counter()
                # --- discriminator: n_critic steps ---------------------------------------------
                D.requires_grad_(True)
                for _ in range(opt["n_critic"]):
                    real = batch_real()
                    fake = G(noise())
                    if cfg.r1_gamma > 0:
                        real.requires_grad_(True)
                    real_in, fake_in = augment(real), augment(fake.detach())
                    real_logits, fake_logits = D(real_in), D(fake_in)
                    loss_d = loss.d_loss(real_logits, fake_logits)
                    if loss.needs_gradient_penalty:
                        loss_d = loss_d + gradient_penalty(D, real_in, fake_in, loss.gp_weight)
                    if cfg.r1_gamma > 0:
                        loss_d = loss_d + r1_penalty(real_logits, real, cfg.r1_gamma)
                    nets.opt_d.zero_grad(set_to_none=True)
                    loss_d.backward()
                    distributed.average_gradients(D, dist)
                    nets.opt_d.step()
                    if loss.clip_weights:
                        with torch.no_grad():
                            for p in D.parameters():
                                p.clamp_(-loss.clip_weights, loss.clip_weights)
                # --- generator: one step (reusing the last fake batch when the maths allows) ---
                D.requires_grad_(False)
                if opt["n_critic"] > 1:
                    fake = G(noise())
                fake_in = augment(fake)
                if cfg.feature_matching:
                    loss_g = feature_matching_loss(D, real_in, fake_in)
                elif cfg.unrolled_steps:
                    reals = [augment(batch_real()) for _ in range(cfg.unrolled_steps)]
                    params = unrolled_parameters(D, loss, nets.opt_d, reals, fake_in)
                    loss_g = loss.g_loss(functional_call(D, params, (fake_in,)))
                else:
                    loss_g = loss.g_loss(D(fake_in))
                nets.opt_g.zero_grad(set_to_none=True)
                loss_g.backward()
                distributed.average_gradients(G, dist)
                nets.opt_g.step()
                distributed.broadcast_state(G, dist, buffers_only=True)
                distributed.broadcast_state(D, dist, buffers_only=True)
                # Warm-up (as TensorFlow's ExponentialMovingAverage with num_updates): early on the
                # average would otherwise be mostly the random initial weights.
                update_ema(nets.G_ema, G, min(cfg.ema, (1 + step) / (10 + step)))
                step += 1
                elapsed += time.perf_counter() - t0

                for name, value in (("loss_d", loss_d), ("loss_g", loss_g)):
                    if not math.isfinite(value.item()):
                        raise LatentkitError(
                            f"step {step}: {name} is {value.item()} — training diverged; the last good "
                            f"checkpoint in {out / 'checkpoints'} is intact (try a lower learning rate)"
                        )
                if step % cfg.log_every == 0 or step == cfg.steps:
                    now = time.perf_counter()
                    record = {
                        "step": step,
                        "time": round(elapsed, 3),
                        "loss_d": distributed.all_mean(loss_d.item(), dist),
                        "loss_g": distributed.all_mean(loss_g.item(), dist),
                        "d_real": distributed.all_mean(d_outputs(real_logits), dist),
                        "d_fake": distributed.all_mean(d_outputs(fake_logits), dist),
                        "js": distributed.all_mean(js_estimate(real_logits, fake_logits), dist),
                        "grad_norm_d": grad_norm(D),
                        "grad_norm_g": grad_norm(G),
                        "img_per_s": round(
                            (step - step_last) * cfg.batch_size * dist.world / max(now - t_last, 1e-9), 1
                        ),
                    }
                    t_last, step_last = now, step
                    if log:
                        log.write(record)
                        if warning := log.check_health(record):
                            tqdm.write(f"latentkit: warning at step {step}: {warning}")
                    bar.set_postfix(
                        {k: f"{record[k]:.3f}" for k in ("d_real", "d_fake", "loss_d", "loss_g")},
                        refresh=False,
                    )
                bar.update(1)
                if step % cfg.sample_every == 0:
                    samples()
                if cfg.eval_every and step % cfg.eval_every == 0:
                    evaluate_fid()
                if step % cfg.checkpoint_every == 0 and step < cfg.steps:
                    checkpoint()
            # The end of a run, and Ctrl-C, always leave a checkpoint and a bundle.
            samples()
            checkpoint()
            if dist.world > 1:
                same = distributed.replicas_identical([G, D], dist)
                if log:
                    log.write({"step": step, "event": "replicas", "identical": same})
        finally:
            bar.close()
            if log:
                log.close()
            distributed.shutdown(dist)
    if stop.requested and dist.is_main:
        print(f"latentkit: stopped at step {step}; continue with --resume")
    return out


def _eval_features(cfg: TrainConfig, data: Dataset):
    """The feature network for --eval-every (images), checked before training starts."""
    if not cfg.eval_every or not data.is_image:
        return None
    if not cfg.eval_features:
        raise LatentkitError("--eval-every needs --eval-features PATH (a feature network for FID)")
    from latentkit.metrics.features import load_feature_net

    return load_feature_net(cfg.eval_features)[0]


def _share_checkpoint(ckpt, out: Path, dist: distributed.Dist):
    """Rank 0 picks the checkpoint to resume from; the others load the same file."""
    if dist.world == 1:
        return ckpt
    import torch.distributed as tdist

    from latentkit.train.checkpoint import load_checkpoint

    step = torch.tensor([ckpt.step if ckpt is not None else -1], dtype=torch.int64, device=dist.device)
    tdist.broadcast(step, src=0)
    if dist.is_main or step.item() < 0:
        return ckpt
    return load_checkpoint(out / "checkpoints" / f"step-{step.item():08d}.safetensors")
