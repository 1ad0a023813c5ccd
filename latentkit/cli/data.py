"""`latentkit data preview`: a grid of a dataset's samples (images, or a scatter of 2D points)."""

from __future__ import annotations

import argparse

from latentkit.cli.options import DATASET_HELP
from latentkit.errors import LatentkitError


def _preview(args: argparse.Namespace) -> int:
    import numpy as np
    import torch

    from latentkit.data import load_dataset
    from latentkit.viz import image_grid, points_figure, save_figure

    for name, low, high in (("n", 1, 10_000), ("nrow", 1, 256), ("scale", 1, 16)):
        if not low <= getattr(args, name) <= high:
            raise LatentkitError(f"--{name} {getattr(args, name)}: must be between {low} and {high}")
    ds = load_dataset(args.dataset, size=args.size, n=max(args.n, 1000), seed=args.seed)
    if not ds.is_image:
        save_figure(args.out, points_figure(ds.data[: max(args.n, 2500)].numpy()))
        print(f"wrote {args.out}: {min(len(ds), max(args.n, 2500))} points of {ds.name}")
        return 0
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
    return 0


def add_commands(sub: argparse._SubParsersAction) -> None:
    """Add `data preview` to `sub`."""
    data = sub.add_parser("data", help="look at datasets")
    data_sub = data.add_subparsers(dest="data_command", metavar="ACTION", required=True)
    prev = data_sub.add_parser("preview", help="write a grid of dataset samples")
    prev.add_argument("--dataset", default="faces", help=DATASET_HELP)
    prev.add_argument("--size", type=int, default=64, help="image size in pixels")
    prev.add_argument("--n", type=int, default=64, help="number of samples shown")
    prev.add_argument("--nrow", type=int, default=8, help="images per row")
    prev.add_argument("--scale", type=int, default=1, help="nearest-neighbour upscale factor")
    prev.add_argument("--seed", type=int, default=0)
    prev.add_argument("--by", help="sort and caption by this label (e.g. smile)")
    prev.add_argument("--out", required=True, help="output PNG")
    prev.set_defaults(func=_preview)
