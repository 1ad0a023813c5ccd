"""The training loop: one readable function, `train(cfg, out)`, plus the small helpers it calls.

`train` only orchestrates: it builds the data, the networks and the training objective
(objective.py, which owns D's and G's updates with every loss and regulariser), then steps, logs,
samples, evaluates and checkpoints. The generator's exponential moving average (EMA, ema.py) is
what samples and the saved bundle use. The counters a checkpoint saves live in `RunState`.

Run directory (`out`):
    config.json         every option (TrainConfig), so the run can be reproduced and resumed
    log.jsonl           metrics every `log_every` steps, warnings and events (see monitor.py)
    samples/            a fixed-noise grid every `sample_every` steps
    checkpoints/        the newest `keep_checkpoints` checkpoints (safetensors, no pickle)
    bundle/             a ready model bundle (EMA generator) for `--model RUN`
"""

from __future__ import annotations

import math
import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn
from tqdm.auto import tqdm

from latentkit.data import Dataset, load_dataset
from latentkit.errors import LatentkitError
from latentkit.io import write_json
from latentkit.models.bundle import save_bundle
from latentkit.models.config import ModelConfig, config_for_data
from latentkit.pixels import to_uint8
from latentkit.train import distributed
from latentkit.train.checkpoint import (
    Checkpoint,
    apply_rng,
    capture_rng,
    checkpoint_name,
    load_checkpoint,
    load_latest_valid,
    restore,
    save_checkpoint,
)
from latentkit.train.config import TrainConfig
from latentkit.train.ema import DEFAULT_KIMG, DEFAULT_KIMG_POINTS, ema_decay, ema_is_off, update_ema
from latentkit.train.losses import d_outputs, js_estimate
from latentkit.train.monitor import COLLAPSE_RATIO, RunLog, diversity
from latentkit.train.objective import Batches, Nets, StepLosses, build_nets, build_objective
from latentkit.train.precision import Precision
from latentkit.train.rundir import prepare_run
from latentkit.train.snapshot import recalibrated
from latentkit.viz import image_grid, points_figure, save_figure

N_FIXED = 64  # samples in the fixed-noise grid


@dataclass
class RunState:
    """The counters a checkpoint saves beside the weights, optimisers and RNG states."""

    step: int = 0  # generator steps done
    elapsed: float = 0.0  # seconds spent in training steps (not logging, sampling or saving)
    peak_diversity: float = 0.0  # highest sample diversity seen, for the collapse warning
    best_fid: float = math.inf


@dataclass
class Run:
    """What every helper of `train` reads: the options, the run folder and the things being trained."""

    cfg: TrainConfig
    out: Path
    mcfg: ModelConfig
    data: Dataset
    nets: Nets
    dist: distributed.Dist
    gen: torch.Generator  # batches and noise; saved in each checkpoint
    fixed_z: torch.Tensor  # (N_FIXED, latent_dim) noise of the sample grids
    data_diversity: float
    features: nn.Module | None  # feature network for FID (--eval-every), else None
    log: RunLog | None  # None on every process but rank 0
    precision: Precision  # what the forward passes run in (precision.py)
    ema_kimg: float  # the EMA half-life when cfg.ema_kimg is None (images and points differ)
    ema_off: bool  # no average: G_ema is a copy of G, made only where it is used (`_use_ema`)


def _use_ema(run: Run) -> nn.Module:
    """G_ema, brought up to date first when the average is off (then it is a plain copy of G)."""
    if run.ema_off:
        update_ema(run.nets.G_ema, run.nets.G, 0.0)
    return run.nets.G_ema


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


def train(cfg: TrainConfig, out: str | os.PathLike, resume: bool = False, progress: bool = True) -> Path:
    """Train a GAN as `cfg` says, writing the run directory `out`; returns `out`.

    Under torchrun every process calls this; rank 0 alone writes files.
    """
    cfg.validate()
    out = Path(out)
    cfg = prepare_run(cfg, out, resume)
    dist = _start_process(cfg)
    data = load_dataset(cfg.dataset, size=cfg.size, n=cfg.data_n, seed=cfg.data_seed)
    mcfg = config_for_data(cfg.model, data.shape, source="train config: model")
    objective = build_objective(cfg, mcfg, dist)
    # Channels-last speeds DCGAN up on CPU but slows R3GAN's grouped convs ~2.3x (measured here).
    channels_last = cfg.channels_last and data.is_image and mcfg.kind != "resnet"

    torch.manual_seed(cfg.seed)  # identical initial weights on every process
    if cfg.sync_bn and dist.world > 1 and dist.device.type == "cpu":
        raise LatentkitError("--sync-bn needs GPUs (PyTorch's SyncBatchNorm does not run on CPU)")
    nets = build_nets(
        mcfg, objective.optim, dist.device, channels_last, sync_bn=cfg.sync_bn and dist.world > 1
    )
    distributed.broadcast_state(nets.G, dist)
    distributed.broadcast_state(nets.D, dist)
    # Each process draws its own batches and noise from its own generator and shard of the data.
    gen = torch.Generator().manual_seed(cfg.seed * 1000 + dist.rank + 1)
    shard = torch.arange(dist.rank, len(data), dist.world)
    batches = Batches(data, shard, gen, cfg.batch_size, mcfg.latent_dim, dist.device, channels_last)
    fixed_z = torch.randn(N_FIXED, mcfg.latent_dim, generator=torch.Generator().manual_seed(cfg.seed))
    data_diversity = diversity(data.batch(torch.arange(min(N_FIXED, len(data)))))
    features = _eval_features(cfg, data)

    state = _resume(out, nets, gen, dist, objective.precision) if resume else RunState()
    if dist.is_main:
        out.mkdir(parents=True, exist_ok=True)
        (out / "samples").mkdir(exist_ok=True)
        # The resolved model config, so the file alone reproduces (and resumes) the run.
        write_json(out / "config.json", {**cfg.to_dict(), "model": mcfg.to_dict()})
    log = None
    if dist.is_main:
        resume_step = state.step if resume else None
        log = RunLog(out / "log.jsonl", resume_step, watch_d_fake=objective.loss.probabilities)
    if log and resume:
        log.write({"step": state.step, "event": "resume", "from_step": state.step})
    if log:
        log.write({"step": state.step, "event": "precision", "precision": objective.precision.name,
                   "requested": cfg.precision})  # fmt: skip
    ema_kimg = DEFAULT_KIMG if data.is_image else DEFAULT_KIMG_POINTS  # when cfg.ema_kimg is None
    run = Run(
        cfg, out, mcfg, data, nets, dist, gen, fixed_z, data_diversity, features, log, objective.precision,
        ema_kimg, ema_is_off(cfg.ema, cfg.ema_kimg, ema_kimg),
    )  # fmt: skip

    bar = tqdm(
        total=cfg.steps, initial=state.step, disable=not (progress and dist.is_main), dynamic_ncols=True
    )
    rate = _Rate(time.perf_counter(), state.step)
    images_per_step = cfg.batch_size * dist.world
    losses = None
    with _StopFlag() as stop:
        try:
            while state.step < cfg.steps and not stop.requested:
                t0 = time.perf_counter()
                losses = objective.step(nets, batches, state.step)
                distributed.broadcast_state(nets.G, dist, buffers_only=True)
                distributed.broadcast_state(nets.D, dist, buffers_only=True)
                if not run.ema_off:  # else G_ema is synced from G when it is used (_use_ema)
                    decay = ema_decay(
                        cfg.ema, cfg.ema_kimg, cfg.ema_rampup, state.step, images_per_step, run.ema_kimg
                    )
                    update_ema(nets.G_ema, nets.G, decay)
                state.step += 1
                state.elapsed += time.perf_counter() - t0

                # Off the hot path: the log line and the finiteness check read the losses (a host
                # sync on a GPU) every log_every steps and before each checkpoint only.
                if state.step % cfg.log_every == 0 or state.step == cfg.steps:
                    _check_finite(losses, state.step, out)
                    record = _log_step(run, state, losses, rate)
                    bar.set_postfix(
                        {k: f"{record[k]:.3f}" for k in ("d_real", "d_fake", "loss_d", "loss_g")},
                        refresh=False,
                    )
                bar.update(1)
                if state.step % cfg.sample_every == 0:
                    _save_samples(run, state)
                if cfg.eval_every and state.step % cfg.eval_every == 0:
                    _evaluate_fid(run, state)
                if state.step % cfg.checkpoint_every == 0 and state.step < cfg.steps:
                    _check_finite(losses, state.step, out)
                    _save_checkpoint(run, state)
            # The end of a run, and Ctrl-C, always leave a checkpoint and a bundle.
            _check_finite(losses, state.step, out)
            _save_samples(run, state)
            _save_checkpoint(run, state)
            if dist.world > 1:
                same = distributed.replicas_identical([nets.G, nets.D], dist)
                if log:
                    log.write({"step": state.step, "event": "replicas", "identical": same})
        finally:
            bar.close()
            if log:
                log.close()
            distributed.shutdown(dist)
    if stop.requested and dist.is_main:
        print(f"latentkit: stopped at step {state.step}; continue with --resume")
    return out


def _start_process(cfg: TrainConfig) -> distributed.Dist:
    """Join the torchrun job (if any), share the CPU cores and switch on deterministic algorithms."""
    dist = distributed.init(cfg.device)
    if dist.device.type == "cpu" and "OMP_NUM_THREADS" not in os.environ:
        # Processes on one machine share its cores; oversubscribed threads spin and crawl.
        torch.set_num_threads(max(1, (os.cpu_count() or 1) // int(os.environ.get("LOCAL_WORLD_SIZE", "1"))))
    if cfg.deterministic:
        torch.use_deterministic_algorithms(True)
        torch.backends.cudnn.benchmark = False
    return dist


def _resume(
    out: Path, nets: Nets, gen: torch.Generator, dist: distributed.Dist, precision: Precision
) -> RunState:
    """Restore nets, optimisers and RNGs from the newest valid checkpoint; its counters (or step 0)."""
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
    if ckpt is None:
        return RunState()
    saved = restore(ckpt, nets.modules, nets.optimizers)
    apply_rng(saved, {"batches": gen})
    precision.load_state_dict(saved.get("scalers", {}))
    return RunState(ckpt.step, saved["elapsed"], saved["peak_diversity"], saved.get("best_fid") or math.inf)


def _share_checkpoint(ckpt: Checkpoint | None, out: Path, dist: distributed.Dist) -> Checkpoint | None:
    """Rank 0 picks the checkpoint to resume from; the others load the same file."""
    if dist.world == 1:
        return ckpt
    import torch.distributed as tdist

    step = torch.tensor([ckpt.step if ckpt is not None else -1], dtype=torch.int64, device=dist.device)
    tdist.broadcast(step, src=0)
    if dist.is_main or step.item() < 0:
        return ckpt
    return load_checkpoint(out / "checkpoints" / checkpoint_name(step.item()))


def _save_checkpoint(run: Run, state: RunState) -> None:
    """Rank 0 writes a checkpoint and RUN/bundle (the EMA generator); every process waits for it."""
    if run.dist.is_main:
        G_ema = _use_ema(run)  # before the checkpoint captures it
        saved = capture_rng({"batches": run.gen})
        saved.update({
            "elapsed": state.elapsed, "peak_diversity": state.peak_diversity, "model": run.mcfg.to_dict(),
            "best_fid": state.best_fid if math.isfinite(state.best_fid) else None,
            "precision": run.precision.name, "scalers": run.precision.state_dict(),
        })  # fmt: skip
        nets, cfg = run.nets, run.cfg
        run_info = {
            "step": state.step,
            "dataset": cfg.dataset,
            "loss": cfg.loss,
            "precision": run.precision.name,
        }
        path = save_checkpoint(
            run.out / "checkpoints",
            state.step,
            nets.modules,
            nets.optimizers,
            saved,
            keep=cfg.keep_checkpoints,
        )
        save_bundle(
            run.out / "bundle",
            recalibrated(G_ema, run.mcfg.latent_dim, run.dist.device),
            run.mcfg,
            name=run.out.name,
            extra={"run": run_info},
        )
        run.log.write({"step": state.step, "event": "checkpoint", "path": str(path.relative_to(run.out))})
    distributed.barrier(run.dist)


def _save_samples(run: Run, state: RunState) -> None:
    """Rank 0 saves the fixed-noise grid, logs its diversity and warns when it collapses."""
    if not run.dist.is_main:
        return
    G = recalibrated(_use_ema(run), run.mcfg.latent_dim, run.dist.device)
    with torch.no_grad():
        x = G(run.fixed_z.to(run.dist.device)).float().cpu()
    path = run.out / "samples" / f"step-{state.step:08d}.png"
    if run.data.is_image:
        save_figure(path, image_grid(to_uint8(x), nrow=8))
    else:
        save_figure(path, points_figure(x.numpy(), extent=float(run.data.data.abs().max()) * 1.25))
    div = diversity(x)
    state.peak_diversity = max(state.peak_diversity, div)
    run.log.write(
        {"step": state.step, "event": "samples", "path": str(path.relative_to(run.out)), "diversity": div}
    )
    # Collapse is a fall: low diversity after having had more, not an untrained G's first grids.
    if div < COLLAPSE_RATIO * run.data_diversity and div < 0.5 * state.peak_diversity:
        message = f"samples lose diversity: {div:.3f} vs the data's {run.data_diversity:.3f} (mode collapse?)"
        run.log.write({"step": state.step, "event": "warning", "kind": "diversity", "message": message})


def _evaluate_fid(run: Run, state: RunState) -> None:
    """Rank 0 measures the EMA generator's FID and keeps the best model in RUN/best."""
    if not run.dist.is_main:
        return
    from latentkit.metrics.evaluate import evaluate  # heavy (scipy); only runs with --eval-every

    G = recalibrated(_use_ema(run), run.mcfg.latent_dim, run.dist.device)
    cfg = run.cfg
    fid = evaluate(G, run.data, run.features, ["fid"], cfg.eval_samples, seed=cfg.seed)["metrics"]["fid"]
    record = {"step": state.step, "event": "eval", "fid": fid, "best": fid < state.best_fid}
    if fid < state.best_fid:
        state.best_fid = fid
        save_bundle(run.out / "best", G, run.mcfg, name=f"{run.out.name}-best",
                    extra={"run": {"step": state.step, "fid": fid, "dataset": cfg.dataset}})  # fmt: skip
    run.log.write(record)
    tqdm.write(f"latentkit: step {state.step}: FID {fid:.3f} (best {state.best_fid:.3f})")


def _check_finite(losses: StepLosses | None, step: int, out: Path) -> None:
    """Stop with a clear error when a loss is inf or nan (the last checkpoint stays intact)."""
    if losses is None:
        return
    for name, value in (("loss_d", losses.loss_d), ("loss_g", losses.loss_g)):
        if not math.isfinite(value.item()):
            raise LatentkitError(
                f"step {step}: {name} is {value.item()} — training diverged; the last good "
                f"checkpoint in {out / 'checkpoints'} is intact (try a lower learning rate)"
            )


@dataclass
class _Rate:
    """Images per second since the previous log line."""

    t_last: float
    step_last: int

    def images_per_second(self, step: int, images_per_step: int) -> float:
        now = time.perf_counter()
        rate = (step - self.step_last) * images_per_step / max(now - self.t_last, 1e-9)
        self.t_last, self.step_last = now, step
        return round(rate, 1)


def _log_step(run: Run, state: RunState, losses: StepLosses, rate: _Rate) -> dict:
    """The log line of this step (every process joins the averages; rank 0 writes it); returns it."""
    dist = run.dist
    record = {
        "step": state.step,
        "time": round(state.elapsed, 3),
        "loss_d": distributed.all_mean(losses.loss_d.item(), dist),
        "loss_g": distributed.all_mean(losses.loss_g.item(), dist),
        "d_real": distributed.all_mean(d_outputs(losses.real_logits), dist),
        "d_fake": distributed.all_mean(d_outputs(losses.fake_logits), dist),
        "js": distributed.all_mean(js_estimate(losses.real_logits, losses.fake_logits), dist),
        "grad_norm_d": grad_norm(run.nets.D),
        "grad_norm_g": grad_norm(run.nets.G),
        "img_per_s": rate.images_per_second(state.step, run.cfg.batch_size * dist.world),
    }
    if run.log:
        run.log.write(record)
        if warning := run.log.check_health(record):
            tqdm.write(f"latentkit: warning at step {state.step}: {warning}")
    return record


def _eval_features(cfg: TrainConfig, data: Dataset):
    """The feature network for --eval-every (images), checked before training starts."""
    if not cfg.eval_every or not data.is_image:
        return None
    if not cfg.eval_features:
        raise LatentkitError("--eval-every needs --eval-features PATH (a feature network for FID)")
    from latentkit.predictor import load_feature_net

    return load_feature_net(cfg.eval_features)[0]
