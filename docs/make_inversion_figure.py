"""Render docs/inversion.png: held-out faces, their projections into a model, and edits of those.

    python docs/make_inversion_figure.py [--model pretrained/faces32] [--n 6] [--out docs/inversion.png]

Row 1: input faces (data seed 12345, never seen in training). Row 2: the generator's image of the
projected latent (z, or w+ for style-based models), with its PSNR. Then one row per edit of that
latent (relative, along the bundle's directions, holding `--hold` fixed: by default every other
attribute, as the editor does).
"""

import argparse
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw

from latentkit.data.faces import render_faces
from latentkit.latent.editor import Editor, parse_edit
from latentkit.latent.inversion import best_space, bundle_helpers, project
from latentkit.models import load_bundle
from latentkit.models.latents import synthesize
from latentkit.pixels import to_pixels
from latentkit.viz import image_grid, save_figure

LABEL_W = 110


def row(images: np.ndarray, captions: list[str], scale: int) -> Image.Image:
    """(N, H, W, 3) uint8 -> one captioned row, nearest-upscaled by `scale`."""
    tiles = torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2)
    return image_grid(tiles, nrow=len(images), captions=captions, scale=scale)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--model", default="pretrained/faces64")
    p.add_argument("--n", type=int, default=6, help="faces (columns)")
    p.add_argument("--edit", action="append", help="NAME=STRENGTH rows (default smile=2, age=2, glasses=2)")
    p.add_argument("--hold", default="all", help="directions held during the edits ('' = none)")
    p.add_argument("--steps", type=int, default=250)
    p.add_argument("--out", default=str(Path(__file__).with_name("inversion.png")))
    args = p.parse_args()
    torch.set_num_threads(1)

    bundle = load_bundle(args.model)
    space = best_space(bundle.generator)  # w+ for style-based models: edited there, every layer alike
    editor = Editor(bundle, space=space)
    net, encoder = bundle_helpers(bundle)
    res = bundle.config.resolution
    faces, _ = render_faces(args.n, size=res, seed=12345, workers=1)
    results = [
        project(bundle, f, space=space, feature_net=net, encoder=encoder, steps=args.steps) for f in faces
    ]
    edits = [parse_edit(e) for e in (args.edit or ["smile=2", "age=2", "glasses=2"])]
    edits = [(n, s) for n, s in edits if n in editor.directions]

    scale = max(1, 96 // res)
    rows = [
        ("input", row(faces, [""] * args.n, scale)),
        (
            "projected",
            row(np.stack([r.image for r in results]), [f"{r.psnr:.1f} dB" for r in results], scale),
        ),
    ]
    for name, strength in edits:
        hold = [h for h in args.hold.split(",") if h]
        x = np.stack([editor.edit(r.latent, {name: strength}, hold) for r in results])
        with torch.no_grad():
            images = to_pixels(synthesize(bundle.generator, torch.from_numpy(x), space))
        rows.append((f"{name} {strength:+g}", row(images, [""] * args.n, scale)))

    width = LABEL_W + rows[0][1].width
    top = 22
    out = Image.new("RGB", (width, top + sum(r.height for _, r in rows)), (255, 255, 255))
    d = ImageDraw.Draw(out)
    d.text(
        (4, 5),
        f"projection into {bundle.name} ({res} px, {space.upper()}), {args.steps} steps; then edits of it"
        + (f", holding {args.hold}" if args.hold else ""),
        fill=0,
    )
    y = top
    for label, img in rows:
        out.paste(img, (LABEL_W, y))
        d.text((6, y + img.height // 2 - 6), label, fill=0)
        y += img.height
    save_figure(args.out, out)
    mean = np.mean([r.psnr for r in results])
    print(
        f"wrote {args.out}: {args.n} faces, mean PSNR {mean:.2f} dB, edits {', '.join(n for n, _ in edits)}"
    )


if __name__ == "__main__":
    main()
