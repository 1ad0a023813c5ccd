"""The `latentkit` command line.

Each subcommand is a small function taking the parsed arguments; the work itself lives in the
library so the Python API and the CLI do the same thing. A `LatentkitError` is printed as one line
and exits with code 2.
"""

from __future__ import annotations

import argparse
import os
import sys

import latentkit
from latentkit.errors import LatentkitError


def _data_preview(args: argparse.Namespace) -> None:
    import numpy as np
    import torch

    from latentkit.data import load_dataset
    from latentkit.viz import image_grid, points_figure, save_figure

    ds = load_dataset(args.dataset, size=args.size, n=max(args.n, 1000), seed=args.seed)
    if not ds.is_image:
        save_figure(args.out, points_figure(ds.data[: max(args.n, 2500)].numpy()))
        print(f"wrote {args.out}: {min(len(ds), max(args.n, 2500))} points of {ds.name}")
        return
    index = np.arange(min(args.n, len(ds)))
    captions = None
    if args.by:
        if args.by not in ds.labels:
            known = ", ".join(ds.labels) or "none"
            raise LatentkitError(f"--by {args.by}: the dataset has no such label (labels: {known})")
        values = ds.labels[args.by][index]
        order = np.argsort(values, kind="stable")
        index, values = index[order], values[order]
        captions = [f"{v:.2f}" for v in values]
    grid = image_grid(ds.data[torch.from_numpy(index)], nrow=args.nrow, captions=captions, scale=args.scale)
    save_figure(args.out, grid)
    print(
        f"wrote {args.out}: {len(index)} images of {ds.name}" + (f" sorted by {args.by}" if args.by else "")
    )


# Training flags: TrainConfig field -> (type, help). Model fields live in TrainConfig.model.
_TRAIN_FLAGS = {
    "dataset": (str, "faces, ring, grid, digits, stacked-digits, or a folder of images"),
    "size": (int, "image side in pixels (power of two)"),
    "data_n": (int, "number of samples of a procedural dataset"),
    "data_seed": (int, "seed of the procedural dataset"),
    "loss": (str, "ns (default), minimax, wgan, wgan-gp, hinge, lsgan"),
    "r1_gamma": (float, "R1 penalty weight (0 = off)"),
    "real_label": (float, "real target of ns/minimax; 0.9 = one-sided label smoothing"),
    "unrolled_steps": (int, "score G against D unrolled this many steps ahead (Metz et al.)"),
    "diffaugment": (str, "DiffAugment policies for D's inputs, e.g. color,translation,cutout"),
    "steps": (int, "total generator steps (--resume continues up to this)"),
    "batch_size": (int, "batch size per process"),
    "n_critic": (int, "discriminator steps per generator step"),
    "lr_g": (float, "generator learning rate"),
    "lr_d": (float, "discriminator learning rate"),
    "beta1": (float, "Adam beta1"),
    "beta2": (float, "Adam beta2"),
    "ema": (float, "decay of the generator's moving average (0 = off)"),
    "seed": (int, "seed of weights, batches and noise"),
    "device": (str, "auto, cpu or cuda"),
    "log_every": (int, "steps between log lines"),
    "sample_every": (int, "steps between sample grids"),
    "checkpoint_every": (int, "steps between checkpoints"),
    "keep_checkpoints": (int, "checkpoints kept"),
    "eval_every": (int, "steps between FID evaluations; the best model is kept in RUN/best (0 = off)"),
    "eval_features": (str, "feature network for --eval-every on images"),
    "eval_samples": (int, "samples per FID evaluation"),
}
_MODEL_FLAGS = {
    "latent_dim": (int, "size of z"),
    "ngf": (int, "generator base width"),
    "ndf": (int, "discriminator base width"),
    "g_norm": (str, "batch or none"),
    "d_norm": (str, "batch, none, spectral, layer or instance"),
    "upsample": (str, "transpose or resize"),
    "pack": (int, "PacGAN: D judges this many samples at once"),
    "minibatch": (str, "batch-level layer in D: none, stddev or discrimination"),
}
_TRAIN_SWITCHES = {
    "deterministic": "use deterministic algorithms only (bit-identical reruns)",
    "channels_last": "channels-last memory format for image models (faster on CPU)",
    "sync_bn": "SyncBatchNorm across processes under torchrun",
    "feature_matching": "G matches D's mean features instead of fooling its output (Salimans et al.)",
}


def _train_config(args: argparse.Namespace):
    """Defaults, then --config FILE, then the flags given on the command line."""
    from latentkit.train.config import TrainConfig, read_config_file

    values = read_config_file(args.config) if args.config else {}
    source = str(args.config) if args.config else "train options"
    model = dict(values.get("model", {}))
    for name in _TRAIN_FLAGS.keys() | _TRAIN_SWITCHES.keys():
        if getattr(args, name) is not None:
            values[name] = getattr(args, name)
    for name in _MODEL_FLAGS:
        if getattr(args, name) is not None:
            model[name] = getattr(args, name)
    values["model"] = model
    return TrainConfig.from_dict(values, source=source).validate()


def _train(args: argparse.Namespace) -> None:
    from latentkit.train.loop import train

    cfg = _train_config(args)
    if not args.resume and cfg.dataset not in ("faces", "ring", "grid", "digits", "stacked-digits"):
        from pathlib import Path

        if not Path(cfg.dataset).expanduser().is_dir():
            raise LatentkitError(f"--dataset {cfg.dataset}: no such folder (or built-in dataset name)")
    out = train(cfg, args.out, resume=args.resume, progress=not args.no_progress)
    if os.environ.get("RANK", "0") == "0":  # under torchrun, one process reports
        print(f"run written to {out} (bundle: {out / 'bundle'})")


def _plot(args: argparse.Namespace) -> None:
    from latentkit.train.monitor import plot_run

    print(f"wrote {plot_run(args.run, args.out)}")


def _bundle(args: argparse.Namespace) -> None:
    import json

    from latentkit.models.bundle import CONFIG_FILE
    from latentkit.train.snapshot import bundle_checkpoint

    out = bundle_checkpoint(args.run, args.out, step=args.step, name=args.name, ema=not args.raw)
    run = json.loads((out / CONFIG_FILE).read_text())["run"]
    print(f"wrote bundle {out}: {run['generator']} generator of {args.run} at step {run['step']}")


def _eval(args: argparse.Namespace) -> None:
    import json

    from latentkit.data import load_dataset
    from latentkit.metrics.evaluate import evaluate
    from latentkit.models.bundle import load_bundle
    from latentkit.predictor import bundle_predictor, load_feature_net

    bundle = load_bundle(args.model)
    metrics = [m.strip() for m in args.metrics.split(",") if m.strip()]
    size = bundle.config.resolution if bundle.config.kind == "dcgan" else 64
    data = load_dataset(args.dataset, size=size, n=2 * args.samples, seed=args.data_seed)
    features = load_feature_net(args.features)[0] if args.features and data.is_image else None
    own = bundle_predictor(bundle) if data.is_image and not args.features else None
    if own:
        features = own[0]
        if not args.json:
            print(f"features: the bundle's own predictor ({own[1]})")
    result = {"model": str(args.model), "dataset": args.dataset, **evaluate(
        bundle.generator, data, features, metrics, args.samples, args.seed
    )}  # fmt: skip
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(f"{args.model} on {args.dataset}, {result['samples']} samples per side:")
    for key, value in result["metrics"].items():
        print(f"  {key:>14}: {value:10.4f}   (real vs real: {result['real_vs_real'][key]:.4f})")


def _add_train_parser(sub) -> None:
    t = sub.add_parser("train", help="train a GAN", description="Train a GAN; writes a run directory.")
    t.add_argument("--out", required=True, help="run directory")
    t.add_argument("--config", help="JSON or TOML file with any of the options below")
    t.add_argument(
        "--resume", action="store_true", help="continue the run in --out from its newest checkpoint"
    )
    t.add_argument("--no-progress", action="store_true", help="no progress bar")
    for name, (typ, text) in {**_TRAIN_FLAGS, **_MODEL_FLAGS}.items():
        t.add_argument("--" + name.replace("_", "-"), dest=name, type=typ, default=None, help=text)
    for name, text in _TRAIN_SWITCHES.items():
        t.add_argument(
            "--" + name.replace("_", "-"),
            dest=name,
            action=argparse.BooleanOptionalAction,
            default=None,
            help=text,
        )
    t.set_defaults(func=_train)

    plot = sub.add_parser("plot", help="plot a run's losses and D outputs to PNG")
    plot.add_argument("run", help="run directory")
    plot.add_argument("--out", help="output PNG (default RUN/curves.png)")
    plot.set_defaults(func=_plot)

    bundle = sub.add_parser(
        "bundle",
        help="save a run's checkpoint as a model bundle",
        description="Save the generator of one of a run's checkpoints as a model bundle (EMA weights, "
        "BatchNorm recalibrated, as the run's own bundle/).",
    )
    bundle.add_argument("run", help="run directory")
    bundle.add_argument("--step", type=int, help="checkpoint step (default: the newest)")
    bundle.add_argument("--out", required=True, help="bundle folder to write")
    bundle.add_argument("--name", help="model name (default: the folder name)")
    bundle.add_argument("--raw", action="store_true", help="the raw generator instead of its EMA")
    bundle.set_defaults(func=_bundle)

    ev = sub.add_parser("eval", help="score a model against real data (FID, KID, precision/recall, ...)")
    ev.add_argument("--model", required=True, help="bundle or run directory")
    ev.add_argument("--dataset", default="faces")
    ev.add_argument("--data-seed", type=int, default=1, help="seed of the real samples (procedural data)")
    ev.add_argument("--features", help="feature network bundle (from `latentkit attributes train`)")
    ev.add_argument("--metrics", default="fid,kid,pr,dc", help="comma list: fid, kid, pr, dc, modes")
    ev.add_argument("--samples", type=int, default=10_000, help="samples per side")
    ev.add_argument("--seed", type=int, default=0)
    ev.add_argument("--json", action="store_true", help="print JSON")
    ev.set_defaults(func=_eval)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every subcommand."""
    p = argparse.ArgumentParser(prog="latentkit", description=latentkit.__doc__)
    p.add_argument("--version", action="version", version=f"latentkit {latentkit.__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", required=True)

    data = sub.add_parser("data", help="look at datasets")
    data_sub = data.add_subparsers(dest="data_command", metavar="ACTION", required=True)
    prev = data_sub.add_parser("preview", help="write a grid of dataset samples")
    prev.add_argument(
        "--dataset", default="faces", help="faces, ring, grid, digits, stacked-digits or a folder"
    )
    prev.add_argument("--size", type=int, default=64, help="image size in pixels")
    prev.add_argument("--n", type=int, default=64, help="number of samples shown")
    prev.add_argument("--nrow", type=int, default=8, help="images per row")
    prev.add_argument("--scale", type=int, default=1, help="nearest-neighbour upscale factor")
    prev.add_argument("--seed", type=int, default=0)
    prev.add_argument("--by", help="sort and caption by this label (e.g. smile)")
    prev.add_argument("--out", required=True, help="output PNG")
    prev.set_defaults(func=_data_preview)

    _add_train_parser(sub)

    from latentkit.app.commands import add_commands as add_app_commands
    from latentkit.latent.commands import add_commands as add_latent_commands
    from latentkit.latent.inversion_commands import add_commands as add_inversion_commands
    from latentkit.provenance.commands import add_commands as add_provenance_commands

    add_latent_commands(sub)
    add_inversion_commands(sub)
    add_provenance_commands(sub)
    add_app_commands(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `latentkit` console script; returns the exit code."""
    args = build_parser().parse_args(argv)
    try:
        code = args.func(args)
    except LatentkitError as e:
        print(f"latentkit: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("latentkit: interrupted", file=sys.stderr)
        return 130
    return code or 0


if __name__ == "__main__":
    sys.exit(main())
