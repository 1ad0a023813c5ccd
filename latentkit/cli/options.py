"""Option groups shared by several commands, each defined once.

add_model(p)      --model BUNDLE (a bundle folder, a run folder holding bundle/, or a shipped name)
add_output(p)     --out PATH and --overwrite
add_signing(p)    --sign-cert / --sign-key (default: the local identity, `latentkit keys init`)
add_progress(p)   --no-progress
add_export(p)     everything an image export takes: --size, --overwrite, signing, progress
names(text)       "a, b,c" -> ["a", "b", "c"]
"""

from __future__ import annotations

import argparse
import sys

from latentkit.data import BUILTIN
from latentkit.models.render import DEFAULT_SIZE
from latentkit.provenance.imagefile import FORMATS, IMAGE_FORMATS

DATASET_HELP = f"{', '.join(BUILTIN)}, or a folder of images"
MODEL_HELP = "bundle folder, run folder holding bundle/, or a shipped model's name (e.g. faces64)"


def names(text: str) -> list[str]:
    """A comma-separated list of names, blanks dropped."""
    return [n.strip() for n in text.split(",") if n.strip()]


class _Deprecated(argparse.Action):
    """An old spelling of a flag: does what the new one does and says so in one line on stderr."""

    def __init__(self, option_strings, dest, new: str, append: bool = False, **kw) -> None:
        self.new, self.append = new, append
        super().__init__(option_strings, dest, **kw)

    def __call__(self, parser, namespace, values, option_string=None) -> None:
        print(f"latentkit: warning: {option_string} is deprecated; use {self.new}", file=sys.stderr)
        if self.append:
            values = [*(getattr(namespace, self.dest) or []), values]
        setattr(namespace, self.dest, values)


def add_deprecated_alias(
    p: argparse.ArgumentParser, old: str, new: str, dest: str, append: bool = False
) -> None:
    """Accept `old` as a hidden alias of the flag `new` (which stores into `dest`)."""
    p.add_argument(old, dest=dest, action=_Deprecated, new=new, append=append, help=argparse.SUPPRESS)


def add_model(p: argparse.ArgumentParser, required: bool = True, help: str = MODEL_HELP) -> None:
    p.add_argument("--model", required=required, help=help)


def add_output(p: argparse.ArgumentParser, help: str, required: bool = True) -> None:
    p.add_argument("--out", required=required, help=help)
    add_overwrite(p)


def add_overwrite(p: argparse.ArgumentParser, help: str = "replace an existing --out") -> None:
    p.add_argument("--overwrite", action="store_true", help=help)


def add_signing(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--sign-cert", help="PEM certificate chain (leaf first) to sign with instead of the local one"
    )
    p.add_argument("--sign-key", help="PEM private key of --sign-cert")


def add_progress(p: argparse.ArgumentParser) -> None:
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def add_image_format(p: argparse.ArgumentParser) -> None:
    p.add_argument("--format", choices=IMAGE_FORMATS, default="png")
    p.add_argument("--quality", type=int, help="JPEG/WebP quality (default 95/90)")


def add_size(p: argparse.ArgumentParser) -> None:
    p.add_argument("--size", type=int, default=DEFAULT_SIZE, help="output side in pixels (bicubic upscale)")


def image_suffix(fmt: str) -> str:
    """The file suffix of exports in image format `fmt` ("jpeg" -> ".jpg")."""
    return FORMATS[fmt].suffix


def add_export(p: argparse.ArgumentParser) -> None:
    """--size, --overwrite, signing and --no-progress: the options of every exporting command."""
    add_size(p)
    add_overwrite(p, "replace existing files")
    add_signing(p)
    add_progress(p)


def signing_identity(args: argparse.Namespace):
    """The identity named by --sign-cert/--sign-key, else the local one."""
    from latentkit.provenance.keys import load_identity

    return load_identity(args.sign_cert, args.sign_key)
