"""Data sources: the procedural faces, 2D mixtures, digits, and folders of images.

`load_dataset(name, ...)` is the one entry point the CLI and the trainer use; each source also has
its own function with its own options.
"""

from __future__ import annotations

from pathlib import Path

from latentkit.data.base import Dataset
from latentkit.errors import LatentkitError

BUILTIN = ("faces", "ring", "grid", "digits", "stacked-digits")


def load_dataset(name: str, size: int = 64, n: int | None = None, seed: int = 0, **options) -> Dataset:
    """Load a built-in dataset by name, or a folder of images by path.

    Args:
        name: one of `BUILTIN`, or a path to a folder of images (optionally with labels.csv or
            CelebA's layout).
        size: image side in pixels (ignored by the 2D mixtures).
        n: number of samples (procedural sources); None means the source's default.
        seed: seed of procedural sources; same seed -> identical data.
        options: passed to the source's own loader (e.g. glasses_age_correlation for faces).
    """
    if name == "faces":
        from latentkit.data.faces import load_faces

        return load_faces(size=size, n=n or 10_000, seed=seed, **options)
    if name in ("ring", "grid"):
        from latentkit.data.mixtures import load_mixture

        return load_mixture(name, n=n or 100_000, seed=seed, **options)
    if name in ("digits", "stacked-digits"):
        from latentkit.data.digits import load_digits_dataset

        return load_digits_dataset(size=size, stacked=name == "stacked-digits", n=n, seed=seed, **options)
    path = Path(name).expanduser()
    if path.is_dir():
        from latentkit.data.folder import load_folder

        return load_folder(path, size=size, **options)
    raise LatentkitError(
        f"dataset {name!r}: not a built-in dataset ({', '.join(BUILTIN)}) nor an existing folder"
    )


__all__ = ["BUILTIN", "Dataset", "load_dataset"]
