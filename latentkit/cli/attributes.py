"""`latentkit attributes train`: the attribute predictor that scores images for direction fitting."""

from __future__ import annotations

import argparse

from latentkit.cli.options import add_progress, names


def _attributes_train(args: argparse.Namespace) -> int:
    from latentkit.data import load_dataset
    from latentkit.predictor import save_feature_net, train_feature_net

    ds = load_dataset(args.dataset, size=args.size, n=args.n, seed=args.seed)
    attributes = names(args.attributes) if args.attributes else None
    net, report = train_feature_net(
        ds,
        attributes=attributes,
        steps=args.steps,
        epochs=args.epochs,
        seed=args.seed,
        progress=not args.no_progress,
    )
    save_feature_net(args.out, net, report)
    print(f"attribute predictor for {ds.name} at {args.size} px written to {args.out}")
    print(f"  held-out ({report['val_size']} images), {report['steps']} steps in {report['seconds']:.0f} s:")
    for name, r in report["attributes"].items():
        metric = "accuracy" if "accuracy" in r else "r2"
        print(f"  {name:12s} {r['kind']:11s} {metric:8s} {r[metric]:.4f}")
    return 0


def add_commands(sub: argparse._SubParsersAction) -> None:
    """Add `attributes train` to `sub`."""
    attr = sub.add_parser("attributes", help="attribute predictor (scores images for direction fitting)")
    attr_sub = attr.add_subparsers(dest="attributes_command", metavar="ACTION", required=True)
    t = attr_sub.add_parser("train", help="train the attribute predictor on a labelled dataset")
    t.add_argument("--dataset", default="faces", help="faces, digits or a folder with labels")
    t.add_argument("--size", type=int, default=64, help="image side in pixels (use the generator's)")
    t.add_argument("--n", type=int, help="number of samples of a procedural dataset (default 10000)")
    t.add_argument("--attributes", help="comma-separated labels (default: every label)")
    t.add_argument("--steps", type=int, help="optimiser steps (default: --epochs passes)")
    t.add_argument("--epochs", type=float, default=5.0, help="passes over the data when --steps is not given")
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--out", required=True, help="output folder (config.json + weights.safetensors)")
    add_progress(t)
    t.set_defaults(func=_attributes_train)
