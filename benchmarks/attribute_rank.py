"""How many attributes can a generator vary independently near one sample? The local rank of z -> attributes.

    python benchmarks/attribute_rank.py --models pretrained/faces64 runs/f64m:12000 [--samples 64]
                                        [--predictor pretrained/faces64/predictor] [--json out.json]

For each model (a bundle, or RUN:STEP for a run's EMA generator at that checkpoint), at `--samples`
random z: the Jacobian J (A, D) of the predictor's A continuous attribute scores (label units, each
divided by its spread over the samples, so attributes weigh alike) with respect to z, and for
style-based models also with respect to w. Reported: the mean over samples of the singular values
sigma_k / sigma_1, k = 1..A. Real faces vary all eight continuous attributes independently, so a
generator that covers them needs eight non-negligible values everywhere; a generator whose values
fall off after two lies, near each sample, on a 2-dimensional sheet of attribute space: its
marginals can match the data while recall stays near zero. Comparing the z and w spectra locates
the loss: w full but z low means the mapping network squashes the directions the synthesis uses.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch


def load_generator(spec: str) -> tuple[str, torch.nn.Module]:
    """(label, eval-mode generator) from a bundle path or RUN:STEP (EMA weights of that checkpoint)."""
    from latentkit.models import load_bundle
    from latentkit.train.checkpoint import load_checkpoint
    from latentkit.train.snapshot import checkpoint_generator, find_checkpoint

    run, _, step = spec.rpartition(":")
    if run and step.isdigit() and Path(run).is_dir():
        G, _ = checkpoint_generator(load_checkpoint(find_checkpoint(run, int(step))))
        return spec, G.eval()
    return spec, load_bundle(spec).generator.eval()


def spectrum(scores, inputs: torch.Tensor, names: list[str]) -> np.ndarray:
    """Mean over samples of sigma_k / sigma_1 of d(standardised scores)/d(inputs): (A,)."""
    s = torch.stack([scores[k] for k in names], 1)  # (N, A)
    rows = [torch.autograd.grad(s[:, j].sum(), inputs, retain_graph=True)[0] for j in range(len(names))]
    J = torch.stack(rows, 1) / s.std(0).detach()[None, :, None]  # (N, A, D)
    sv = torch.linalg.svdvals(J)
    return (sv / sv[:, :1]).mean(0).detach().numpy()


def measure(G, predictor, samples: int, seed: int) -> dict:
    from latentkit.models.latents import is_style_based, map_to_w, synthesize

    z = torch.randn(samples, G.latent_dim, generator=torch.Generator().manual_seed(seed))
    names = [a.name for a in predictor.attributes if a.kind == "continuous"]
    out = {"attributes": names}
    spaces = {"z": z, "w": torch.from_numpy(map_to_w(G, z.numpy()))} if is_style_based(G) else {"z": z}
    for space, x in spaces.items():
        x.requires_grad_(True)
        out[space] = spectrum(predictor.scores(synthesize(G, x, space)), x, names).tolist()
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", nargs="+", required=True, help="bundles or RUN:STEP")
    p.add_argument("--predictor", default="pretrained/faces64/predictor")
    p.add_argument("--samples", type=int, default=64)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--json")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    from latentkit.predictor import load_feature_net

    predictor = load_feature_net(args.predictor)[0].eval()
    results = {}
    for spec in args.models:
        label, G = load_generator(spec)
        r = results[label] = measure(G, predictor, args.samples, args.seed)
        for space in ("z", "w"):
            if space in r:
                print(
                    f"{label:40s} {space}: sigma_k/sigma_1 " + " ".join(f"{v:.3f}" for v in r[space]),
                    flush=True,
                )
    if args.json:
        from latentkit.io import write_json

        write_json(args.json, results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
