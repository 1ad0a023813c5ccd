"""The `latentkit` command line.

Each subcommand is a small function taking the parsed arguments; the work itself lives in the
library so the Python API and the CLI do the same thing. A `LatentkitError` is printed as one line
and exits with code 2.
"""

from __future__ import annotations

import argparse
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
    return p


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `latentkit` console script; returns the exit code."""
    args = build_parser().parse_args(argv)
    try:
        args.func(args)
    except LatentkitError as e:
        print(f"latentkit: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("latentkit: interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
