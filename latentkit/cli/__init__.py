"""The `latentkit` command line: one module per command group, the work itself in the library.

    data.py         data preview
    train.py        train, plot, bundle, eval
    attributes.py   attributes train (the attribute predictor)
    directions.py   directions fit / report
    edit.py         edit (batch edits and recipes)
    interpolate.py  interpolate (PNG frames, GIF, MP4)
    project.py      project, encoder train (real images)
    provenance.py   generate, verify, reproduce, keys init
    editor.py       editor (the Gradio app)
    options.py      option groups shared by several commands

Each module has `add_commands(subparsers)`; each command is a small function of the parsed
arguments returning an exit code (0, or 1 for "checked and not verified / not identical"). Library
packages hold no argparse. A `LatentkitError` is printed as one line and exits with code 2. Heavy
imports (torch, gradio, the C2PA library) happen inside the command functions so `--help` is fast.
"""

from __future__ import annotations

import argparse
import sys

import latentkit
from latentkit.cli import attributes, data, directions, edit, editor, interpolate, project, provenance, train
from latentkit.errors import LatentkitError

GROUPS = (data, train, attributes, directions, edit, interpolate, project, provenance, editor)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every subcommand."""
    p = argparse.ArgumentParser(prog="latentkit", description=latentkit.__doc__)
    p.add_argument("--version", action="version", version=f"latentkit {latentkit.__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for group in GROUPS:
        group.add_commands(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `latentkit` console script; returns the exit code."""
    args = build_parser().parse_args(argv)
    try:
        code = args.func(args)
    except LatentkitError as e:
        print(f"latentkit: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("latentkit: interrupted", file=sys.stderr)
        return 130
    return code or 0


__all__ = ["build_parser", "main"]
