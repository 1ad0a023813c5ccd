"""Time rendering of the procedural faces (issue target: 10,000 faces at 64 px in under 60 s).

    python benchmarks/faces_render.py [--n 10000] [--size 64] [--repeat 3]

Prints one JSON line: best and median wall-clock seconds over the repeats, faces/s, workers.
"""

import argparse
import json
import os
import statistics
import time

from latentkit.data.faces import render_faces


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--n", type=int, default=10_000)
    p.add_argument("--size", type=int, default=64)
    p.add_argument("--repeat", type=int, default=3)
    args = p.parse_args()
    times = []
    for _ in range(args.repeat):
        t = time.perf_counter()
        render_faces(args.n, args.size, seed=0)
        times.append(time.perf_counter() - t)
    result = {
        "benchmark": "faces_render",
        "n": args.n,
        "size": args.size,
        "workers": os.cpu_count(),
        "best_s": round(min(times), 2),
        "median_s": round(statistics.median(times), 2),
        "faces_per_s": round(args.n / min(times)),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
