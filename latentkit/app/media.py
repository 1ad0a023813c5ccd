"""Pictures and files the editor shows or hands out: previews, GIF previews, zips, verify reports.

Previews are on-screen only (no watermark, no manifest). Every file a user downloads from the app
is written by `latentkit.provenance.export_image` first; this module only bundles those files.
"""

from __future__ import annotations

import html
import os
import re
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from latentkit.io import atomic_write
from latentkit.text import shown
from latentkit.viz import save_preview_gif


def upscale(img: np.ndarray, side: int) -> np.ndarray:
    """(H, W, 3) uint8 -> nearest-neighbour upscale by the largest whole factor keeping side <= `side`."""
    k = max(1, side // img.shape[0])
    return img.repeat(k, axis=0).repeat(k, axis=1) if k > 1 else img


def side_by_side(left: np.ndarray, right: np.ndarray, gap: int = 2) -> np.ndarray:
    """Two (H, W, 3) uint8 images next to each other with a white gap: (H, 2W + gap, 3)."""
    white = np.full((left.shape[0], gap, 3), 255, dtype=np.uint8)
    return np.concatenate([left, white, right], axis=1)


def write_gif(path: str | os.PathLike, frames: Sequence[np.ndarray], ms_per_frame: int = 80) -> Path:
    """Frames (H, W, 3) uint8 as a looping GIF preview (palette-quantised: for the screen only)."""
    save_preview_gif(path, frames, ms_per_frame)
    return Path(path)


def write_zip(path: str | os.PathLike, files: Sequence[str | os.PathLike]) -> Path:
    """Store `files` (flat, by file name) in a zip at `path`. PNGs are already compressed: no deflate."""
    with atomic_write(path) as f, zipfile.ZipFile(f, "w", zipfile.ZIP_STORED) as zf:
        for file in files:
            zf.write(file, Path(file).name)
    return Path(path)


def report_markdown(report: Any, text: str) -> str:
    """A verify report as Markdown: the verdict first, then one table row per aspect.

    `text` is `latentkit.provenance.format_report(report)`: its "  aspect   words" lines are reused
    so the app and `latentkit verify` say the same thing. Values come from the (untrusted) file, so
    each cell shows control characters as escapes (`provenance.verify.shown`) and escapes HTML and
    Markdown markup: nothing in it can add a row, a link or an image.
    """

    def cell(value: object) -> str:  # control characters visible, then no HTML and no Markdown markup
        text = html.escape(shown(value), quote=False).replace("|", "/")
        return re.sub(r"([\\`*_\[\]~])", r"\\\1", text)  # emphasis, code, links and images

    problems = report.problems()
    if report.verified:
        head = "### ✓ Verified\nSigned by a valid C2PA signature and the pixels are unchanged."
    else:
        head = f"### ✗ Not verified\n{cell('; '.join(problems) or 'see below')}."
    rows = []
    for line in text.splitlines()[1:]:
        key, _, value = line.strip().partition(" ")
        rows.append(f"| {key} | {cell(value.strip())} |")
    m = report.manifest or {}
    for e in m.get("edits") or []:
        if isinstance(e, dict) and "direction" in e:
            rows.append(f"| edit | {cell(edit_text(e))} |")
    anim = m.get("animation")
    if isinstance(anim, dict):
        timing = f"{anim.get('frames')} frames at {anim.get('fps')} fps"
        rows.append(f"| animation | {cell(timing)} |")
    if isinstance(m.get("interpolation"), dict):
        i = m["interpolation"]
        if isinstance(i.get("keyframes"), list):  # an animation: the whole path
            where = f"{i.get('method')} through {len(i['keyframes'])} keyframes"
        else:
            where = f"{i.get('method')} t={i.get('t')}, frame {i.get('frame')} of {i.get('frames')}"
        rows.append(f"| interpolation | {cell(where)} |")
    size = f"{report.format.upper()} {report.width}×{report.height}"
    size += f", {report.frames} frames" if getattr(report, "frames", None) else ""
    return f"{head}\n\n| check | result |\n|---|---|\n| file | {size} |\n" + "\n".join(rows)


def edit_text(e: dict) -> str:
    """One manifest edit in words, 'smile +1.5 (relative, holding age)', whatever the file holds."""
    strength = e.get("strength")
    strength = f"{strength:+g}" if isinstance(strength, int | float) else str(strength)
    held = e.get("hold", e.get("conditioned_on"))  # "conditioned_on": manifests from before "hold"
    held = f", holding {', '.join(map(str, held))}" if isinstance(held, list) and held else ""
    return f"{e['direction']} {strength} ({e.get('mode', '?')}{held})"


def verify_summary(path: str | os.PathLike) -> tuple[bool, str]:
    """(verified, Markdown report) of one exported file, via `latentkit.provenance.verify_image`."""
    from latentkit.provenance import format_report, verify_image

    report = verify_image(path)
    return report.verified, report_markdown(report, format_report(report))
