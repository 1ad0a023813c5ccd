"""Latent editing speed (issue 6): one edit rendered, `directions fit` end to end, a batch edit to PNG.

    python benchmarks/latent_edit.py [--threads 2] [--samples 20000] [--batch-images 1000]
                                     [--predictor PRED] [--json results.json] [--animation-only]
                                     [--export-only [--png-level-vs 6]]

Model: `--model M` (a bundle or a shipped name such as faces64; copied to a temp folder, so its own
directions are never touched) or, by default, a DCGAN generator at 64 px, ngf 64, latent 128 (random
weights: speed does not depend on them). Predictor: `--predictor PRED`, else M/predictor, else one
trained for 20 steps on 256 faces here (its accuracy does not matter for speed).

1. single edit: `Editor.edit` of one latent (two edits, holding a third fixed) + the generator's
   forward pass at batch 1; p50/p95 over 300 runs after 20 warm-ups. Also with `render`'s bicubic
   upscale to 256 px.
2. `fit_directions` with N samples and three attributes (InterFaceGAN SVM), end to end, with the
   time split into render + score and the three SVM fits.
3. `latentkit edit`'s loop for --batch-images seeds: edit + export_image (render, watermark, PNG
   encode with manifest, C2PA signature, atomic write); images/s and the time of each stage, measured
   by wrapping the stage functions inside latentkit.provenance.export. `--export-only` runs only
   this, with the model's own directions (e.g. `--model faces64`); `--png-level-vs L` runs it again
   at zlib level L in the same process and reports the speed ratio (the machine may be shared).
4. `latentkit interpolate --out x.gif`'s export: `export_animation` of a 30-frame slerp path at
   256 px (render, watermark, palette quantisation, GIF encode, decode + hash, C2PA sign, write),
   time per stage; and the watermark after GIF quantisation: bit accuracy on every decoded frame,
   PSNR against the watermarked frames. The same for MP4 when imageio-ffmpeg is installed.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import torch


def _percentiles(ms: list[float]) -> dict[str, float]:
    q = statistics.quantiles(ms, n=100)
    return {"p50_ms": round(statistics.median(ms), 3), "p95_ms": round(q[94], 3)}


def make_bundle(root: Path, model: str | None = None):
    import shutil

    from latentkit.models import (
        DCGANConfig,
        build_generator,
        load_bundle,
        resolve_bundle_path,
        save_bundle,
    )

    if model:
        return load_bundle(shutil.copytree(resolve_bundle_path(model), root / "model"))
    torch.manual_seed(0)
    cfg = DCGANConfig(resolution=64, ngf=64, latent_dim=128)
    return load_bundle(save_bundle(root / "g64", build_generator(cfg), cfg))


def make_predictor(bundle, path: str | None):
    """The predictor at `path`, else the bundle's own, else one trained for 20 steps here."""
    from latentkit.data import load_dataset
    from latentkit.predictor import bundle_predictor, load_feature_net, train_feature_net

    if path:
        return load_feature_net(path)[0]
    own = bundle_predictor(bundle)
    if own:
        return own[0]
    ds = load_dataset("faces", size=64, n=256, seed=0)
    net, _ = train_feature_net(ds, ["smile", "age", "glasses"], steps=20, batch_size=64, progress=False)
    return net


def bench_single_edit(editor) -> dict:
    z = editor.sample(0)
    gen = editor.bundle.generator
    edits = {"smile": 1.5, "age": -1.0}

    def edit_forward():
        z2 = editor.edit(z, edits, hold=["glasses"])
        with torch.inference_mode():
            gen(torch.from_numpy(z2)[None])

    def edit_render():
        editor.render(editor.edit(z, edits, hold=["glasses"]), size=256)

    out = {}
    for name, fn in (("edit_plus_forward", edit_forward), ("edit_plus_render_256", edit_render)):
        for _ in range(20):
            fn()
        ms = []
        for _ in range(300):
            t = time.perf_counter()
            fn()
            ms.append(1000 * (time.perf_counter() - t))
        out[name] = _percentiles(ms)
    return out


def bench_fit(bundle, predictor, samples: int) -> dict:
    from latentkit.latent import directions as dmod

    timings: dict[str, float] = defaultdict(float)
    score, finder = dmod.score_latents, dmod.make_finder

    def timed_score(*a, **k):
        t = time.perf_counter()
        r = score(*a, **k)
        timings["render_and_score_s"] += time.perf_counter() - t
        return r

    class TimedFinder:
        def __init__(self, f):
            self.f = f

        def fit(self, z, s):
            t = time.perf_counter()
            self.f.fit(z, s)
            timings["svm_fits_s"] += time.perf_counter() - t
            return self.f

    dmod.score_latents = timed_score
    dmod.make_finder = lambda *a, **k: TimedFinder(finder(*a, **k))
    try:
        t = time.perf_counter()
        found = dmod.fit_directions(
            bundle, predictor, ["smile", "age", "glasses"], samples=samples, progress=False
        )
        total = time.perf_counter() - t
    finally:
        dmod.score_latents, dmod.make_finder = score, finder
    return {
        "samples": samples,
        "total_s": round(total, 2),
        **{k: round(v, 2) for k, v in timings.items()},
        "validation": {k: d.meta["validation"] for k, d in found.items()},
    }


def bench_batch_export(editor, n: int, out: Path) -> dict:
    import latentkit.provenance.export as ex
    from latentkit.provenance.keys import init_keys, load_identity

    identity = load_identity(
        init_keys(out / "keys", force=True) / "signer-chain.pem", out / "keys" / "signer-key.pem"
    )
    stages = {
        "render": "render",
        "watermark": "embed_watermark",
        "png_encode": "encode_image",
        "c2pa_sign": "sign_c2pa",
        "decode_check": "decode_bytes",
        "write": "write_bytes",
    }
    spent: dict[str, float] = defaultdict(float)
    originals = {name: getattr(ex, fn) for name, fn in stages.items()}

    def wrap(name, fn):
        def timed(*a, **k):
            t = time.perf_counter()
            r = fn(*a, **k)
            spent[name] += time.perf_counter() - t
            return r

        return timed

    for name, fn in originals.items():
        setattr(ex, stages[name], wrap(name, fn))
    edits = {"smile": 1.5, "age": -1.0}
    record = editor.edit_record(edits, ["glasses"])
    try:
        t0 = time.perf_counter()
        for seed in range(n):
            t = time.perf_counter()
            z = editor.edit(editor.sample(seed), edits, hold=["glasses"])
            spent["sample_and_edit"] += time.perf_counter() - t
            editor.export(
                z, out / "images", f"seed{seed:04d}.png", seed=seed, edits=record, identity=identity
            )
        total = time.perf_counter() - t0
    finally:
        for name, fn in originals.items():
            setattr(ex, stages[name], fn)
    other = total - sum(spent.values())  # manifest building, hashing, checks
    return {
        "images": n,
        "total_s": round(total, 2),
        "images_per_s": round(n / total, 1),
        "ms_per_image": {k: round(1000 * v / n, 2) for k, v in {**spent, "other": other}.items()},
        "mean_file_kb": round(sum(p.stat().st_size for p in (out / "images").iterdir()) / n / 1024, 1),
    }


def bench_animation(editor, out: Path, fmt: str, frames: int = 30, size: int = 256) -> dict:
    import numpy as np

    import latentkit.provenance.export as ex
    from latentkit.latent import keyframe_path
    from latentkit.provenance import animfile
    from latentkit.provenance.keys import init_keys, load_identity
    from latentkit.provenance.watermark import detect_watermark, payload_bits

    keys = out / "keys"
    identity = load_identity(init_keys(keys, force=True) / "signer-chain.pem", keys / "signer-key.pem")
    path, _ = keyframe_path(np.stack([editor.sample(0), editor.sample(1)]), frames - 1)
    spent: dict[str, float] = defaultdict(float)
    marked: list[np.ndarray] = []
    stages = [
        (ex, "render"),
        (ex, "embed_watermark"),
        (animfile, "quantise_gif_frames"),
        (animfile, "encode_gif"),
        (animfile, "encode_mp4"),
        (animfile, "decode_animation"),
        (ex, "sign_c2pa"),
        (ex, "write_bytes"),
    ]
    originals = [(mod, name, getattr(mod, name)) for mod, name in stages]

    def wrap(name, fn):
        def timed(*a, **k):
            t = time.perf_counter()
            r = fn(*a, **k)
            spent[name] += time.perf_counter() - t
            if name == "embed_watermark":
                marked.append(r)
            return r

        return timed

    for mod, name, fn in originals:
        setattr(mod, name, wrap(name, fn))
    try:
        t = time.perf_counter()
        result = ex.export_animation(
            editor.bundle, path, out, f"walk.{fmt}", size=size, identity=identity, overwrite=True
        )
        total = time.perf_counter() - t
    finally:
        for mod, name, fn in originals:
            setattr(mod, name, fn)
    decoded = animfile.read_animation(result.path).frames
    truth = payload_bits(result.export_id)
    accuracy = [float((detect_watermark(f).bits == truth).mean()) for f in decoded]
    psnr = [
        10 * np.log10(255**2 / np.mean((a.astype(float) - b) ** 2))
        for a, b in zip(marked, decoded, strict=True)
    ]
    return {
        "format": fmt,
        "frames": frames,
        "size": size,
        "total_s": round(total, 2),
        "ms_per_frame": round(1000 * total / frames, 1),
        "stage_s": {k: round(v, 3) for k, v in spent.items()},
        "file_kb": round(result.path.stat().st_size / 1024, 1),
        "watermark_bit_accuracy": {"mean": round(float(np.mean(accuracy)), 4), "min": min(accuracy)},
        "watermark_found_frames": sum(detect_watermark(f).export_id == result.export_id for f in decoded),
        "psnr_db_vs_watermarked": round(float(np.mean(psnr)), 1),
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--samples", type=int, default=20_000)
    p.add_argument("--batch-images", type=int, default=1000)
    p.add_argument("--model", help="bundle or shipped model name (default: a random 64 px ngf-64 DCGAN)")
    p.add_argument("--predictor", help="attribute predictor (default: MODEL/predictor, else a quick one)")
    p.add_argument("--json")
    p.add_argument("--animation-only", action="store_true", help="only the interpolation GIF/MP4 export")
    p.add_argument(
        "--export-only", action="store_true", help="only the batch export, with the model's directions"
    )
    p.add_argument(
        "--png-level-vs", type=int, help="with --export-only: also at this zlib level, same process"
    )
    args = p.parse_args()
    torch.set_num_threads(args.threads)

    from latentkit.latent.directions import fit_directions, save_directions
    from latentkit.latent.editor import Editor

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        os.environ["LATENTKIT_HOME"] = str(root)
        bundle = make_bundle(root, args.model)
        results = {"threads": args.threads, "torch": torch.__version__, "model": bundle.name}
        results["generator"] = {k: getattr(bundle.config, k) for k in ("resolution", "ngf", "latent_dim")}
        if args.animation_only:
            run_animation(Editor(bundle), root, results)
            return _save(results, args.json)
        if args.export_only:
            run_export_only(Editor(bundle), args.batch_images, root, results, args.png_level_vs)
            return _save(results, args.json)
        predictor = make_predictor(bundle, args.predictor)
        results["directions_fit"] = bench_fit(bundle, predictor, args.samples)
        print("directions fit:", json.dumps(results["directions_fit"]))
        save_directions(
            bundle, fit_directions(bundle, predictor, ["smile", "age", "glasses"], 2000, progress=False)
        )
        editor = Editor(bundle)
        results["single_edit"] = bench_single_edit(editor)
        print("single edit:", json.dumps(results["single_edit"]))
        results["batch_export"] = bench_batch_export(editor, args.batch_images, root)
        print("batch export:", json.dumps(results["batch_export"]))
        run_animation(editor, root, results)
    _save(results, args.json)


def run_export_only(editor, n: int, root: Path, results: dict, other_level: int | None) -> None:
    """The batch export alone; with `other_level`, alternately at that plain zlib level and the shipped
    PNG settings (`imagefile.PNG_OPTIONS`), in this one process, so a busy machine hits both alike."""
    import shutil

    from latentkit.provenance import imagefile

    shipped = dict(imagefile.PNG_OPTIONS)
    runs: dict[str, list[dict]] = defaultdict(list)
    settings = [("shipped", shipped)]
    if other_level is not None:
        other = (f"level_{other_level}", {"compress_level": other_level})
        settings = [other, settings[0], other, settings[0]]
    try:
        for label, options in settings:
            imagefile.PNG_OPTIONS = options
            shutil.rmtree(root / "images", ignore_errors=True)
            r = bench_batch_export(editor, n, root)
            runs[label].append(r)
            print(f"batch export, PNG {label} {options}:", json.dumps(r))
    finally:
        imagefile.PNG_OPTIONS = shipped
    results["batch_export"] = {"png_options": {k: str(v) for k, v in shipped.items()}, **runs}
    if other_level is not None:
        best = {k: max(r["images_per_s"] for r in v) for k, v in runs.items()}
        ratio = round(best["shipped"] / best[f"level_{other_level}"], 2)
        results["batch_export"]["speed_ratio_vs_level"] = ratio
        print(f"shipped PNG settings vs zlib level {other_level}: {ratio}x images/s (best run of each)")


def run_animation(editor, root: Path, results: dict) -> None:
    from latentkit.provenance.animfile import mp4_available

    results["interpolation_gif"] = bench_animation(editor, root, "gif")
    print("interpolation GIF (30 frames, 256 px):", json.dumps(results["interpolation_gif"]))
    if mp4_available():
        results["interpolation_mp4"] = bench_animation(editor, root, "mp4")
        print("interpolation MP4 (30 frames, 256 px):", json.dumps(results["interpolation_mp4"]))


def _save(results: dict, path: str | None) -> None:
    if path:
        Path(path).write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
