"""`latentkit interpolate`: a path through keyframe latents as signed PNG frames or one signed GIF/MP4."""

from __future__ import annotations

import argparse
from pathlib import Path

from latentkit.cli.options import add_export, add_model, signing_identity
from latentkit.errors import LatentkitError
from latentkit.provenance.animfile import DEFAULT_FPS
from latentkit.provenance.imagefile import ANIMATION_FORMATS, IMAGE_FORMATS, SUFFIXES


def _interpolate(args: argparse.Namespace) -> int:
    import numpy as np
    from tqdm.auto import tqdm

    from latentkit.latent.editor import Editor
    from latentkit.latent.interpolate import default_method, keyframe_path
    from latentkit.latent.sampling import parse_seeds

    suffix = Path(args.out).suffix.lower()
    if SUFFIXES.get(suffix) in IMAGE_FORMATS:
        raise LatentkitError(
            f"--out {args.out}: give a folder for signed PNG frames, or a .gif or .mp4 file for one "
            "signed animation"
        )
    editor = Editor(args.model)
    if args.latent:
        keys = editor.read_latents(args.latent)
        endpoints = [{"latent_file": Path(args.latent).name, "index": i} for i in range(len(keys))]
    else:
        seeds = parse_seeds(args.seeds)
        keys = np.stack([editor.sample(s, args.psi) for s in seeds])
        endpoints = [{"seed": s, "psi": args.psi} for s in seeds]
    args.method = args.method or default_method(editor.space)
    path, where = keyframe_path(keys, args.frames, args.method, loop=args.loop)
    identity = signing_identity(args)
    if SUFFIXES.get(suffix) in ANIMATION_FORMATS:
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
        "space": editor.space,
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
        space=editor.space,
    )
    kind = out.suffix.lstrip(".").upper()
    print(
        f"wrote {result.path}: {len(path)} frames at {args.fps:g} fps, {args.size} px "
        f"(signed, watermarked {kind}; check it with `latentkit verify {result.path}`)"
    )
    return 0


def add_commands(sub: argparse._SubParsersAction) -> None:
    """Add `interpolate` to `sub`."""
    i = sub.add_parser(
        "interpolate", help="a path through seeds' latents: signed PNG frames or one signed GIF/MP4"
    )
    add_model(i)
    i.add_argument("--seeds", default="0,1", help="keyframe seeds, e.g. 3,7,11")
    i.add_argument("--latent", help="keyframe latents file (.npy or .json) instead of --seeds")
    i.add_argument("--frames", type=int, default=30, help="frames per transition between keyframes")
    i.add_argument(
        "--method",
        choices=("slerp", "lerp"),
        default=None,
        help="slerp or lerp (default: slerp in Z, lerp in W for style-based models)",
    )
    i.add_argument("--loop", action="store_true", help="return to the first keyframe")
    i.add_argument("--psi", type=float, default=1.0, help="truncation of seed latents (1 = none)")
    i.add_argument("--fps", type=float, default=DEFAULT_FPS, help="frames per second of a .gif/.mp4 --out")
    i.add_argument(
        "--out",
        required=True,
        help="a folder for frame0000.png, ..., or a .gif / .mp4 file (MP4: pip install 'latentkit[video]')",
    )
    add_export(i)
    i.set_defaults(func=_interpolate)
