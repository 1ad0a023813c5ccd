"""Measure the watermark schemes on exported faces (issues 5 and 21).

    python benchmarks/watermark.py [--n 200] [--negatives 1000] [--source-size 64] [--model BUNDLE]
                                   [--candidates ...] [--json results.json]
    python benchmarks/watermark.py --n 0 --negatives 100000 --minutes 10   # false positives only
    python benchmarks/watermark.py --n 0 --negatives 20000 --first 40000 --json fp3.json   # one chunk
    python benchmarks/watermark.py --n 0 --negatives 0 --previews 200   # 64 px previews (/1 small carrier)

Images: `--n` faces at the 256 px export size; by default procedural faces rendered at
`--source-size` px and bicubic-upscaled (what a 64 px model's export looks like); `--model` renders
seeds 0..n-1 of a trained bundle through latentkit's own `render` instead. Every export carries a
random 32-bit export id and 32-bit model fingerprint; "found" means the detector returned both
exactly (every bit after error correction). Timings are medians per image, one thread.

Candidates:
  latentkit-iss/2   the shipped scheme: sync-peak resynchronisation (DFT magnitude, rotation x zoom
                    search, least-squares affine fit), then a cyclic shift search (watermark_iss2.py)
  iss/2 grid search the same mark, geometry found instead by brute force: warp the image over a grid
                    of 11 rotations x 4 zooms and keep the one whose sync correlation peaks highest
  iss/2 no resync   the same mark read as-is (shift search only): what resynchronisation buys
  latentkit-iss/1   the previous scheme (48 bits, no error correction, no resynchronisation)

Negatives (`--negatives`): unwatermarked images through the full detector (both schemes), cycling
procedural faces (64 and 128 px sources, upscaled), uniform noise, textures (random sinusoids and stripes)
and smooth gradients; stops early after `--minutes` and reports how many it checked.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import statistics
import time

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # one core per image, as the docs state
os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np
from PIL import Image

from latentkit.data.faces import render_faces
from latentkit.provenance import ecc, watermark_iss1, watermark_iss2
from latentkit.provenance import watermark as wm

SIZE = 256


# --- candidates: embed(pixels, export_id, fingerprint) -> pixels; detect(pixels) -> (id, fingerprint) ----


def iss2_embed(pixels, export_id, fingerprint):
    return wm.embed_watermark(pixels, export_id, model_fingerprint=fingerprint)


def iss2_detect(pixels):
    r = wm.detect_watermark(pixels)
    return r.export_id, r.model_fingerprint


def _decoded(reading) -> tuple[str | None, str | None]:
    r = wm._result_iss2(reading, "direct")
    return (r.export_id, r.model_fingerprint) if r.found else (None, None)


def iss2_direct_detect(pixels):
    return _decoded(
        watermark_iss2.read_direct(watermark_iss2.to_grid(pixels.astype(np.float32) @ wm.iss2.LUMA))
    )


GRID_ANGLES = np.radians(np.arange(-5, 6, 1.0))
GRID_ZOOMS = (1.0, 1.05, 1.1, 1.155)


def iss2_grid_detect(pixels):
    grid = watermark_iss2.to_grid(pixels.astype(np.float32) @ wm.iss2.LUMA)
    best = watermark_iss2.read_direct(grid)
    if _decoded(best)[0]:
        return _decoded(best)
    for a in GRID_ANGLES:
        for z in GRID_ZOOMS:
            m = z * np.array([[np.cos(a), np.sin(a)], [-np.sin(a), np.cos(a)]])
            warped = watermark_iss2.warp(grid, m)
            r = watermark_iss2._read_at(warped, watermark_iss2.warp(np.ones_like(grid), m) > 0.999, m)
            best = r if r.sync > best.sync else best
    return _decoded(best)


def iss1_embed(pixels, export_id, fingerprint):
    return watermark_iss1.embed(pixels, export_id[:6])


def iss1_detect(pixels):
    r = watermark_iss1.detect(pixels.astype(np.float32) @ watermark_iss1.LUMA)
    return r.export_id, None


CANDIDATES = {
    "latentkit-iss/2": (iss2_embed, iss2_detect),
    "iss/2 grid search": (iss2_embed, iss2_grid_detect),
    "iss/2 no resync": (iss2_embed, iss2_direct_detect),
    "latentkit-iss/1": (iss1_embed, iss1_detect),
}


# --- attacks: (pixels, rng) -> pixels -------------------------------------------------------------------


def jpeg(pixels: np.ndarray, quality: int) -> np.ndarray:
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, "JPEG", quality=quality)
    return np.asarray(Image.open(buf).convert("RGB"))


def resize(pixels: np.ndarray, w: int, h: int, method=Image.BICUBIC) -> np.ndarray:
    return np.asarray(Image.fromarray(pixels).resize((w, h), method))


def rotate(pixels: np.ndarray, rng) -> np.ndarray:
    return np.asarray(Image.fromarray(pixels).rotate(rng.uniform(-5, 5), Image.BICUBIC))


def crop75_rescaled(pixels: np.ndarray, rng) -> np.ndarray:
    side = round(SIZE * np.sqrt(0.75))
    x0, y0 = rng.integers(0, SIZE - side + 1, 2)
    return resize(pixels[y0 : y0 + side, x0 : x0 + side], SIZE, SIZE)


def gain(pixels: np.ndarray, factor: float, contrast: bool = False) -> np.ndarray:
    p = pixels.astype(np.float32)
    out = (p - 128) * factor + 128 if contrast else p * factor
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def png(pixels: np.ndarray) -> np.ndarray:
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, "PNG")
    return np.asarray(Image.open(buf).convert("RGB"))


ATTACKS = {
    "none": lambda p, r: p,
    "jpeg50": lambda p, r: jpeg(p, 50),
    "resize50": lambda p, r: resize(resize(p, SIZE // 2, SIZE // 2), SIZE, SIZE),
    "half+jpeg90": lambda p, r: jpeg(resize(p, SIZE // 2, SIZE // 2), 90),  # tests/test_provenance.py
    "rotate±5": rotate,
    "rotate±5+jpeg60": lambda p, r: jpeg(rotate(p, r), 60),
    "crop75%+rescale": crop75_rescaled,
    "aspect4:3": lambda p, r: resize(p, SIZE, SIZE * 3 // 4),
    "bright+20%": lambda p, r: gain(p, 1.2),
    "bright-20%": lambda p, r: gain(p, 0.8),
    "contrast+20%": lambda p, r: gain(p, 1.2, contrast=True),
    "contrast-20%": lambda p, r: gain(p, 0.8, contrast=True),
    "resize90%+png": lambda p, r: png(resize(p, round(SIZE * 0.9), round(SIZE * 0.9), Image.BILINEAR)),
    "crop10 (no rescale)": lambda p, r: p[13:-13, 13:-13],
}


# --- images and measurement ----------------------------------------------------------------------------


def procedural_faces(n: int, source_size: int, seed: int) -> list[np.ndarray]:
    faces, _ = render_faces(n, source_size, seed=seed)
    return [resize(f, SIZE, SIZE) for f in faces]


def model_faces(bundle_path: str, n: int, first_seed: int) -> list[np.ndarray]:
    from latentkit.latent import sample_latent
    from latentkit.models import load_bundle
    from latentkit.models.render import render

    bundle = load_bundle(bundle_path)
    dim = bundle.config.latent_dim
    return [render(bundle, sample_latent(s, dim), SIZE) for s in range(first_seed, first_seed + n)]


def measure(name: str, images: list[np.ndarray]) -> dict:
    embed, detect = CANDIDATES[name]
    rng = np.random.default_rng(0)
    found = {a: 0 for a in ATTACKS}
    psnr, t_embed, t_detect = [], [], []
    for img in images:
        export_id, fingerprint = (f"{int(v):08x}" for v in rng.integers(0, 2**32, 2))
        truth = (export_id, fingerprint) if name != "latentkit-iss/1" else (export_id[:6], None)
        t0 = time.perf_counter()
        marked = embed(img, export_id, fingerprint)
        t_embed.append(time.perf_counter() - t0)
        psnr.append(10 * np.log10(255**2 / np.mean((marked.astype(np.float64) - img) ** 2)))
        for attack, fn in ATTACKS.items():
            attacked = fn(marked, rng)
            t0 = time.perf_counter()
            got = detect(attacked)
            t_detect.append(time.perf_counter() - t0)
            found[attack] += got == truth
    return {
        "candidate": name,
        "n": len(images),
        "found_rate": {a: round(found[a] / len(images), 4) for a in ATTACKS},
        "psnr_db": {"mean": round(float(np.mean(psnr)), 2), "min": round(float(np.min(psnr)), 2)},
        "embed_ms": round(1e3 * statistics.median(t_embed), 2),
        "detect_ms": {
            "median": round(1e3 * statistics.median(t_detect), 2),
            "max": round(1e3 * max(t_detect), 1),
        },
    }


def previews(n: int, size: int = 64) -> dict:
    """/1's small carrier on `n` faces rendered at `size` px (no upscale), each with a random 24-bit id:
    share found after each attack, PSNR, and how many of the unmarked faces read as marked."""
    images, _ = render_faces(n, size, seed=21, workers=1)
    attacks = {
        "none": lambda x: x,
        "jpeg75": lambda x: jpeg(x, 75),
        "jpeg50": lambda x: jpeg(x, 50),
        "upscale256": lambda x: resize(x, 256, 256),
        "bright+20%": lambda x: gain(x, 1.2),
        "contrast-20%": lambda x: gain(x, 0.8, contrast=True),
    }
    found, psnrs, false = dict.fromkeys(attacks, 0), [], 0
    for face in images:
        export_id = wm.new_export_id(24)
        marked = wm.embed_watermark(face, export_id)
        psnrs.append(10 * np.log10(255**2 / np.mean((marked.astype(np.float64) - face) ** 2)))
        for name, attack in attacks.items():
            r = wm.detect_watermark(attack(marked))
            found[name] += bool(r.found and r.export_id == export_id)
        false += wm.detect_watermark(face).found
    return {
        "size": size,
        "n": n,
        "found": {k: v / n for k, v in found.items()},
        "psnr_mean": float(np.mean(psnrs)),
        "psnr_min": float(np.min(psnrs)),
        "unmarked_read_as_marked": false,
    }


def negative(i: int, rng) -> tuple[str, np.ndarray]:
    """The i-th unwatermarked image: a face, noise, texture or gradient."""
    kind = ("face64", "face128", "noise", "texture", "gradient")[i % 5]
    if kind in ("face64", "face128"):
        faces, _ = render_faces(1, int(kind[4:]), seed=10_000 + i, workers=1)
        return kind, resize(faces[0], SIZE, SIZE)
    if kind == "noise":
        return kind, rng.integers(0, 256, (SIZE, SIZE, 3), dtype=np.uint8)
    yy, xx = np.mgrid[:SIZE, :SIZE] / SIZE
    if kind == "texture":
        img = sum(
            rng.uniform(5, 40) * np.cos(2 * np.pi * (rng.uniform(-80, 80) * xx + rng.uniform(-80, 80) * yy))
            for _ in range(int(rng.integers(1, 8)))
        )
    else:
        img = rng.uniform(-100, 100) * xx + rng.uniform(-100, 100) * yy
    img = np.clip(128 + img[..., None] * rng.uniform(0.5, 1.0, 3), 0, 255)
    return kind, np.rint(img).astype(np.uint8)


def false_positives(n: int, minutes: float, first: int = 0) -> dict:
    """Detect on negatives first .. first+n-1 (each from its own seed, so chunks can run anywhere)."""
    hits, checked, kinds, detect_cpu = [], 0, {}, 0.0
    stop = time.perf_counter() + 60 * minutes
    cpu0 = time.process_time()
    for i in range(first, first + n):
        kind, img = negative(i, np.random.default_rng([7, i]))
        t0 = time.process_time()
        if wm.detect_watermark(img).found:
            hits.append(i)
        detect_cpu += time.process_time() - t0
        checked += 1
        kinds[kind] = kinds.get(kind, 0) + 1
        if time.perf_counter() > stop:
            break
    return {
        "false_positives": len(hits),
        "hit_indices": hits,
        "first": first,
        "checked": checked,
        "kinds": kinds,
        "cpu_ms_per_image": round(1e3 * (time.process_time() - cpu0) / max(checked, 1), 2),
        "detect_cpu_ms_per_image": round(1e3 * detect_cpu / max(checked, 1), 2),
        "design_rate": wm.FALSE_POSITIVE_RATE,
    }


def table(results: list[dict]) -> str:
    head = ["candidate", *ATTACKS, "PSNR dB", "embed ms", "detect ms"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in results:
        cells = [r["candidate"], *(f"{r['found_rate'][a]:.3f}" for a in ATTACKS)]
        cells += [f"{r['psnr_db']['mean']:.1f} (min {r['psnr_db']['min']:.1f})", f"{r['embed_ms']:.1f}"]
        cells.append(f"{r['detect_ms']['median']:.1f}")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--n", type=int, default=200)
    p.add_argument("--negatives", type=int, default=1000)
    p.add_argument("--minutes", type=float, default=10.0, help="time limit of the negative run")
    p.add_argument("--first", type=int, default=0, help="first negative's index (run chunks, resume)")
    p.add_argument("--source-size", type=int, default=64, choices=(32, 64, 128))
    p.add_argument("--model", help="render a bundle's seeds instead of procedural faces")
    p.add_argument("--candidates", default=",".join(CANDIDATES))
    p.add_argument("--json", help="write all results to this JSON file")
    p.add_argument("--previews", type=int, default=0, help="also measure N 64 px previews (/1 small carrier)")
    args = p.parse_args()

    out: dict = {}
    if args.n:
        if args.model:
            images, source = model_faces(args.model, args.n, 0), f"model {args.model}"
        else:
            images = procedural_faces(args.n, args.source_size, seed=101)
            source = f"procedural faces {args.source_size} px -> {SIZE} px bicubic"
        wm.detect_watermark(wm.embed_watermark(images[0], "00000000"))  # build caches outside the timings
        ecc.generator()
        results = [measure(name, images) for name in args.candidates.split(",")]
        print(f"{len(images)} images ({source}); payload found rate per attack\n")
        print(table(results))
        out.update(source=source, results=results)
    if args.previews:
        out["previews"] = previews(args.previews)
        print("\n64 px previews:", json.dumps(out["previews"]))
    if args.negatives:
        fp = false_positives(args.negatives, args.minutes, args.first)
        print(
            f"\nfalse positives: {fp['false_positives']} of {fp['checked']} unwatermarked images"
            f" (#{fp['first']}..), {fp['cpu_ms_per_image']} ms CPU each"
            f" ({fp['detect_cpu_ms_per_image']} detect)",
            fp["kinds"],
        )
        print(f"design rate per image: {fp['design_rate']:.2e}")
        out["negatives"] = fp
    if args.json:
        with open(args.json, "w") as f:
            json.dump(out, f, indent=2)


if __name__ == "__main__":
    main()
