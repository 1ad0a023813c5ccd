"""`latentkit directions fit` and `directions report`: InterFaceGAN, GANSpace and SeFa directions."""

from __future__ import annotations

import argparse
import hashlib
from pathlib import Path

from latentkit.cli.options import add_deprecated_alias, add_model, add_output, add_progress, names
from latentkit.errors import LatentkitError
from latentkit.io import check_output


def _load_predictor(path: str):
    from latentkit.predictor.io import WEIGHTS_FILE, load_feature_net

    net, _ = load_feature_net(path)
    weights = Path(path).expanduser() / WEIGHTS_FILE
    meta = {"path": str(path), "weights_sha256": hashlib.sha256(weights.read_bytes()).hexdigest()}
    return net, meta


def _directions_fit(args: argparse.Namespace) -> int:
    from latentkit.latent.directions import fit_directions, save_directions
    from latentkit.models import load_bundle

    bundle = load_bundle(args.model)
    attributes = names(args.attributes) if args.attributes else []
    if not attributes and not (args.pca or args.sefa):
        raise LatentkitError("directions fit: give --attributes and/or --pca N / --sefa N")
    predictor, meta = (None, None)
    if attributes:
        if not args.predictor:
            raise LatentkitError(
                "--attributes needs --predictor PRED (train one with `latentkit attributes train`)"
            )
        predictor, meta = _load_predictor(args.predictor)
    found = fit_directions(
        bundle,
        predictor,
        attributes,
        samples=args.samples,
        seed=args.seed,
        batch=args.batch,
        method=args.method,
        ratio=args.ratio,
        pca=args.pca,
        sefa=args.sefa,
        predictor_meta=meta,
        progress=not args.no_progress,
        space=args.space,
        gradient_samples=args.gradient_samples,
    )
    if args.held_variant:
        from latentkit.latent.directions import held_variant, load_directions, parse_held_variant

        known = {**_existing_directions(bundle, args.out, load_directions), **found}
        for spec in args.held_variant:
            d = held_variant(known, *parse_held_variant(spec))
            found[d.name] = d
    path = save_directions(bundle, found, args.out)
    print(f"wrote {len(found)} direction(s) to {path}")
    for name, d in found.items():
        m = d.meta
        if m["kind"] == "held":
            print(f"  {name:10s} {m['base']} with {', '.join(m['hold'])} held fixed")
        elif m["kind"] == "supervised":
            print(f"  {name:10s} {m['method']:8s} {m['metric']} {m['validation']:.4f}  (fit on {m['n_fit']})")
        else:
            what = "explained_variance_ratio" if m["kind"] == "pca" else "eigenvalue"
            print(f"  {name:10s} {m['kind']:8s} {what} {m[what]:.4g}")
    return 0


def _existing_directions(bundle, out: str | None, load) -> dict:
    """The directions already in the target file (none if it does not exist yet)."""
    from latentkit.latent.directions import directions_path

    path = Path(out) if out else directions_path(bundle)
    return load(bundle, path) if path.is_file() else {}


def _directions_report(args: argparse.Namespace) -> int:
    from latentkit.latent.editor import Editor, parse_sweep
    from latentkit.latent.report import direction_report

    check_output(args.out, args.overwrite)
    editor = Editor(args.model, space=args.space)
    predictor, _ = _load_predictor(args.predictor)
    _, strengths = parse_sweep(f"x={args.strengths}")
    report = direction_report(
        editor,
        predictor,
        args.out,
        names=names(args.directions) if args.directions else None,
        samples=args.samples,
        strengths=strengths,
        batch=args.batch,
        progress=not args.no_progress,
        separability_samples=args.separability_samples,
    )
    print(f"wrote {args.out}/report.json, report.md, responses.png and {len(report['directions'])} grid(s)")
    return 0


def add_commands(sub: argparse._SubParsersAction) -> None:
    """Add `directions fit` and `directions report` to `sub`."""
    d = sub.add_parser("directions", help="fit and assess latent directions")
    d_sub = d.add_subparsers(dest="directions_command", metavar="ACTION", required=True)
    fit = d_sub.add_parser("fit", help="fit attribute directions (InterFaceGAN) and unsupervised ones")
    add_model(fit)
    fit.add_argument("--predictor", help="attribute predictor folder (`latentkit attributes train`)")
    fit.add_argument("--attributes", help="comma-separated attributes, e.g. smile,age,glasses")
    fit.add_argument("--samples", type=int, default=20_000, help="latents sampled and scored")
    fit.add_argument(
        "--method",
        default="svm",
        choices=("svm", "svc", "logistic", "ridge", "gradient"),
        help="svm: InterFaceGAN's boundary (default); gradient: the mean unit gradient of the score, "
        "the direction that changes the attribute rather than predicts it",
    )
    fit.add_argument(
        "--gradient-samples",
        type=int,
        default=1024,
        help="gradient: latents whose score gradients are averaged",
    )
    fit.add_argument(
        "--ratio", type=float, default=0.02, help="svm/svc/gradient: share of samples taken from each end"
    )
    fit.add_argument("--pca", type=int, default=0, help="also fit this many GANSpace PCA directions")
    fit.add_argument("--sefa", type=int, default=0, help="also fit this many SeFa directions")
    fit.add_argument(
        "--held-variant",
        action="append",
        default=[],
        metavar="BASE:HOLD[,HOLD]",
        help="also store BASE with HOLD held fixed, e.g. age:glasses -> age_hold_glasses, smile:all -> "
        "smile_hold_all (every other attribute; repeatable)",
    )
    add_deprecated_alias(fit, "--conditional", "--held-variant", "held_variant", append=True)
    fit.add_argument("--seed", type=int, default=0, help="seed of the sampled latents and splits")
    fit.add_argument(
        "--space",
        choices=("z", "w"),
        help="fit on z or on w = mapping(z) (default: w for style-based models)",
    )
    fit.add_argument("--batch", type=int, default=64, help="render batch size")
    fit.add_argument("--out", help="directions file (default BUNDLE/directions.json, merged by name)")
    add_progress(fit)
    fit.set_defaults(func=_directions_fit)

    rep = d_sub.add_parser("report", help="sweep each direction: slopes, entanglement, grids, curves")
    add_model(rep)
    rep.add_argument("--predictor", required=True, help="attribute predictor folder")
    add_output(rep, "output folder")
    rep.add_argument("--directions", help="comma-separated names (default: all)")
    rep.add_argument("--samples", type=int, default=200, help="seeds 0..N-1 swept per direction")
    rep.add_argument("--strengths", default="-3:3:7", help="START:STOP:COUNT")
    rep.add_argument("--batch", type=int, default=64, help="render batch size")
    rep.add_argument(
        "--space", choices=("z", "w"), help="the directions' space (default: w for style-based models)"
    )
    rep.add_argument(
        "--separability-samples",
        type=int,
        default=2000,
        help="samples for the linear separability in Z and W (0 = skip)",
    )
    add_progress(rep)
    rep.set_defaults(func=_directions_report)
