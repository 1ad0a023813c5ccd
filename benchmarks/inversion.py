"""Issues 9 and 18: project held-out rendered faces into a model and measure the round trip.

    python benchmarks/inversion.py --model pretrained/faces32 --n 100 [--json out.json]
    python benchmarks/inversion.py --model runs/f64s/bundle --space w+ --n 100   # issue 18: >= 28 dB

`--space` is z, w or w+ (default: the model's best, w+ for style-based models); `--prior`,
`--layers`, `--noise`, `--lr` override `project`'s defaults for that space.

Faces come from `latentkit.data` with data seed 12345 (training uses seed 0), at the model's
resolution. For each face: `project` with the bundle's predictor (perceptual loss) and encoder (if
any), then
  - PSNR of the reconstruction (dB) and the feature distance (L2 of the predictor's pooled features;
    for scale, the table also gives the mean distance between two *different* held-out faces);
  - attributes through the round trip: the predictor's score of input vs reconstruction, mean
    absolute difference per attribute, and glasses agreement (both thresholded at 0.5);
  - seconds per image on this CPU (target <= 10 s at 64 px with 1-2 threads), wall-clock and CPU
    time (the process's; on a machine shared with other jobs wall-clock overstates the cost).
Prints a markdown table and, with --json, writes every figure to that file.
"""

import argparse
import time
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from latentkit.data.faces import render_faces
from latentkit.io import write_json
from latentkit.latent.inversion import best_space, bundle_helpers, project
from latentkit.models import load_bundle
from latentkit.models.latents import check_space
from latentkit.predictor import extract_features, predict_attributes

TIME_TARGET_S = 10.0
PSNR_TARGET_DB = 28.0  # issue 18: W+ projection of 100 held-out faces, mean PSNR


def to_nchw(images: np.ndarray) -> torch.Tensor:
    """(N, H, W, 3) uint8 -> (N, 3, H, W) uint8 tensor, as the feature net helpers take."""
    return torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2)


def round_trip(net, inputs: np.ndarray, recons: np.ndarray) -> dict:
    """Attribute agreement of inputs and reconstructions (N, H, W, 3) uint8 under the predictor."""
    a, b = predict_attributes(net, to_nchw(inputs)), predict_attributes(net, to_nchw(recons))
    out = {"mean_abs_diff": {k: round(float(np.mean(np.abs(a[k] - b[k]))), 4) for k in a}}
    if "glasses" in a:
        out["glasses_agreement"] = round(float(np.mean((a["glasses"] > 0.5) == (b["glasses"] > 0.5))), 4)
    return out


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--model", default="pretrained/faces32")
    p.add_argument("--n", type=int, default=100)
    p.add_argument("--data-seed", type=int, default=12345, help="faces seed (training used 0)")
    p.add_argument("--steps", type=int, default=250)
    p.add_argument("--restarts", type=int, default=4)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--encoder", help="encoder folder (default BUNDLE/encoder if present)")
    p.add_argument("--predictor", help="attribute predictor folder (default BUNDLE/predictor)")
    p.add_argument("--space", choices=("z", "w", "w+"), help="latent space (default: the model's best)")
    p.add_argument("--lr", type=float, help="peak learning rate (default: the space's)")
    p.add_argument("--prior", type=float, help="prior weight (default: the space's)")
    p.add_argument("--layers", type=float, default=0.01, help="w+ layer term weight")
    p.add_argument("--noise", type=float, default=0.05, help="W noise at the start, in w_std")
    p.add_argument("--json", help="write the figures to this file")
    args = p.parse_args()
    torch.set_num_threads(args.threads)

    bundle = load_bundle(args.model)
    space = check_space(bundle.generator, args.space or best_space(bundle.generator), "--space")
    net, encoder = bundle_helpers(bundle, args.predictor, args.encoder)
    if net is None:
        raise SystemExit(f"{args.model}: no predictor/ folder; pass --predictor (the benchmark needs one)")
    res = bundle.config.resolution
    faces, labels = render_faces(args.n, size=res, seed=args.data_seed, workers=1)
    recons, psnrs, dists, seconds, cpu = [], [], [], [], []
    for img in tqdm(faces, desc="project", unit="face"):
        t, c = time.perf_counter(), time.process_time()
        r = project(
            bundle,
            img,
            space=space,
            feature_net=net,
            encoder=encoder,
            steps=args.steps,
            restarts=args.restarts,
            lr=args.lr,
            prior=args.prior,
            layers=args.layers,
            noise=args.noise,
        )
        seconds.append(time.perf_counter() - t)
        cpu.append(time.process_time() - c)
        recons.append(r.image)
        psnrs.append(r.psnr)
        dists.append(r.feature_distance)
    recons = np.stack(recons)
    f = extract_features(net, to_nchw(faces))
    between = float((f - f.roll(1, dims=0)).norm(dim=1).mean())  # face i vs face i-1: unrelated faces
    attrs = round_trip(net, faces, recons)
    glasses_truth = (
        float(
            np.mean((predict_attributes(net, to_nchw(recons))["glasses"] > 0.5) == (labels["glasses"] > 0.5))
        )
        if "glasses" in labels
        else None
    )
    result = {
        "benchmark": "inversion",
        "model": bundle.name,
        "model_path": str(Path(args.model)),
        "resolution": res,
        "space": space,
        "n": args.n,
        "data_seed": args.data_seed,
        "steps": args.steps,
        "restarts": args.restarts,
        "settings": {k: getattr(args, k) for k in ("lr", "prior", "layers", "noise")},
        "threads": args.threads,
        "encoder": encoder is not None,
        "psnr_mean": round(float(np.mean(psnrs)), 3),
        "psnr_median": round(float(np.median(psnrs)), 3),
        "psnr_p10": round(float(np.percentile(psnrs, 10)), 3),
        "feature_distance_mean": round(float(np.mean(dists)), 4),
        "feature_distance_between_faces": round(between, 4),
        **attrs,
        "glasses_accuracy_vs_label": None if glasses_truth is None else round(glasses_truth, 4),
        "seconds_per_image_mean": round(float(np.mean(seconds)), 2),
        "seconds_per_image_median": round(float(np.median(seconds)), 2),
        "cpu_seconds_per_image_mean": round(float(np.mean(cpu)), 2),
        "time_target_s": TIME_TARGET_S,
        "time_target_met": bool(np.median(seconds) <= TIME_TARGET_S),
        "psnr_target_db": PSNR_TARGET_DB if space == "w+" else None,
        "psnr_target_met": bool(np.mean(psnrs) >= PSNR_TARGET_DB) if space == "w+" else None,
    }
    print(markdown(result))
    if args.json:
        write_json(args.json, result)
        print(f"\nwrote {args.json}")


def markdown(r: dict) -> str:
    rows = [
        (
            "PSNR, mean / median / 10th percentile (dB)",
            f"{r['psnr_mean']} / {r['psnr_median']} / {r['psnr_p10']}"
            + (f" (target >= {r['psnr_target_db']:g} mean)" if r["psnr_target_db"] else ""),
        ),
        (
            "feature distance, reconstruction vs input (two different faces)",
            f"{r['feature_distance_mean']} ({r['feature_distance_between_faces']})",
        ),
        *[(f"attribute \\|input - reconstruction\\|: {k}", str(v)) for k, v in r["mean_abs_diff"].items()],
    ]
    if "glasses_agreement" in r:
        rows.append(("glasses agreement, input vs reconstruction", str(r["glasses_agreement"])))
        rows.append(
            ("glasses accuracy of reconstruction vs ground-truth label", str(r["glasses_accuracy_vs_label"]))
        )
    rows.append(
        (
            f"seconds per image, mean / median ({r['threads']} thread(s), target <= {r['time_target_s']:g})",
            f"{r['seconds_per_image_mean']} / {r['seconds_per_image_median']}",
        )
    )
    rows.append(
        (
            "CPU seconds per image, mean (what an idle machine would take per thread)",
            str(r["cpu_seconds_per_image_mean"]),
        )
    )
    head = (
        f"Inversion of {r['n']} held-out faces (data seed {r['data_seed']}) into {r['model']!r} "
        f"({r['resolution']} px) in {r['space'].upper()}, {r['steps']} steps, {r['restarts']} restarts"
        + (", encoder start" if r["encoder"] else "")
    )
    lines = [head, "", "| measure | value |", "| --- | --- |", *[f"| {a} | {b} |" for a, b in rows]]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
