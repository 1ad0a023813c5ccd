"""`latentkit project` and `latentkit encoder train`: real images into a model's latent space.

    latentkit project photo.png --model pretrained/faces32 --out z.npy
    latentkit edit --model pretrained/faces32 --latent z.npy --edit smile=2 --out edited

`project` writes z.npy and its record z.projection.json (input SHA-256, space, steps, MSE, PSNR);
`latentkit edit --latent z.npy` finds the record and every exported manifest carries it.
A style-based model is projected into W+ by default (`--space w+`, saved as .json: a .npy holds z only).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from latentkit.cli.options import add_model, add_output, add_overwrite, add_progress
from latentkit.errors import LatentkitError
from latentkit.io import check_output


def _project(args: argparse.Namespace) -> int:
    from tqdm.auto import tqdm

    from latentkit.images import read_input
    from latentkit.latent.inversion import best_space, bundle_helpers, project, save_projection, sidecar_path
    from latentkit.models import load_bundle
    from latentkit.models.latents import check_space

    out = Path(args.out)
    if out.suffix not in (".npy", ".json"):
        raise LatentkitError(f"--out {out}: latents are saved as .npy or .json")
    for path in (out, sidecar_path(out)):
        check_output(path, args.overwrite, inputs=[args.image])
    bundle = load_bundle(args.model)
    if not bundle.config.makes_images:
        raise LatentkitError(f"{args.model}: model {bundle.name!r} makes 2-d points; projection needs images")
    space = check_space(bundle.generator, args.space or best_space(bundle.generator), "--space")
    if space != "z" and out.suffix == ".npy":
        raise LatentkitError(
            f"--out {out}: save {space} latents as .json (a .npy file cannot record its space)"
        )
    pixels, sha = read_input(args.image)
    net, encoder = bundle_helpers(bundle, args.predictor, args.encoder)
    if args.no_perceptual:
        net = None
    bar = tqdm(total=args.steps, desc="project", unit="step", disable=args.no_progress)
    try:
        result = project(
            bundle,
            pixels,
            feature_net=net,
            encoder=encoder,
            space=space,
            steps=args.steps,
            restarts=args.restarts,
            seed=args.seed,
            source_sha256=sha,
            progress=lambda step, steps: bar.update(),
        )
    finally:
        bar.close()
    latent, sidecar = save_projection(out, result, bundle)
    fd = f", feature distance {result.feature_distance:.3f}" if result.feature_distance is not None else ""
    print(
        f"wrote {latent} and {sidecar.name}: {args.image} projected into {bundle.name!r} ({space}) in "
        f"{result.seconds:.1f} s, PSNR {result.psnr:.2f} dB (MSE {result.mse:.5f}){fd}"
    )
    print(f"edit it: latentkit edit --model {args.model} --latent {latent} --edit smile=1.5 --out edited")
    return 0


def _encoder_train(args: argparse.Namespace) -> int:
    from latentkit.latent.encoder import BUNDLE_FOLDER, save_encoder, train_encoder
    from latentkit.models import load_bundle

    bundle = load_bundle(args.model)
    out = check_output(Path(args.out) if args.out else bundle.path / BUNDLE_FOLDER, args.overwrite)
    enc, report = train_encoder(
        bundle, steps=args.steps, batch_size=args.batch_size, seed=args.seed, progress=not args.no_progress
    )
    save_encoder(out, enc, report)
    print(
        f"encoder for {bundle.name!r} written to {out}: {report['steps']} steps in {report['seconds']:.0f} s,"
        " "
        f"held-out cosine(E(G(z)), z) {report['held_out_cosine']:.3f}"
    )
    return 0


def add_commands(sub: argparse._SubParsersAction) -> None:
    """Add the project and encoder subcommands to `sub`."""
    p = sub.add_parser("project", help="project an image into a model's latent space (then edit it)")
    p.add_argument("image", help="input image (PNG, JPEG, WebP, ...); centre-cropped and resized")
    add_model(p)
    p.add_argument("--out", required=True, help="latent file to write (.npy or .json) + its .projection.json")
    p.add_argument(
        "--space",
        choices=("z", "w", "w+"),
        help="latent space to fit (default: w+ for style-based models, z for Z-only ones)",
    )
    p.add_argument("--steps", type=int, default=250, help="optimisation steps")
    p.add_argument("--restarts", type=int, default=4, help="starting latents optimised in the first phase")
    p.add_argument("--seed", type=int, default=0, help="seed of the random starting latents")
    p.add_argument("--predictor", help="feature net for the perceptual loss (default BUNDLE/predictor)")
    p.add_argument("--no-perceptual", action="store_true", help="pixel loss only (no feature net)")
    p.add_argument("--encoder", help="encoder for a starting guess (default BUNDLE/encoder if present)")
    add_overwrite(p, "replace existing files")
    add_progress(p)
    p.set_defaults(func=_project)

    e = sub.add_parser("encoder", help="learned encoder giving `project` a starting point")
    e_sub = e.add_subparsers(dest="encoder_command", metavar="ACTION", required=True)
    t = e_sub.add_parser("train", help="train an encoder on (z, G(z)) pairs")
    add_model(t)
    t.add_argument("--steps", type=int, default=2000)
    t.add_argument("--batch-size", type=int, default=64)
    t.add_argument("--seed", type=int, default=0)
    add_output(t, "output folder (default BUNDLE/encoder)", required=False)
    add_progress(t)
    t.set_defaults(func=_encoder_train)
