"""`latentkit edit`: batch edits along directions, from flags or a recipe file, exported with provenance.

The recipe format is documented in `latentkit.latent.recipe`.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from latentkit.cli.options import (
    add_deprecated_alias,
    add_export,
    add_image_format,
    add_model,
    image_suffix,
    names,
    signing_identity,
)
from latentkit.latent.recipe import EditJob, plan_job, read_recipe


def _job_from_args(args: argparse.Namespace) -> EditJob:
    from latentkit.latent.editor import parse_edit
    from latentkit.latent.sampling import parse_seeds

    edits = dict(parse_edit(e) for e in args.edit or [])
    return EditJob(
        seeds=parse_seeds(args.seeds) if args.seeds else None,
        latent=Path(args.latent) if args.latent else None,
        edits=edits,
        hold=names(args.hold) if args.hold else [],
        mode=args.mode,
        sweep=args.sweep,
        psi=args.psi,
    )


def _editor_with_directions(model: str, directions_file: str | None, space: str | None = None):
    """(Editor over `model` in `space` (None: its edit space), names read from `directions_file`): the
    bundle's directions.json, if any, plus the file's (e.g. the app's saved custom directions), the
    file winning on a shared name.

    A file made for another model's weights is refused by `load_directions` with one line.
    """
    from latentkit.latent.directions import directions_path, load_directions
    from latentkit.latent.editor import Editor

    editor = Editor(model, space=space)
    if not directions_file:
        return editor, set()
    extra = load_directions(editor.bundle, directions_file)
    base = load_directions(editor.bundle) if directions_path(editor.bundle).is_file() else {}
    return Editor(editor.bundle, {**base, **extra}, space=space), set(extra)


def _edit(args: argparse.Namespace) -> int:
    from tqdm.auto import tqdm

    from latentkit.latent.editor import latents_space
    from latentkit.latent.inversion import load_projection_record, projection_for

    # a w+ latents file (e.g. from `latentkit project`) is edited in W+: every layer moves alike
    space = "w+" if args.latent and latents_space(args.latent) == "w+" else None
    editor, user_names = _editor_with_directions(args.model, args.directions_file, space)
    defaults = _job_from_args(args)
    jobs = read_recipe(args.recipe, defaults) if args.recipe else [defaults]
    plans = [(job, plan_job(editor, job)) for job in jobs]  # every bad name or latent fails before writing
    identity = signing_identity(args)
    total = sum(len(p) for _, p in plans)
    suffix = image_suffix(args.format)
    bar = tqdm(total=total, desc="edit", unit="img", disable=args.no_progress or total < 4)
    for job, plan in plans:
        folder = Path(args.out) / job.name if job.name else Path(args.out)
        # z.npy -> z.projection.json, written by `latentkit project`
        projected = load_projection_record(job.latent) if job.latent is not None else None
        for stem, z, seed, edits in plan:
            record = editor.edit_record(edits, job.hold, job.mode)
            for entry in record:
                if entry["direction"] in user_names:
                    entry["directions_file"] = Path(args.directions_file).name
            if job.psi != 1.0 and seed is not None:
                record.insert(0, {"truncation": {"psi": job.psi, "mean": "zero"}})
            editor.export(
                editor.edit(z, edits, job.hold, job.mode),
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


def add_commands(sub: argparse._SubParsersAction) -> None:
    """Add `edit` to `sub`."""
    e = sub.add_parser("edit", help="edit latents along directions and export them (with provenance)")
    add_model(e)
    e.add_argument("--seeds", help='seeds: "0-99", "1,5,9" or a mix')
    e.add_argument("--latent", help="latents file (.npy or .json) instead of --seeds")
    e.add_argument("--edit", action="append", metavar="NAME=STRENGTH", help="e.g. smile=2 (repeatable)")
    e.add_argument(
        "--hold",
        help="comma-separated directions to hold fixed while editing, e.g. glasses; "
        "'all' holds every attribute but the edited one",
    )
    add_deprecated_alias(e, "--conditional", "--hold", "hold")
    e.add_argument("--mode", choices=("relative", "absolute"), default="relative")
    e.add_argument(
        "--sweep", metavar="NAME=START:STOP:COUNT", help="one image per strength, e.g. smile=-3:3:7"
    )
    e.add_argument("--psi", type=float, default=1.0, help="truncation of seed latents (1 = none)")
    e.add_argument("--recipe", help="JSON/TOML list of edit jobs (format: `latentkit.latent.recipe`)")
    e.add_argument(
        "--directions",
        dest="directions_file",
        metavar="FILE",
        help="extra directions file for this model, e.g. the editor's saved custom directions",
    )
    add_image_format(e)
    e.add_argument("--out", required=True, help="output folder")
    add_export(e)
    e.set_defaults(func=_edit)
