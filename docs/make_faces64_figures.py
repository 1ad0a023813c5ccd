"""Figures of the shipped model: docs/faces64_samples.png and the edit grids from its direction report.

    latentkit directions report --model faces64 --predictor pretrained/faces64/predictor \
        --directions smile,age,glasses,age_hold_glasses --out runs/report64
    python docs/make_faces64_figures.py runs/report64 [MODEL]     # MODEL: default faces64

Edit grids: the report's grids of GRIDS, and of smile, age and glasses with every other attribute
held (docs/faces64_edit_NAME_hold_all.png).

Samples: seeds 0..47 of the EMA generator (the latents `latentkit generate --seeds 0-47` uses) beside
48 real faces (data seed 2, never trained on), both at 2x nearest-neighbour scale.
"""

import json
import shutil
import sys
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw

from latentkit.data import load_dataset
from latentkit.latent.sampling import sample_latent
from latentkit.models import load_bundle
from latentkit.viz import image_grid, save_figure

DOCS = Path(__file__).resolve().parent
GRIDS = ("smile", "age", "glasses", "age_hold_glasses", "smile_hold_age_glasses")


def samples(bundle) -> Image.Image:
    z = torch.from_numpy(np.stack([sample_latent(s, bundle.config.latent_dim) for s in range(48)]))
    with torch.no_grad():
        x = bundle.generator(z)
    fake = ((x.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
    real = load_dataset("faces", size=64, n=48, seed=2).data
    left, right = image_grid(fake, nrow=6, scale=2), image_grid(real, nrow=6, scale=2)
    out = Image.new("RGB", (left.width + right.width + 20, left.height + 18), "white")
    out.paste(left, (0, 18))
    out.paste(right, (left.width + 20, 18))
    d = ImageDraw.Draw(out)
    d.text((2, 3), "faces64: seeds 0-47 (EMA generator)", fill=0)
    d.text((left.width + 22, 3), "real procedural faces (not trained on)", fill=0)
    return out


def main(report: Path, model: str = "faces64") -> None:
    save_figure(DOCS / "faces64_samples.png", samples(load_bundle(model)))
    wrote = []
    for name in GRIDS:
        src = report / f"grid_{name}.png"
        if src.exists():
            shutil.copyfile(src, DOCS / f"faces64_edit_{name}.png")
            wrote.append(f"faces64_edit_{name}.png")
    # The report also sweeps every fitted attribute with all the others held (the editor's default,
    # `--hold all`); its long label becomes NAME_hold_all here.
    doc = json.loads((report / "report.json").read_text())
    for r in doc["directions"].values():
        if r["hold"] and len(r["hold"]) == len(doc["attributes"]) - 1 and r["direction"] in GRIDS:
            shutil.copyfile(report / r["grid"], DOCS / f"faces64_edit_{r['direction']}_hold_all.png")
            wrote.append(f"faces64_edit_{r['direction']}_hold_all.png")
    print("wrote docs/faces64_samples.png and", ", ".join(wrote))


if __name__ == "__main__":
    main(Path(sys.argv[1]), *sys.argv[2:3])
