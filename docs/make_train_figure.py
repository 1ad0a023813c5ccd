"""Render docs/train_faces32.png (progress strip + final samples) and the curves from a training run.

latentkit train --dataset faces --size 32 --steps 3000 --out runs/faces32   # ~25 min on 2 cores
python docs/make_train_figure.py runs/faces32
"""

import sys
from pathlib import Path

from PIL import Image, ImageDraw

from latentkit.train.monitor import plot_run
from latentkit.viz import save_figure


def main(run: Path) -> None:
    grids = sorted((run / "samples").glob("step-*.png"))
    final = Image.open(grids[-1]).convert("RGB")
    final = final.resize((final.width * 2, final.height * 2), Image.NEAREST)
    # Progress strip: the top-left 4x1 tiles of each saved grid, one column per checkpoint.
    tile = (Image.open(grids[0]).width - 2) // 8 - 2  # grids are 8 tiles wide with 2 px padding
    col_w, strip_h = (tile + 4) * 2 + 6, (4 * (tile + 2) + 2) * 2
    out = Image.new("RGB", (final.width + 20 + len(grids) * col_w, max(final.height, strip_h) + 20), "white")
    out.paste(final, (0, 20))
    d = ImageDraw.Draw(out)
    d.text((2, 4), f"{run.name}: fixed-noise samples at step {int(grids[-1].stem.split('-')[1])}", fill=0)
    for i, path in enumerate(grids):
        crop = Image.open(path).convert("RGB").crop((0, 0, tile + 4, 4 * (tile + 2) + 2))
        crop = crop.resize((crop.width * 2, crop.height * 2), Image.NEAREST)
        x = final.width + 20 + i * col_w
        out.paste(crop, (x, 20))
        d.text((x, 4), str(int(path.stem.split("-")[1])), fill=0)
    here = Path(__file__).parent
    save_figure(here / f"train_{run.name}.png", out)
    plot_run(run, here / f"train_{run.name}_curves.png")
    print(f"wrote {here / f'train_{run.name}.png'} and the curves")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
