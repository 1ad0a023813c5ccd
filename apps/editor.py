"""The latentkit editor, runnable from a checkout: `python apps/editor.py --model BUNDLE`.

A thin launcher: the app itself is `latentkit.app` (inside the package, so `latentkit editor`
works from a regular `pip install .` too). `build_app` and `launch` are re-exported here.
"""

from __future__ import annotations

import argparse
import sys

from latentkit.app import build_app, launch
from latentkit.cli.editor import editor_arguments, run_editor
from latentkit.errors import LatentkitError

__all__ = ["build_app", "launch", "main"]


def main(argv: list[str] | None = None) -> int:
    """`python apps/editor.py [--model BUNDLE] [--host H] [--port P] [--share]`, like `latentkit editor`."""
    args = editor_arguments(argparse.ArgumentParser(prog="apps/editor.py", description=__doc__)).parse_args(
        argv
    )
    try:
        return run_editor(args)
    except LatentkitError as e:
        print(f"editor: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
