"""Train the FeatureNet attribute predictor on faces and check issue 6's targets on held-out faces.

    python benchmarks/predictor_accuracy.py [--n 20000] [--size 64] [--epochs 4] [--save DIR]

Targets at 64 px: accuracy >= 0.98 for glasses, R^2 >= 0.95 for smile and age. Prints one JSON line
with those figures, every other attribute's score, and the training time. Runs on 2 threads in
channels_last layout, as a 2-core CPU machine would.
"""

import argparse
import json
import time

import torch

from latentkit.data import load_dataset
from latentkit.predictor import save_feature_net, train_feature_net

TARGETS = {"glasses": ("accuracy", 0.98), "smile": ("r2", 0.95), "age": ("r2", 0.95)}


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--n", type=int, default=20_000, help="faces rendered (10%% are held out)")
    p.add_argument("--size", type=int, default=64)
    p.add_argument("--epochs", type=float, default=4.0)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--no-channels-last", action="store_true")
    p.add_argument("--save", default=None, help="also save the trained net to this folder")
    args = p.parse_args()
    torch.set_num_threads(args.threads)

    t = time.perf_counter()
    data = load_dataset("faces", size=args.size, n=args.n, seed=args.seed)
    load_s = time.perf_counter() - t
    net, report = train_feature_net(
        data,
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        seed=args.seed,
        channels_last=not args.no_channels_last,
    )
    if args.save:
        save_feature_net(args.save, net, report)
    scores = report["attributes"]
    figures = {f"{name}_{metric}": round(scores[name][metric], 4) for name, (metric, _) in TARGETS.items()}
    result = {
        "benchmark": "predictor_accuracy",
        "n": args.n,
        "size": args.size,
        "threads": args.threads,
        "channels_last": not args.no_channels_last,
        **figures,
        "targets_met": all(scores[name][metric] >= goal for name, (metric, goal) in TARGETS.items()),
        "train_s": report["seconds"],
        "load_s": round(load_s, 1),
        "steps": report["steps"],
        "val_size": report["val_size"],
        "all": {name: round(s.get("accuracy", s.get("r2")), 4) for name, s in scores.items()},
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
