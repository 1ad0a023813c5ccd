"""A folder of images, with optional attribute labels.

Images are found recursively (.png .jpg .jpeg .webp, any case), sorted by relative path so the same
folder always gives the same order, converted to RGB, resized so the short side is `size` and
centre-cropped to a square. Unreadable files are skipped with one warning.

Labels come from one of two layouts at the folder's root:
- `labels.csv`: a header row `filename,<attr>,...`, then one row per image with numeric values;
  filenames are relative to the root. Every image needs a row and every row an image.
- CelebA's own layout: `img_align_celeba/` (the images) and `list_attr_celeba.txt` (line 1 the
  image count, line 2 the attribute names, then `filename v1 ... vK` with -1/1 values, mapped to
  0/1). Rows for images that are absent are ignored, so a subset of CelebA works as is.
If both are present, `labels.csv` wins.
"""

from __future__ import annotations

import csv
import math
import os
import warnings
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import numpy as np
import torch
from PIL import Image, ImageOps

from latentkit.data.base import Dataset
from latentkit.errors import LatentkitError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp")
LABELS_CSV = "labels.csv"
CELEBA_IMAGES = "img_align_celeba"
CELEBA_ATTRS = "list_attr_celeba.txt"
# Larger images are refused as possible decompression bombs. Checked from the header before decoding,
# so PIL's global Image.MAX_IMAGE_PIXELS (~89 Mpixel) is left alone.
MAX_PIXELS = 50_000_000
_SHOWN_UNREADABLE = 5  # how many unreadable files the warning names


@dataclass
class LabelTable:
    """Attribute values read from a label file.

    Attributes:
        path: the label file, for error messages.
        names: K attribute names.
        rows: image path (posix, relative to the image folder) -> row index into `values`.
        lines: line number in `path` of each row.
        values: (R, K) float32.
        strict: every row must name an existing image (labels.csv); CelebA rows may name absent ones.
    """

    path: Path
    names: list[str]
    rows: dict[str, int]
    lines: list[int]
    values: np.ndarray
    strict: bool


def load_folder(path: str | os.PathLike, size: int = 64, max_images: int | None = None) -> Dataset:
    """Load every image under `path` as (N, 3, size, size) uint8, with labels if a label file exists.

    Args:
        path: folder of images (searched recursively), or a CelebA root.
        size: output side in pixels.
        max_images: keep only the first `max_images` readable images (in sorted order).
    Returns:
        Dataset with info {"root": str, "files": [paths relative to root], "labels_file": str | None}.
    """
    root = Path(path).expanduser()
    if not root.is_dir():
        raise LatentkitError(f"{root}: not a folder of images")
    if size < 1:
        raise LatentkitError(f"{root}: size must be >= 1 pixel, got {size}")
    if max_images is not None and max_images < 1:
        raise LatentkitError(f"{root}: max_images must be >= 1, got {max_images}")

    image_dir, table = _find_labels(root)
    files = list_images(image_dir)
    if not files:
        raise LatentkitError(f"{image_dir}: no images found (.png, .jpg, .jpeg, .webp)")
    if table is not None:
        _check_labels_match(table, files)  # before decoding, which can take minutes

    data, kept = _load_images(image_dir, files, size, max_images)
    labels = {} if table is None else _labels_for(table, kept)
    prefix = image_dir.relative_to(root)
    return Dataset(
        name=f"folder:{root}",
        data=torch.from_numpy(data),
        labels=labels,
        info={
            "root": str(root),
            "files": [(prefix / f).as_posix() for f in kept],
            "labels_file": None if table is None else str(table.path),
            "size": size,
        },
    )


def list_images(folder: Path) -> list[str]:
    """Posix paths (relative to `folder`) of all image files below it, sorted.

    Hidden files and folders are skipped: they are editor/OS debris such as macOS `._x.jpg`
    resource forks, which carry an image suffix but are not images.
    """
    found = []
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]
        rel_dir = Path(dirpath).relative_to(folder)
        for name in filenames:
            if not name.startswith(".") and name.lower().endswith(IMAGE_SUFFIXES):
                found.append((rel_dir / name).as_posix())
    return sorted(found)


# --- images -----------------------------------------------------------------------------------------


def read_image(path: Path, size: int) -> np.ndarray:
    """One image as (3, size, size) uint8: short side resized to `size` (LANCZOS), centre crop.

    Raises PIL's errors on a corrupt file, ValueError on images over MAX_PIXELS.
    """
    with Image.open(path) as img:
        if img.width * img.height > MAX_PIXELS:
            raise ValueError(f"{img.width}x{img.height} exceeds {MAX_PIXELS} pixels")
        # JPEG only: decode at a reduced scale (1/2, 1/4, 1/8) that is still >= size, much faster.
        img.draft("RGB", (size, size))
        img = ImageOps.exif_transpose(img)  # phone photos store rotation in EXIF, not in pixels
        img = img.convert("RGB")
        w, h = img.size
        side = min(w, h)
        box = ((w - side) / 2, (h - side) / 2, (w + side) / 2, (h + side) / 2)
        # reducing_gap: a cheap box pre-shrink before LANCZOS on big images; same look, much faster.
        img = img.resize((size, size), Image.Resampling.LANCZOS, box=box, reducing_gap=3.0)
        return np.asarray(img).transpose(2, 0, 1)


def _load_images(
    folder: Path, files: list[str], size: int, max_images: int | None
) -> tuple[np.ndarray, list[str]]:
    """Decode `files` into one (N, 3, size, size) uint8 array; unreadable ones skipped with a warning."""
    limit = len(files) if max_images is None else min(max_images, len(files))
    data = np.empty((limit, 3, size, size), dtype=np.uint8)  # filled in place: no second copy
    kept: list[str] = []
    unreadable: list[str] = []
    with warnings.catch_warnings():
        # PIL warns (rather than fails) between ~89 and ~179 Mpixel; make that a per-file error too.
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        for rel in files:
            if len(kept) == limit:
                break
            try:
                data[len(kept)] = read_image(folder / rel, size)
            # PIL decoders raise a zoo of types on corrupt input (OSError, SyntaxError, ValueError,
            # struct.error, DecompressionBombError...); any failure means "skip this file".
            except Exception:
                unreadable.append(rel)
                continue
            kept.append(rel)
    if not kept:
        raise LatentkitError(f"{folder}: none of the {len(unreadable)} image files could be read")
    if unreadable:
        shown = ", ".join(unreadable[:_SHOWN_UNREADABLE])
        more = (
            f" and {len(unreadable) - _SHOWN_UNREADABLE} more" if len(unreadable) > _SHOWN_UNREADABLE else ""
        )
        warnings.warn(
            f"{folder}: skipped {len(unreadable)} unreadable image file(s): {shown}{more}",
            UserWarning,
            stacklevel=3,
        )
    return data[: len(kept)], kept


# --- labels -----------------------------------------------------------------------------------------


def _find_labels(root: Path) -> tuple[Path, LabelTable | None]:
    """The folder to search for images, and the label table if `root` has one."""
    if (root / LABELS_CSV).is_file():
        return root, read_labels_csv(root / LABELS_CSV)
    if (root / CELEBA_IMAGES).is_dir() and (root / CELEBA_ATTRS).is_file():
        return root / CELEBA_IMAGES, read_celeba_attributes(root / CELEBA_ATTRS)
    return root, None


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8-sig")  # -sig: spreadsheets often prepend a BOM
    except (OSError, UnicodeDecodeError) as e:
        raise LatentkitError(f"{path}: cannot read ({e})") from None


def _normalise(name: str) -> str:
    """`./a\\b.png` -> `a/b.png`, so label rows match `list_images` paths."""
    return PurePosixPath(name.strip().replace("\\", "/")).as_posix()


def read_labels_csv(path: Path) -> LabelTable:
    """Parse `labels.csv`: header `filename,<attr>,...`, then one row of numbers per image."""
    reader = csv.reader(_read_text(path).splitlines())
    header = [h.strip() for h in next(reader, [])]
    if not header or header[0] != "filename":
        raise LatentkitError(f"{path}, line 1: header must start with 'filename', then attribute names")
    names = header[1:]
    if not names or "" in names or len(set(names)) != len(names):
        raise LatentkitError(f"{path}, line 1: need one or more distinct, non-empty attribute names")

    rows: dict[str, int] = {}
    lines: list[int] = []
    values: list[list[float]] = []
    for record in reader:
        line = reader.line_num
        if not record or all(not field.strip() for field in record):
            continue  # blank line
        if len(record) != len(header):
            raise LatentkitError(f"{path}, line {line}: expected {len(header)} columns, found {len(record)}")
        name = _normalise(record[0])
        if name in rows:
            raise LatentkitError(
                f"{path}, line {line}: {name!r} already has a row (line {lines[rows[name]]})"
            )
        row = []
        for column, field in zip(names, record[1:], strict=True):
            try:
                value = float(field)
            except ValueError:
                value = math.nan
            if not math.isfinite(value):
                raise LatentkitError(
                    f"{path}, line {line}: {column}={field.strip()!r} is not a finite number"
                )
            row.append(value)
        rows[name] = len(values)
        lines.append(line)
        values.append(row)
    return LabelTable(
        path, names, rows, lines, np.array(values, np.float32).reshape(-1, len(names)), strict=True
    )


def read_celeba_attributes(path: Path) -> LabelTable:
    """Parse CelebA's `list_attr_celeba.txt`; -1/1 values become 0/1."""
    text = _read_text(path).splitlines()
    if len(text) < 2:
        raise LatentkitError(f"{path}, line {len(text) + 1}: missing; expected the image count then names")
    try:
        count = int(text[0].strip())
    except ValueError:
        raise LatentkitError(f"{path}, line 1: expected the image count, found {text[0].strip()!r}") from None
    names = text[1].split()
    if not names or len(set(names)) != len(names):
        raise LatentkitError(f"{path}, line 2: expected distinct attribute names")

    rows: dict[str, int] = {}
    lines: list[int] = []
    values: list[bytes] = []  # one 0/1 byte per attribute: CelebA has 202,599 x 40 values
    for line, raw in enumerate(text[2:], start=3):
        fields = raw.split()
        if not fields:
            continue
        if len(fields) != len(names) + 1:
            raise LatentkitError(
                f"{path}, line {line}: expected a filename and {len(names)} values, "
                f"found {len(fields)} fields"
            )
        bad = next((v for v in fields[1:] if v not in ("-1", "1")), None)
        if bad is not None:
            raise LatentkitError(f"{path}, line {line}: attribute values must be -1 or 1, found {bad!r}")
        name = _normalise(fields[0])
        if name in rows:
            raise LatentkitError(f"{path}, line {line}: {name!r} already listed (line {lines[rows[name]]})")
        rows[name] = len(values)
        lines.append(line)
        values.append(bytes(v == "1" for v in fields[1:]))
    if len(values) != count:
        # Usually a truncated download.
        raise LatentkitError(f"{path}, line 1: declares {count} images but the file lists {len(values)}")
    table = np.frombuffer(b"".join(values), dtype=np.uint8).reshape(-1, len(names))
    return LabelTable(path, names, rows, lines, table.astype(np.float32), strict=False)


def _check_labels_match(table: LabelTable, files: list[str]) -> None:
    """Every image needs a row; in a strict table every row also needs an image."""
    if table.strict:
        present = set(files)
        for name, row in table.rows.items():
            if name not in present:
                raise LatentkitError(
                    f"{table.path}, line {table.lines[row]}: {name!r} is not an image in the folder"
                )
    unlabelled = next((name for name in files if name not in table.rows), None)
    if unlabelled is not None:
        raise LatentkitError(f"{table.path}: no row for image {unlabelled!r}; add one or remove the image")


def _labels_for(table: LabelTable, files: list[str]) -> dict[str, np.ndarray]:
    """Label columns for `files` (all present in the table), in order."""
    picked = table.values[np.array([table.rows[name] for name in files], dtype=np.int64)]
    return {column: picked[:, k].copy() for k, column in enumerate(table.names)}
