"""Render docs/faces.png: an 8x8 grid of 64 px faces, then one row per attribute swept low -> high.

python docs/make_faces_figure.py
"""

from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw

from latentkit.data.faces import ATTRIBUTES, attribute_sweep, render_face, render_faces
from latentkit.viz import image_grid, save_figure


def main() -> None:
    images, _ = render_faces(64, 64, seed=0)
    grid = image_grid(torch.from_numpy(images).permute(0, 3, 1, 2), nrow=8)
    rows = []
    for name in ATTRIBUTES:
        sweep = np.stack([render_face(a, 64) for a in attribute_sweep(name, 8)])
        rows.append(torch.from_numpy(sweep).permute(0, 3, 1, 2))
    sweeps = image_grid(torch.cat(rows), nrow=8)
    label_w = 90
    out = Image.new("RGB", (grid.width + label_w, grid.height + sweeps.height + 24), (255, 255, 255))
    out.paste(grid, (label_w, 0))
    out.paste(sweeps, (label_w, grid.height + 24))
    d = ImageDraw.Draw(out)
    d.text(
        (label_w, grid.height + 6), "each row: one attribute swept low -> high, everything else fixed", fill=0
    )
    for i, name in enumerate(ATTRIBUTES):
        d.text((4, grid.height + 24 + 2 + i * 66 + 28), name, fill=(0, 0, 0))
    path = Path(__file__).with_name("faces.png")
    save_figure(path, out.resize((out.width * 2, out.height * 2), Image.NEAREST))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
