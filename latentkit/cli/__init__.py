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
packages hold no argparse. A `LatentkitError`, and any OSError or ValueError that reaches this
boundary (a user's path or value refused deeper down), is printed as one line and exits with code 2. The
parsers read the config dataclasses (so torch is imported at start-up); gradio, scikit-learn and the
C2PA library are imported inside the commands that use them.
"""

from __future__ import annotations

import argparse
import sys

import latentkit
from latentkit.cli import attributes, data, directions, edit, editor, interpolate, project, provenance, train
from latentkit.errors import LatentkitError
from latentkit.text import shown

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
        return _user_error(str(e))
    except OSError as e:  # a path the user gave: too long, a folder in the way, a full disk, ...
        return _user_error(f"{e.filename}: {e.strerror or e}" if e.filename else str(e.strerror or e))
    except ValueError as e:  # a value the library refused below the checks of its own callers
        return _user_error(str(e))
    except KeyboardInterrupt:
        print("latentkit: interrupted", file=sys.stderr)
        return 130
    return code or 0


def _user_error(message: str) -> int:
    """Print `message` as the one line of a user error and return exit code 2. Whitespace runs fold
    to one space; other control characters (from names read in files) are shown escaped."""
    print(f"latentkit: error: {shown(' '.join(message.split()))}", file=sys.stderr)
    return 2


__all__ = ["build_parser", "main"]
