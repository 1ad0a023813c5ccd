"""`latentkit train`, `plot`, `bundle` and `eval`: training runs and what is made of them.

Training flags are derived from the `TrainConfig` fields and the model families' fields (names with
dashes, help from the field metadata); `--config FILE` gives any of them from a JSON or TOML file,
and flags on the command line win.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
from pathlib import Path

from latentkit.cli.options import add_model, add_output, add_overwrite, add_progress
from latentkit.data import BUILTIN
from latentkit.errors import LatentkitError
from latentkit.io import check_output
from latentkit.models.config import cli_options
from latentkit.train.config import TrainConfig, read_config_file
from latentkit.train.recipes import apply_recipe


def _train_fields() -> list[dataclasses.Field]:
    """TrainConfig's fields that are flags (all but `model`, whose fields are flags of their own)."""
    return [f for f in dataclasses.fields(TrainConfig) if f.name != "model"]


def _add_config_flags(p: argparse.ArgumentParser) -> None:
    """One flag per TrainConfig field and per model option, with the help of the field."""
    for f in _train_fields():
        flag = "--" + f.name.replace("_", "-")
        if f.type == "bool":
            p.add_argument(flag, dest=f.name, action=argparse.BooleanOptionalAction, help=f.metadata["help"])
        else:
            typ = {"int": int, "float": float}.get(f.type.split("|")[0].strip(), str)
            p.add_argument(flag, dest=f.name, type=typ, default=None, help=f.metadata["help"])
    group = p.add_argument_group("model options (the family and its shape come from the data)")
    for name, (typ, text) in cli_options().items():
        group.add_argument("--" + name.replace("_", "-"), dest=name, type=typ, default=None, help=text)


def _train_config(args: argparse.Namespace) -> TrainConfig:
    """Defaults (with --resume: the run's own config.json), then --config FILE, then the flags given
    on the command line, then (new runs) the dataset's recipe for what is still unset; a resumed run
    refuses flags that change more than its length and logging."""
    saved = Path(args.out) / "config.json"
    values = read_config_file(saved) if args.resume and saved.is_file() else {}
    values.update(read_config_file(args.config) if args.config else {})
    source = str(args.config) if args.config else "train options"
    model = dict(values.get("model", {}))
    for f in _train_fields():
        if getattr(args, f.name) is not None:
            values[f.name] = getattr(args, f.name)
    for name in cli_options():
        if getattr(args, name) is not None:
            model[name] = getattr(args, name)
    values["model"] = model
    if not args.resume:  # a new run: its dataset's recipe fills what the user did not set
        values = apply_recipe(values)
    return TrainConfig.from_dict(values, source=source).validate()


def _train(args: argparse.Namespace) -> int:
    from latentkit.train.loop import train

    cfg = _train_config(args)
    if not args.resume and cfg.dataset not in BUILTIN and not Path(cfg.dataset).expanduser().is_dir():
        raise LatentkitError(f"--dataset {cfg.dataset}: no such folder (or built-in dataset name)")
    out = train(cfg, args.out, resume=args.resume, progress=not args.no_progress)
    if os.environ.get("RANK", "0") == "0":  # under torchrun, one process reports
        print(f"run written to {out} (bundle: {out / 'bundle'})")
    return 0


def _plot(args: argparse.Namespace) -> int:
    from latentkit.train.monitor import plot_run

    if args.out:  # the default RUN/curves.png is the run's own figure, redrawn each time
        check_output(args.out, args.overwrite)
    print(f"wrote {plot_run(args.run, args.out)}")
    return 0


def _bundle(args: argparse.Namespace) -> int:
    import json

    from latentkit.models.bundle import CONFIG_FILE
    from latentkit.train.snapshot import bundle_checkpoint

    check_output(args.out, args.overwrite)
    out = bundle_checkpoint(args.run, args.out, step=args.step, name=args.name, ema=not args.raw)
    run = json.loads((out / CONFIG_FILE).read_text())["run"]
    print(f"wrote bundle {out}: {run['generator']} generator of {args.run} at step {run['step']}")
    return 0


def _eval(args: argparse.Namespace) -> int:
    import json

    from latentkit.data import load_dataset
    from latentkit.metrics.evaluate import evaluate
    from latentkit.models.bundle import load_bundle
    from latentkit.predictor import bundle_predictor, load_feature_net

    bundle = load_bundle(args.model)
    metrics = [m.strip() for m in args.metrics.split(",") if m.strip()]
    size = bundle.config.resolution if bundle.config.makes_images else 64
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
        return 0
    print(f"{args.model} on {args.dataset}, {result['samples']} samples per side:")
    for key, value in result["metrics"].items():
        print(f"  {key:>14}: {value:10.4f}   (real vs real: {result['real_vs_real'][key]:.4f})")
    return 0


def add_commands(sub: argparse._SubParsersAction) -> None:
    """Add train, plot, bundle and eval to `sub`."""
    t = sub.add_parser("train", help="train a GAN", description="Train a GAN; writes a run directory.")
    t.add_argument("--out", required=True, help="run directory")
    t.add_argument("--config", help="JSON or TOML file with any of the options below")
    t.add_argument(
        "--resume", action="store_true", help="continue the run in --out from its newest checkpoint"
    )
    add_progress(t)
    _add_config_flags(t)
    t.set_defaults(func=_train)

    plot = sub.add_parser("plot", help="plot a run's losses and D outputs to PNG")
    plot.add_argument("run", help="run directory")
    plot.add_argument("--out", help="output PNG (default RUN/curves.png)")
    add_overwrite(plot)
    plot.set_defaults(func=_plot)

    bundle = sub.add_parser(
        "bundle",
        help="save a run's checkpoint as a model bundle",
        description="Save the generator of one of a run's checkpoints as a model bundle (EMA weights, "
        "BatchNorm recalibrated, as the run's own bundle/).",
    )
    bundle.add_argument("run", help="run directory")
    bundle.add_argument("--step", type=int, help="checkpoint step (default: the newest)")
    add_output(bundle, "bundle folder to write")
    bundle.add_argument("--name", help="model name (default: the folder name)")
    bundle.add_argument("--raw", action="store_true", help="the raw generator instead of its EMA")
    bundle.set_defaults(func=_bundle)

    ev = sub.add_parser("eval", help="score a model against real data (FID, KID, precision/recall, ...)")
    add_model(ev)
    ev.add_argument("--dataset", default="faces")
    ev.add_argument("--data-seed", type=int, default=1, help="seed of the real samples (procedural data)")
    ev.add_argument(
        "--features",
        help="feature network (`latentkit attributes train`; default: the bundle's own predictor)",
    )
    ev.add_argument(
        "--metrics",
        default="fid,kid,pr,dc",
        help="comma list: fid, kid, pr, dc, dim (TwoNN intrinsic dimension), modes",
    )
    ev.add_argument("--samples", type=int, default=10_000, help="samples per side")
    ev.add_argument("--seed", type=int, default=0)
    ev.add_argument("--json", action="store_true", help="print JSON")
    ev.set_defaults(func=_eval)
