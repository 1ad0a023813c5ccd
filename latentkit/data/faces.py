"""Procedural cartoon faces with ground-truth attribute labels.

Real photo datasets cannot tell us whether a fitted "smile" direction is right; these faces can,
because every image is drawn from known attributes. Each face is drawn with Pillow at 4x the target
size and box-downsampled, which anti-aliases the edges.

Attributes (all stored per image; ranges are the label ranges):

=============  ==========  ==========================================================
name           range       what it draws
=============  ==========  ==========================================================
smile          [-1, 1]     mouth curvature: frown -> neutral line -> broad open smile
age            [0, 1]      hair greys and recedes, forehead and eye-corner wrinkles
glasses        {0, 1}      round frames over the eyes
hair_color     [0, 1)      hue of the hair (before greying)
skin_tone      [0, 1]      light -> dark skin
face_width     [0, 1]      narrow -> wide face
eye_size       [0, 1]      small -> large eyes
background     [0, 1)      hue of the background
pose           [-1, 1]     horizontal head turn: features shift left/right
=============  ==========  ==========================================================

Like real face data, older faces wear glasses more often: P(glasses | age) = 0.375 +
0.45 * correlation * (age - 0.5), i.e. about 0.15 at age 0 and 0.6 at age 1 with the default
``glasses_age_correlation=1``; 0 makes glasses independent of age (P = 0.375 everywhere), keeping the
overall glasses rate the same.

Face ``i`` of a set with seed ``s`` is drawn from ``np.random.default_rng([s, i])``, so a face does not
depend on how many faces are rendered or how the work is split across processes.
"""

from __future__ import annotations

import colorsys
import hashlib
import json
import math
import os
import zipfile
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw

from latentkit.data.base import Dataset
from latentkit.errors import LatentkitError
from latentkit.io import atomic_write

SIZES = (32, 64, 128)
SUPERSAMPLE = 4
CACHE_VERSION = 2  # 2: images stored NCHW, as the Dataset holds them (1: NHWC)


@dataclass(frozen=True)
class FaceAttributes:
    """The attributes of one face; see the module docstring for ranges."""

    smile: float = 0.0
    age: float = 0.3
    glasses: float = 0.0
    hair_color: float = 0.08
    skin_tone: float = 0.3
    face_width: float = 0.5
    eye_size: float = 0.5
    background: float = 0.55
    pose: float = 0.0


ATTRIBUTES = tuple(f.name for f in fields(FaceAttributes))
RANGES = {
    "smile": (-1.0, 1.0),
    "age": (0.0, 1.0),
    "glasses": (0.0, 1.0),
    "hair_color": (0.0, 1.0),
    "skin_tone": (0.0, 1.0),
    "face_width": (0.0, 1.0),
    "eye_size": (0.0, 1.0),
    "background": (0.0, 1.0),
    "pose": (-1.0, 1.0),
}
BINARY = ("glasses",)


def glasses_probability(age: float, correlation: float = 1.0) -> float:
    """P(glasses | age): 0.375 + 0.45 * correlation * (age - 0.5)."""
    return 0.375 + 0.45 * correlation * (age - 0.5)


def sample_attributes(rng: np.random.Generator, glasses_age_correlation: float = 1.0) -> FaceAttributes:
    """Draw one face's attributes: uniform over each range, glasses depending on age."""
    age = rng.uniform(0.0, 1.0)
    return FaceAttributes(
        smile=rng.uniform(-1.0, 1.0),
        age=age,
        glasses=float(rng.uniform() < glasses_probability(age, glasses_age_correlation)),
        hair_color=rng.uniform(0.0, 1.0),
        skin_tone=rng.uniform(0.0, 1.0),
        face_width=rng.uniform(0.0, 1.0),
        eye_size=rng.uniform(0.0, 1.0),
        background=rng.uniform(0.0, 1.0),
        pose=rng.uniform(-1.0, 1.0),
    )


# --- drawing -------------------------------------------------------------------------------------


def _rgb(h: float, s: float, v: float) -> tuple[int, int, int]:
    r, g, b = colorsys.hsv_to_rgb(h % 1.0, s, v)
    return round(r * 255), round(g * 255), round(b * 255)


def _mix(a: tuple[int, ...], b: tuple[int, ...], t: float) -> tuple[int, int, int]:
    return tuple(round(x + (y - x) * t) for x, y in zip(a, b, strict=True))  # type: ignore[return-value]


def _curve(x0: float, x1: float, y: float, depth: float, n: int = 24) -> list[tuple[float, float]]:
    """Points of a parabola from (x0, y) to (x1, y) whose middle sits `depth` lower (y grows down)."""
    pts = []
    for i in range(n + 1):
        t = i / n
        pts.append((x0 + (x1 - x0) * t, y + depth * 4 * t * (1 - t)))
    return pts


def _skin(a: FaceAttributes) -> tuple[int, int, int]:
    return _mix((250, 222, 196), (112, 72, 48), a.skin_tone)


def _hair(a: FaceAttributes) -> tuple[int, int, int]:
    # Greying starts around age 0.35 and is complete at 1.
    grey = min(1.0, max(0.0, (a.age - 0.35) / 0.6))
    return _mix(_rgb(a.hair_color, 0.75, 0.55), (205, 205, 210), grey)


def _draw_hair(d: ImageDraw.ImageDraw, a: FaceAttributes, cx: float, cy: float, w: float, h: float) -> None:
    """A hair cap over the top of the head; its lower edge recedes and thins with age."""
    color = _hair(a)
    pad = 0.10 * w
    box = (cx - w - pad, cy - h - pad, cx + w + pad, cy + h * 0.5)
    # The cap is a chord of an ellipse: the chord's end angles rise with age (receding hairline).
    recede = 10 + 55 * a.age
    d.chord(box, start=180 + recede * 0.2 - 20, end=360 - recede * 0.2 + 20, fill=color)


def _draw_face(img: Image.Image, a: FaceAttributes) -> None:
    S = img.size[0]
    d = ImageDraw.Draw(img)
    skin = _skin(a)
    dark_skin = _mix(skin, (60, 35, 25), 0.45)

    cx, cy = S * (0.5 + 0.04 * a.pose), S * 0.54
    w = S * (0.24 + 0.09 * a.face_width)  # half width
    h = S * 0.33  # half height
    fx = cx + S * 0.09 * a.pose  # where the features sit: shifted further than the head by the turn

    # Neck and shoulders, hair behind the head, ears.
    d.rectangle((cx - w * 0.45, cy + h * 0.6, cx + w * 0.45, S), fill=dark_skin)
    d.ellipse(
        (cx - S * 0.42, cy + h * 0.95, cx + S * 0.42, cy + h * 2.2), fill=_rgb(a.background + 0.5, 0.4, 0.5)
    )
    _draw_hair(d, a, cx, cy, w, h)
    ear_w, ear_h = S * 0.05, S * 0.09
    for side in (-1, 1):
        ex = cx + side * w * (1.0 - 0.12 * side * a.pose)
        d.ellipse((ex - ear_w, cy - ear_h, ex + ear_w, cy + ear_h), fill=skin)
    d.ellipse((cx - w, cy - h, cx + w, cy + h), fill=skin)

    # Hairline: a fringe across the top of the face; it thins and rises with age.
    hair = _hair(a)
    fringe_h = h * (0.55 - 0.45 * a.age)
    d.chord((cx - w, cy - h, cx + w, cy - h + 2 * fringe_h), start=180, end=360, fill=hair)

    # Forehead wrinkles (age > 0.45): up to three lines, darker as age grows.
    wr = max(0.0, (a.age - 0.45) / 0.55)
    if wr > 0:
        line = _mix(skin, (70, 40, 30), 0.25 + 0.45 * wr)
        for k in range(1 + int(wr * 2.99)):
            y = cy - h * 0.42 + k * S * 0.03
            d.line(_curve(fx - w * 0.45, fx + w * 0.45, y, -S * 0.012), fill=line, width=max(1, S // 64))

    # Eyes: white, iris, pupil; eyebrows above.
    ey = cy - h * 0.08
    er = S * (0.035 + 0.03 * a.eye_size)
    iris = _rgb(0.58 + 0.4 * a.hair_color, 0.5, 0.45)
    for side in (-1, 1):
        ex = fx + side * S * 0.11
        d.ellipse((ex - er * 1.25, ey - er, ex + er * 1.25, ey + er), fill=(250, 250, 250))
        ir = er * 0.7
        ix = ex + S * 0.012 * a.pose
        d.ellipse((ix - ir, ey - ir, ix + ir, ey + ir), fill=iris)
        d.ellipse((ix - ir * 0.45, ey - ir * 0.45, ix + ir * 0.45, ey + ir * 0.45), fill=(20, 20, 25))
        brow_y = ey - er - S * 0.035
        d.line(
            (ex - er * 1.3, brow_y + S * 0.008, ex + er * 1.3, brow_y - S * 0.004 * side * 0),
            fill=_mix(hair, (40, 30, 25), 0.4),
            width=max(1, S // 45),
        )
        # Crow's feet at the outer eye corners.
        if wr > 0:
            ox = ex + side * er * 1.4
            for k in (-1, 0, 1):
                d.line(
                    (ox, ey + k * er * 0.35, ox + side * S * (0.03 + 0.02 * wr), ey + k * er * 0.7),
                    fill=_mix(skin, (70, 40, 30), 0.3 + 0.4 * wr),
                    width=max(1, S // 110),
                )

    # Nose.
    ny = cy + h * 0.18
    d.line(
        [(fx + S * 0.01, ey + er), (fx - S * 0.025 + S * 0.02 * a.pose, ny), (fx + S * 0.02, ny)],
        fill=_mix(skin, (60, 35, 25), 0.35),
        width=max(1, S // 70),
    )

    # Mouth: corners rise with smile (the middle sits lower); a broad smile opens with teeth.
    my = cy + h * 0.50
    mw = S * (0.10 + 0.03 * max(a.smile, 0))
    depth = S * 0.075 * a.smile
    lip = _mix((190, 70, 70), skin, 0.25)
    x0, x1 = fx - mw, fx + mw
    opening = max(0.0, a.smile - 0.2) / 0.8  # 0 below smile 0.2, 1 at smile 1
    if opening > 0:
        upper = _curve(x0, x1, my, depth * 0.35)
        lower = _curve(x0, x1, my, depth * (0.35 + 1.1 * opening) + S * 0.01 * opening)
        d.polygon(upper + lower[::-1], fill=(90, 25, 30))
        teeth = _curve(x0 + mw * 0.25, x1 - mw * 0.25, my + depth * 0.2, depth * 0.3)
        teeth_low = [(x, y + S * 0.02 * opening) for x, y in teeth]
        d.polygon(teeth + teeth_low[::-1], fill=(245, 245, 240))
        d.line(upper, fill=lip, width=max(1, S // 60))
        d.line(lower, fill=lip, width=max(1, S // 60))
    else:
        d.line(_curve(x0, x1, my, depth), fill=lip, width=max(2, S // 40))

    if a.glasses >= 0.5:
        frame = (30, 30, 35)
        gr = S * 0.085
        lw = max(2, S // 50)
        for side in (-1, 1):
            ex = fx + side * S * 0.11
            d.ellipse((ex - gr, ey - gr * 0.85, ex + gr, ey + gr * 0.85), outline=frame, width=lw)
            d.line((ex + side * gr, ey - gr * 0.2, cx + side * w, ey - gr * 0.35), fill=frame, width=lw)
        d.line((fx - S * 0.11 + gr, ey - gr * 0.1, fx + S * 0.11 - gr, ey - gr * 0.1), fill=frame, width=lw)


def render_face(attrs: FaceAttributes, size: int = 64) -> np.ndarray:
    """Draw one face. Returns (size, size, 3) uint8 RGB."""
    if size not in SIZES:
        raise LatentkitError(f"faces size {size}: must be one of {', '.join(map(str, SIZES))}")
    big = size * SUPERSAMPLE
    img = Image.new("RGB", (big, big), _rgb(attrs.background, 0.35, 0.88))
    _draw_face(img, attrs)
    return np.asarray(img.reduce(SUPERSAMPLE))


# --- datasets ------------------------------------------------------------------------------------


def _render_range(args: tuple[int, int, int, int, float]) -> tuple[np.ndarray, np.ndarray]:
    """Render faces start..stop of a set; returns images (n, H, W, 3) uint8 and labels (n, A)."""
    seed, start, stop, size, corr = args
    images = np.empty((stop - start, size, size, 3), np.uint8)
    labels = np.empty((stop - start, len(ATTRIBUTES)), np.float32)
    for k, i in enumerate(range(start, stop)):
        attrs = sample_attributes(np.random.default_rng([seed, i]), corr)
        images[k] = render_face(attrs, size)
        labels[k] = [getattr(attrs, name) for name in ATTRIBUTES]
    return images, labels


def render_faces(
    n: int, size: int = 64, seed: int = 0, glasses_age_correlation: float = 1.0, workers: int | None = None
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Render faces 0..n-1 of the set `seed`.

    Returns images (n, size, size, 3) uint8 and labels: attribute -> (n,) float32.
    Uses `workers` processes (default: all cores) for sets over a few hundred faces.
    """
    if size not in SIZES:
        raise LatentkitError(f"faces size {size}: must be one of {', '.join(map(str, SIZES))}")
    if n < 1:
        raise LatentkitError(f"faces n={n}: must be at least 1")
    workers = workers or os.cpu_count() or 1
    chunk = max(64, math.ceil(n / (workers * 4)))
    jobs = [(seed, s, min(s + chunk, n), size, glasses_age_correlation) for s in range(0, n, chunk)]
    if workers == 1 or len(jobs) == 1:
        parts = [_render_range(j) for j in jobs]
    else:
        with ProcessPoolExecutor(workers) as pool:
            parts = list(pool.map(_render_range, jobs))
    images = np.concatenate([p[0] for p in parts])
    table = np.concatenate([p[1] for p in parts])
    return images, {name: table[:, j].copy() for j, name in enumerate(ATTRIBUTES)}


def cache_dir() -> Path:
    """Where rendered sets are cached: $LATENTKIT_CACHE, else ~/.cache/latentkit."""
    root = os.environ.get("LATENTKIT_CACHE") or Path.home() / ".cache" / "latentkit"
    return Path(root) / "faces"


def _cache_key(params: dict) -> str:
    text = json.dumps({**params, "cache_version": CACHE_VERSION}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def load_faces(
    size: int = 64,
    n: int = 10_000,
    seed: int = 0,
    glasses_age_correlation: float = 1.0,
    cache: bool = True,
    workers: int | None = None,
) -> Dataset:
    """The faces dataset: (n, 3, size, size) uint8 images with every attribute as a label.

    Rendered sets are cached as .npz (no pickle) under `cache_dir()`, keyed by every parameter, so
    the second load of the same set is near-instant.
    """
    params = {"size": size, "n": n, "seed": seed, "glasses_age_correlation": glasses_age_correlation}
    path = cache_dir() / f"faces-{_cache_key(params)}.npz"
    # images: (n, 3, size, size) uint8. The cache holds them in the Dataset's layout, so loading costs
    # one copy of the set in memory, not two.
    images = labels = None
    if cache and path.exists():
        try:
            with np.load(path, allow_pickle=False) as z:
                images = z["images"]
                labels = {name: z[name] for name in ATTRIBUTES}
            if images.shape != (n, 3, size, size) or images.dtype != np.uint8:
                images = None
        except (OSError, ValueError, KeyError, zipfile.BadZipFile):
            images = None  # a damaged cache file is simply rendered again
    if images is None:
        nhwc, labels = render_faces(n, size, seed, glasses_age_correlation, workers)
        images = np.ascontiguousarray(nhwc.transpose(0, 3, 1, 2))
        del nhwc
        if cache:
            with atomic_write(path) as f:
                np.savez(f, images=images, **labels)
    data = torch.from_numpy(images)
    info = {
        "source": "faces",
        **params,
        "attributes": {name: {"range": list(RANGES[name]), "binary": name in BINARY} for name in ATTRIBUTES},
    }
    return Dataset(name="faces", data=data, labels=labels, info=info)


def attribute_sweep(name: str, steps: int = 8, base: FaceAttributes | None = None) -> list[FaceAttributes]:
    """`steps` copies of `base` with attribute `name` swept from its low to its high end."""
    if name not in RANGES:
        raise LatentkitError(f"unknown face attribute {name!r}; known: {', '.join(ATTRIBUTES)}")
    base = base or FaceAttributes()
    lo, hi = RANGES[name]
    hi = 0.97 if name in ("hair_color", "background") else hi  # hues wrap: stop short of the start
    values = [lo + (hi - lo) * i / (steps - 1) for i in range(steps)]
    if name in BINARY:
        values = [float(i >= steps // 2) for i in range(steps)]
    return [FaceAttributes(**{**asdict(base), name: v}) for v in values]
