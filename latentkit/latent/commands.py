"""CLI subcommands of the latent package: attributes train, directions fit/report, edit, interpolate.

`add_commands(subparsers)` is called by `latentkit.cli.build_parser`. Every image written for users
goes through `latentkit.provenance.export_image` (watermark, manifest, C2PA signature). Heavy imports
happen inside the functions so `--help` stays fast.

A recipe (`latentkit edit --recipe FILE.toml|.json`) is a list of edit jobs; each key is optional
and defaults to the command-line value:

    [[jobs]]
    name = "smiling"              # subfolder of --out ("" = --out itself)
    seeds = "0-9"                 # or: latent = "z.npy" (relative to the recipe file)
    edits = { smile = 2.0, age = -1.0 }
    conditional = ["glasses"]
    mode = "relative"             # or "absolute"
    sweep = "smile=-3:3:7"
    psi = 0.7

A JSON recipe is {"jobs": [...]} or the bare list.
"""

from __future__ import annotations

import argparse
import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from latentkit.errors import LatentkitError

JOB_KEYS = ("name", "seeds", "latent", "edits", "conditional", "mode", "sweep", "psi")


# --- attributes train ----------------------------------------------------------------------------


def _attributes_train(args: argparse.Namespace) -> int:
    from latentkit.data import load_dataset
    from latentkit.metrics.features import save_feature_net, train_feature_net

    ds = load_dataset(args.dataset, size=args.size, n=args.n, seed=args.seed)
    names = _names(args.attributes) if args.attributes else None
    net, report = train_feature_net(
        ds,
        attributes=names,
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


# --- directions fit / report ---------------------------------------------------------------------


def _load_predictor(path: str):
    from latentkit.metrics.features import WEIGHTS_FILE, load_feature_net

    net, _ = load_feature_net(path)
    weights = Path(path).expanduser() / WEIGHTS_FILE
    meta = {"path": str(path), "weights_sha256": hashlib.sha256(weights.read_bytes()).hexdigest()}
    return net, meta


def _directions_fit(args: argparse.Namespace) -> int:
    from latentkit.latent.directions import fit_directions, save_directions
    from latentkit.models import load_bundle

    bundle = load_bundle(args.model)
    attributes = _names(args.attributes) if args.attributes else []
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
    )
    if args.conditional:
        from latentkit.latent.directions import conditional_variant, load_directions

        known = {**_existing_directions(bundle, args.out, load_directions), **found}
        for spec in args.conditional:
            d = conditional_variant(known, spec)
            found[d.name] = d
    path = save_directions(bundle, found, args.out)
    print(f"wrote {len(found)} direction(s) to {path}")
    for name, d in found.items():
        m = d.meta
        if m["kind"] == "conditional":
            print(f"  {name:10s} {m['base']} with {', '.join(m['conditioned_on'])} held fixed")
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

    editor = Editor(args.model)
    predictor, _ = _load_predictor(args.predictor)
    _, strengths = parse_sweep(f"x={args.strengths}")
    report = direction_report(
        editor,
        predictor,
        args.out,
        names=_names(args.directions) if args.directions else None,
        samples=args.samples,
        strengths=strengths,
        batch=args.batch,
        progress=not args.no_progress,
    )
    print(f"wrote {args.out}/report.json, report.md, responses.png and {len(report['directions'])} grid(s)")
    return 0


# --- edit ----------------------------------------------------------------------------------------


@dataclass
class EditJob:
    """One batch of edits: which latents, which edits, where (a subfolder of --out)."""

    name: str = ""
    seeds: list[int] | None = None
    latent: Path | None = None
    edits: dict[str, float] = field(default_factory=dict)
    conditional: list[str] = field(default_factory=list)
    mode: str = "relative"
    sweep: str | None = None
    psi: float = 1.0


def _job_from_args(args: argparse.Namespace) -> EditJob:
    from latentkit.latent.editor import parse_edit
    from latentkit.latent.sampling import parse_seeds

    edits = dict(parse_edit(e) for e in args.edit or [])
    return EditJob(
        seeds=parse_seeds(args.seeds) if args.seeds else None,
        latent=Path(args.latent) if args.latent else None,
        edits=edits,
        conditional=_names(args.conditional) if args.conditional else [],
        mode=args.mode,
        sweep=args.sweep,
        psi=args.psi,
    )


def read_recipe(path: str | Path, defaults: EditJob) -> list[EditJob]:
    """Parse a JSON or TOML recipe into jobs; missing keys take `defaults`' values."""
    import tomllib

    from latentkit.io import read_json
    from latentkit.latent.sampling import parse_seeds

    path = Path(path)
    if path.suffix == ".toml":
        try:
            doc = tomllib.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise LatentkitError(f"{path}: file not found") from None
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
            raise LatentkitError(f"{path}: invalid TOML ({e})") from None
        except RecursionError:
            raise LatentkitError(f"{path}: invalid TOML (nested too deeply)") from None
    elif path.suffix == ".json":
        doc = read_json(path)
    else:
        raise LatentkitError(f"{path}: a recipe is a .json or .toml file")
    jobs = doc.get("jobs") if isinstance(doc, dict) else doc
    if not isinstance(jobs, list) or not jobs:
        raise LatentkitError(f"{path}: expected a non-empty list of jobs (a 'jobs' list or [[jobs]] tables)")
    out = []
    for i, entry in enumerate(jobs):
        where = f"{path}: job {i + 1}"
        if not isinstance(entry, dict):
            raise LatentkitError(f"{where}: must be a table/object, got {type(entry).__name__}")
        unknown = [k for k in entry if k not in JOB_KEYS]
        if unknown:
            raise LatentkitError(f"{where}: unknown key {unknown[0]!r} (keys: {', '.join(JOB_KEYS)})")
        job = EditJob(**{**defaults.__dict__, "name": str(entry.get("name", f"job{i + 1}"))})
        if "seeds" in entry or "latent" in entry:
            try:
                job.seeds = parse_seeds(str(entry["seeds"])) if "seeds" in entry else None
            except LatentkitError as e:
                raise LatentkitError(f"{where}: {e}") from None
            job.latent = (path.parent / str(entry["latent"])) if "latent" in entry else None
        if "edits" in entry:
            if not isinstance(entry["edits"], dict):
                raise LatentkitError(f"{where}: 'edits' must map direction names to strengths")
            job.edits = dict(entry["edits"])
            for name, value in job.edits.items():  # checked here: a later job must not fail mid-export
                if isinstance(value, bool) or not isinstance(value, int | float) or value != value:
                    raise LatentkitError(f"{where}: edit {name}={value!r}: strength must be a number")
        if "conditional" in entry:
            cond = entry["conditional"]
            if not isinstance(cond, str | list):
                raise LatentkitError(f"{where}: 'conditional' must be a list of direction names")
            job.conditional = _names(cond) if isinstance(cond, str) else [str(c) for c in cond]
        job.mode = str(entry.get("mode", job.mode))
        job.sweep = entry.get("sweep", job.sweep)
        if job.sweep is not None and not isinstance(job.sweep, str):
            raise LatentkitError(f"{where}: 'sweep' must be a string like \"smile=-3:3:7\"")
        try:
            job.psi = float(entry.get("psi", job.psi))
        except (TypeError, ValueError):
            raise LatentkitError(f"{where}: psi must be a number") from None
        if "/" in job.name or "\\" in job.name or job.name in (".", ".."):
            raise LatentkitError(f"{where}: name {job.name!r} must be a plain folder name")
        if job.name in {j.name for j in out}:
            raise LatentkitError(
                f"{where}: name {job.name!r} is used by an earlier job (outputs would clash)"
            )
        out.append(job)
    return out


def _plan(editor, job: EditJob) -> list[tuple[str, Any, int | None, dict[str, float]]]:
    """Every image of a job as (file stem, start latent, seed, edits), checking names and latents first."""
    import numpy as np

    from latentkit.latent.editor import load_latents, parse_sweep

    if job.latent is not None:
        starts = [
            (f"latent{i:04d}", z, None) for i, z in enumerate(load_latents(job.latent, editor.latent_dim))
        ]
    elif job.seeds is not None:
        starts = [(f"seed{s:04d}", editor.sample(s, job.psi), s) for s in job.seeds]
    else:
        raise LatentkitError("edit: give --seeds or --latent (or seeds/latent in each recipe job)")
    if job.mode not in ("relative", "absolute"):
        raise LatentkitError(f"edit mode {job.mode!r}: choose relative or absolute")
    sweep_name, values = parse_sweep(job.sweep) if job.sweep else (None, np.array([]))
    for name in [*job.edits, *job.conditional, *([sweep_name] if sweep_name else [])]:
        editor.direction(name)
    plan = []
    for stem, z, seed in starts:
        if sweep_name is None:
            plan.append((stem, z, seed, dict(job.edits)))
        for v in values:
            plan.append((f"{stem}_{sweep_name}{v:+.2f}", z, seed, {**job.edits, sweep_name: float(v)}))
    return plan


def _editor_with_directions(model: str, directions_file: str | None):
    """(Editor over `model`, names read from `directions_file`): the bundle's directions.json, if any,
    plus the file's (e.g. the app's saved custom directions), the file winning on a shared name.

    A file made for another model's weights is refused by `load_directions` with one line.
    """
    from latentkit.latent.directions import directions_path, load_directions
    from latentkit.latent.editor import Editor

    editor = Editor(model)
    if not directions_file:
        return editor, set()
    extra = load_directions(editor.bundle, directions_file)
    base = load_directions(editor.bundle) if directions_path(editor.bundle).is_file() else {}
    return Editor(editor.bundle, {**base, **extra}), set(extra)


def _edit(args: argparse.Namespace) -> int:
    from tqdm.auto import tqdm

    from latentkit.latent.inversion import load_projection_record, projection_for
    from latentkit.provenance.keys import load_identity

    editor, user_names = _editor_with_directions(args.model, args.directions_file)
    defaults = _job_from_args(args)
    jobs = read_recipe(args.recipe, defaults) if args.recipe else [defaults]
    plans = [(job, _plan(editor, job)) for job in jobs]  # every bad name or latent fails before writing
    identity = load_identity(args.sign_cert, args.sign_key)
    total = sum(len(p) for _, p in plans)
    suffix = {"png": ".png", "jpeg": ".jpg", "webp": ".webp"}[args.format]
    bar = tqdm(total=total, desc="edit", unit="img", disable=args.no_progress or total < 4)
    for job, plan in plans:
        folder = Path(args.out) / job.name if job.name else Path(args.out)
        # z.npy -> z.projection.json, written by `latentkit project`
        projected = load_projection_record(job.latent) if job.latent is not None else None
        for stem, z, seed, edits in plan:
            record = editor.edit_record(edits, job.conditional, job.mode)
            for entry in record:
                if entry["direction"] in user_names:
                    entry["directions_file"] = Path(args.directions_file).name
            if job.psi != 1.0 and seed is not None:
                record.insert(0, {"truncation": {"psi": job.psi, "mean": "zero"}})
            editor.export(
                editor.edit(z, edits, job.conditional, job.mode),
                folder,
                stem + suffix,
                seed=seed,
                edits=record,
                projection=projection_for(projected, z),
                size=args.size,
                format=args.format,
                quality=args.quality,
                overwrite=args.overwrite,
                identity=identity,
            )
            bar.update()
    bar.close()
    print(f"wrote {total} edited image(s) of {editor.bundle.name!r} to {args.out} (signed, watermarked)")
    return 0


# --- interpolate ---------------------------------------------------------------------------------


def _interpolate(args: argparse.Namespace) -> int:
    import numpy as np
    from tqdm.auto import tqdm

    from latentkit.latent.editor import Editor, load_latents
    from latentkit.latent.interpolate import keyframe_path
    from latentkit.latent.sampling import parse_seeds
    from latentkit.provenance.keys import load_identity

    suffix = Path(args.out).suffix.lower()
    if suffix in (".png", ".jpg", ".jpeg", ".webp"):
        raise LatentkitError(
            f"--out {args.out}: give a folder for signed PNG frames, or a .gif or .mp4 file for one "
            "signed animation"
        )
    editor = Editor(args.model)
    if args.latent:
        keys = load_latents(args.latent, editor.latent_dim)
        endpoints = [{"latent_file": Path(args.latent).name, "index": i} for i in range(len(keys))]
    else:
        seeds = parse_seeds(args.seeds)
        keys = np.stack([editor.sample(s, args.psi) for s in seeds])
        endpoints = [{"seed": s, "psi": args.psi} for s in seeds]
    path, where = keyframe_path(keys, args.frames, args.method, loop=args.loop)
    identity = load_identity(args.sign_cert, args.sign_key)
    if suffix in (".gif", ".mp4"):
        return _interpolate_animation(args, editor, path, where, endpoints, identity)
    for i, (z, (segment, t)) in enumerate(
        tqdm(list(zip(path, where, strict=True)), desc="frames", unit="frame", disable=args.no_progress)
    ):
        record = {
            "method": args.method,
            "endpoints": [endpoints[segment], endpoints[(segment + 1) % len(endpoints)]],
            "t": t,
            "frame": i,
            "frames": len(path),
        }
        name = f"frame{i:04d}.png"
        editor.export(
            z,
            args.out,
            name,
            interpolation=record,
            size=args.size,
            overwrite=args.overwrite,
            identity=identity,
        )
    print(f"wrote {len(path)} frame(s) to {args.out}/frame0000.png.. (signed, watermarked PNGs)")
    return 0


def _interpolate_animation(args: argparse.Namespace, editor, path, where, endpoints, identity) -> int:
    """`latentkit interpolate --out x.gif|x.mp4`: the whole path as one signed animation."""
    from latentkit.provenance.export import export_animation

    out = Path(args.out)
    record = {
        "method": args.method,
        "keyframes": endpoints,
        "frames_per_transition": args.frames,
        "loop": bool(args.loop),
        "t": [[segment, t] for segment, t in where],  # (segment, t) of every frame
    }
    result = export_animation(
        editor.bundle,
        path,
        out.parent,
        out.name,
        fps=args.fps,
        interpolation=record,
        size=args.size,
        overwrite=args.overwrite,
        identity=identity,
    )
    kind = out.suffix.lstrip(".").upper()
    print(
        f"wrote {result.path}: {len(path)} frames at {args.fps:g} fps, {args.size} px "
        f"(signed, watermarked {kind}; check it with `latentkit verify {result.path}`)"
    )
    return 0


# --- parsers -------------------------------------------------------------------------------------


def _names(text: str) -> list[str]:
    return [n.strip() for n in text.split(",") if n.strip()]


def _export_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--size", type=int, default=256, help="output side in pixels (bicubic upscale)")
    p.add_argument("--overwrite", action="store_true", help="replace existing files")
    p.add_argument(
        "--sign-cert", help="PEM certificate chain (leaf first) to sign with instead of the local one"
    )
    p.add_argument("--sign-key", help="PEM private key of --sign-cert")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def add_commands(sub: argparse._SubParsersAction) -> None:
    """Add the attributes, directions, edit and interpolate subcommands to `sub`."""
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
    t.add_argument("--no-progress", action="store_true", help="no progress bar")
    t.set_defaults(func=_attributes_train)

    d = sub.add_parser("directions", help="fit and assess latent directions")
    d_sub = d.add_subparsers(dest="directions_command", metavar="ACTION", required=True)
    fit = d_sub.add_parser("fit", help="fit attribute directions (InterFaceGAN) and unsupervised ones")
    fit.add_argument("--model", required=True, help="bundle folder (or a run folder holding bundle/)")
    fit.add_argument("--predictor", help="attribute predictor folder (`latentkit attributes train`)")
    fit.add_argument("--attributes", help="comma-separated attributes, e.g. smile,age,glasses")
    fit.add_argument("--samples", type=int, default=20_000, help="latents sampled and scored")
    fit.add_argument("--method", default="svm", choices=("svm", "svc", "logistic", "ridge"))
    fit.add_argument(
        "--ratio", type=float, default=0.02, help="svm/svc: share of samples taken from each end"
    )
    fit.add_argument("--pca", type=int, default=0, help="also fit this many GANSpace PCA directions")
    fit.add_argument("--sefa", type=int, default=0, help="also fit this many SeFa directions")
    fit.add_argument(
        "--conditional",
        action="append",
        default=[],
        metavar="BASE:COND[,COND]",
        help="also store a conditioned variant, e.g. age:glasses -> age_given_glasses (repeatable)",
    )
    fit.add_argument("--seed", type=int, default=0, help="seed of the sampled latents and splits")
    fit.add_argument("--batch", type=int, default=64, help="render batch size")
    fit.add_argument("--out", help="directions file (default BUNDLE/directions.json, merged by name)")
    fit.add_argument("--no-progress", action="store_true", help="no progress bar")
    fit.set_defaults(func=_directions_fit)

    rep = d_sub.add_parser("report", help="sweep each direction: slopes, entanglement, grids, curves")
    rep.add_argument("--model", required=True, help="bundle folder with directions.json")
    rep.add_argument("--predictor", required=True, help="attribute predictor folder")
    rep.add_argument("--out", required=True, help="output folder")
    rep.add_argument("--directions", help="comma-separated names (default: all)")
    rep.add_argument("--samples", type=int, default=200, help="seeds 0..N-1 swept per direction")
    rep.add_argument("--strengths", default="-3:3:7", help="START:STOP:COUNT")
    rep.add_argument("--batch", type=int, default=64, help="render batch size")
    rep.add_argument("--no-progress", action="store_true", help="no progress bar")
    rep.set_defaults(func=_directions_report)

    e = sub.add_parser("edit", help="edit latents along directions and export them (with provenance)")
    e.add_argument("--model", required=True, help="bundle folder with directions.json")
    e.add_argument("--seeds", help='seeds: "0-99", "1,5,9" or a mix')
    e.add_argument("--latent", help="latents file (.npy or .json) instead of --seeds")
    e.add_argument("--edit", action="append", metavar="NAME=STRENGTH", help="e.g. smile=2 (repeatable)")
    e.add_argument("--conditional", help="comma-separated directions to hold fixed, e.g. glasses")
    e.add_argument("--mode", choices=("relative", "absolute"), default="relative")
    e.add_argument(
        "--sweep", metavar="NAME=START:STOP:COUNT", help="one image per strength, e.g. smile=-3:3:7"
    )
    e.add_argument("--psi", type=float, default=1.0, help="truncation of seed latents (1 = none)")
    e.add_argument("--recipe", help="JSON/TOML list of edit jobs (see `latentkit.latent.commands`)")
    e.add_argument(
        "--directions",
        dest="directions_file",
        metavar="FILE",
        help="extra directions file for this model, e.g. the editor's saved custom directions",
    )
    e.add_argument("--format", choices=("png", "jpeg", "webp"), default="png")
    e.add_argument("--quality", type=int, help="JPEG/WebP quality (default 95/90)")
    e.add_argument("--out", required=True, help="output folder")
    _export_options(e)
    e.set_defaults(func=_edit)

    i = sub.add_parser(
        "interpolate", help="a path through seeds' latents: signed PNG frames or one signed GIF/MP4"
    )
    i.add_argument("--model", required=True, help="bundle folder (or a run folder holding bundle/)")
    i.add_argument("--seeds", default="0,1", help="keyframe seeds, e.g. 3,7,11")
    i.add_argument("--latent", help="keyframe latents file (.npy or .json) instead of --seeds")
    i.add_argument("--frames", type=int, default=30, help="frames per transition between keyframes")
    i.add_argument("--method", choices=("slerp", "lerp"), default="slerp")
    i.add_argument("--loop", action="store_true", help="return to the first keyframe")
    i.add_argument("--psi", type=float, default=1.0, help="truncation of seed latents (1 = none)")
    i.add_argument("--fps", type=float, default=12.0, help="frames per second of a .gif/.mp4 --out")
    i.add_argument(
        "--out",
        required=True,
        help="a folder for frame0000.png, ..., or a .gif / .mp4 file (MP4: pip install 'latentkit[video]')",
    )
    _export_options(i)
    i.set_defaults(func=_interpolate)
