"""`latentkit editor [--model BUNDLE] [--host 127.0.0.1] [--port 7860] [--share]`: the Gradio editor.

gradio is imported only when the command runs. `python apps/editor.py` takes the same options
(`editor_arguments`).
"""

from __future__ import annotations

import argparse

from latentkit.errors import LatentkitError


def run_editor(args: argparse.Namespace) -> int:
    """Serve the editor until interrupted (Ctrl-C)."""
    from latentkit.app import launch
    from latentkit.models.pretrained import default_pretrained_path

    if not 1 <= args.port <= 65535:
        raise LatentkitError(f"--port {args.port}: not a TCP port; use 1-65535")
    model = args.model or default_pretrained_path()
    try:
        launch(model, host=args.host, port=args.port, share=args.share, directions_file=args.directions_file)
    except OSError as e:  # gradio: "Cannot find empty port in range: 7860-7860", or cannot bind --host
        why = str(e).splitlines()[0] if str(e) else e.__class__.__name__
        raise LatentkitError(f"--host {args.host} --port {args.port}: cannot serve there ({why})") from None
    return 0


def editor_arguments(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """The editor's options, shared by `latentkit editor` and `python apps/editor.py`."""
    p.add_argument("--model", help="bundle or run folder (default: the shipped pretrained model)")
    p.add_argument("--host", default="127.0.0.1", help="address to bind; 0.0.0.0 exposes it to the network")
    p.add_argument("--port", type=int, default=7860, help="TCP port, 1-65535 (default 7860)")
    p.add_argument("--share", action="store_true", help="also open a public gradio.live link")
    p.add_argument(
        "--directions-file", help="where custom directions are saved (default: your latentkit folder)"
    )
    p.set_defaults(func=run_editor)
    return p


def add_commands(sub: argparse._SubParsersAction) -> None:
    """Add the `editor` subcommand to `sub`."""
    editor_arguments(
        sub.add_parser("editor", help="open the latent editor in the browser (a local Gradio app)")
    )
