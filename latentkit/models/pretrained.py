"""The models shipped with latentkit, found by name wherever latentkit is installed.

    bundle = latentkit.load_pretrained("faces64")      # or `--model faces64` on the command line

A source checkout keeps them in `<repo>/pretrained/<name>/`; a wheel installs the same folders as
package data under `latentkit/pretrained/<name>/` (pyproject maps one to the other). A bundle path
that is not an existing folder but is a shipped name resolves here, so every `--model` flag takes
either a folder or a name.
"""

from __future__ import annotations

from pathlib import Path

from latentkit.errors import LatentkitError

DEFAULT = "faces64"
_PACKAGE_DIR = Path(__file__).resolve().parent.parent / "pretrained"  # installed wheel
_CHECKOUT_DIR = Path(__file__).resolve().parent.parent.parent / "pretrained"  # source checkout


def pretrained_root() -> Path | None:
    """The folder holding the shipped models, or None if this installation has none."""
    for root in (_PACKAGE_DIR, _CHECKOUT_DIR):
        if root.is_dir() and any((p / "config.json").is_file() for p in root.iterdir() if p.is_dir()):
            return root
    return None


def list_pretrained() -> list[str]:
    """Names of the shipped models, sorted."""
    root = pretrained_root()
    if root is None:
        return []
    return sorted(p.name for p in root.iterdir() if (p / "config.json").is_file())


def pretrained_path(name: str = DEFAULT) -> Path:
    """The bundle folder of the shipped model `name`; `LatentkitError` listing the known names."""
    names = list_pretrained()
    if name not in names:
        known = ", ".join(names) or "none in this installation"
        raise LatentkitError(f"pretrained model {name!r} not found; shipped models: {known}")
    return pretrained_root() / name


def default_pretrained_path() -> Path:
    """The bundle folder of the default shipped model (faces64, else the first one shipped)."""
    names = list_pretrained()
    if not names:
        raise LatentkitError(
            "no pretrained model in this installation; pass --model BUNDLE (bundle or run folder)"
        )
    return pretrained_path(DEFAULT if DEFAULT in names else names[0])


def load_pretrained(name: str = DEFAULT, device: str = "cpu"):
    """Load the shipped model `name` as a `Bundle` (see `latentkit.models.load_bundle`)."""
    from latentkit.models.bundle import load_bundle

    return load_bundle(pretrained_path(name), device)
