"""Layer-wise edits in W+: would moving a direction on some synthesis layers only edit more cleanly?

    python benchmarks/layer_edits.py --model pretrained/faces64 [--edits 500] [--json out.json]

StyleGAN-style generators read one w per modulated layer, so an edit can move only some rows of a w+
latent (GANSpace, Harkonen et al. 2020, edits layer ranges; InterFaceGAN applies its StyleGAN
boundaries to chosen layers). For the issue's two held edits (+3 smile holding age and glasses, +3 age
holding smile and glasses; `pretrained_targets.py`), this applies the same step (strength x the
direction's scale, along the held direction) to every non-empty subset of the generator's layers, on
`--edits` samples (seeds 50,000 on, as `pretrained_targets.py`), and reports for each subset the share
raised, the mean rise and the mean |change| of the side attributes, with the predictor's scores.
All layers at once is the editor's edit. Prints the table best first (by rise minus the largest side
effect) and writes every row to `--json`.
"""

from __future__ import annotations

import argparse
import itertools
import sys

import numpy as np
import torch
from pretrained_targets import HELD, SIDE  # the protocol: what each edit holds, what it must not move


def subsets(layers: int) -> list[tuple[int, ...]]:
    """Every non-empty subset of range(layers), smallest first."""
    return [s for k in range(1, layers + 1) for s in itertools.combinations(range(layers), k)]


def sweep(editor, predictor, n: int, seed: int = 50_000) -> list[dict]:
    """One row per (edit, layer subset): raised share, mean rise, mean |change| of every attribute."""
    from latentkit.latent.report import score_latents

    bundle, layers = editor.bundle, editor.latent_shape[0]
    x = np.stack([editor.sample(s) for s in range(seed, seed + n)])  # (n, layers, D)
    before, _ = score_latents(bundle, predictor, x, binary_as="probability", space="w+")
    rows = []
    for name, held in HELD.items():
        step = 3.0 * editor.directions[name].scale * editor.direction(name, held)  # (D,), latent units
        for rows_moved in subsets(layers):
            mask = np.zeros(layers, np.float32)
            mask[list(rows_moved)] = 1.0
            edited = (x + mask[None, :, None] * step[None, None, :]).astype(np.float32)
            after, _ = score_latents(bundle, predictor, edited, binary_as="probability", space="w+")
            change = {k: after[k] - before[k] for k in before}
            rows.append(
                {
                    "edit": name,
                    "hold": held,
                    "layers": list(rows_moved),
                    "raised_fraction": float((change[name] > 0).mean()),
                    "mean_change": float(change[name].mean()),
                    "mean_abs_change": {k: float(np.abs(v).mean()) for k, v in change.items()},
                }
            )
    return rows


def score(row: dict) -> float:
    """Rise minus the largest side effect: what a cleaner edit improves."""
    return row["mean_change"] - max(row["mean_abs_change"][k] for k in SIDE[row["edit"]])


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", required=True)
    p.add_argument("--edits", type=int, default=500)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--top", type=int, default=6, help="rows printed per edit (the all-layers row always)")
    p.add_argument("--json")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    from latentkit.errors import LatentkitError
    from latentkit.latent.editor import Editor
    from latentkit.models import load_bundle
    from latentkit.predictor import bundle_predictor

    try:
        bundle = load_bundle(args.model)
        editor = Editor(bundle, space="w+")  # a Z-only generator has no layers to choose: one clear error
    except LatentkitError as e:
        print(f"layer_edits: {e}", file=sys.stderr)
        return 2
    own = bundle_predictor(bundle)
    if own is None:
        print("layer_edits: the model needs its own predictor (MODEL/predictor)", file=sys.stderr)
        return 2
    rows = sweep(editor, own[0], args.edits)
    for name in HELD:
        mine = sorted((r for r in rows if r["edit"] == name), key=score, reverse=True)
        every = max(mine, key=lambda r: len(r["layers"]))
        held, side = ", ".join(HELD[name]), ", ".join(SIDE[name])
        print(f"+3 {name} holding {held} ({args.edits} samples); side effects: {side}")
        for r in [*mine[: args.top], *([every] if every not in mine[: args.top] else [])]:
            side = " / ".join(f"{r['mean_abs_change'][k]:.3f}" for k in SIDE[name])
            tag = "  (all layers: the editor's edit)" if r is every else ""
            print(f"  layers {r['layers']!s:<16} raised {r['raised_fraction']:.2f}  rise "
                  f"{r['mean_change']:+.3f}  side {side}{tag}")  # fmt: skip
    if args.json:
        from latentkit.io import write_json

        write_json(args.json, {"model": args.model, "edits": args.edits, "rows": rows})
    return 0


if __name__ == "__main__":
    sys.exit(main())
