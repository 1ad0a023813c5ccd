"""Watching the two-player game: the JSONL run log, health warnings, and the curves figure.

Every `log_every` steps one JSON object is appended to RUN/log.jsonl:

    step, time (s since the run started, summed over resumes), loss_d, loss_g,
    d_real / d_fake (mean D(x) and D(G(z)) as probabilities), js (JS divergence estimate in nats,
    from V(D, G) = -log 4 + 2 JS at the optimal D), grad_norm_d, grad_norm_g, img_per_s

plus event lines ({"step", "event": "warning" | "samples" | "checkpoint" | "resume", ...}).
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path

import torch

from latentkit.errors import LatentkitError
from latentkit.io import write_bytes

# D(G(z)) below this for `VANISHING_STEPS` consecutive logged steps: G's gradient is vanishing
# under the minimax loss, and D is winning outright under the others.
VANISHING_D_FAKE = 0.02
VANISHING_STEPS = 20
# Sample diversity (mean pairwise distance of a fixed batch) below this fraction of the data's.
COLLAPSE_RATIO = 0.3


class RunLog:
    """Append-only JSONL log of a run: each line is written whole or not at all, unbuffered, so a
    crash loses nothing logged and a full disk never leaves a cut line."""

    def __init__(
        self, path: str | os.PathLike, resume_step: int | None = None, watch_d_fake: bool = True
    ) -> None:
        """`watch_d_fake`: warn when D(G(z)) stays near 0; only for losses whose D outputs are
        probabilities (`GANLoss.probabilities`)."""
        self.path = Path(path)
        self.watch_d_fake = watch_d_fake
        if resume_step is not None and self.path.exists():
            self._truncate_after(resume_step)
        try:
            self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o666)
        except OSError as e:
            raise LatentkitError(f"{self.path}: cannot write ({e.strerror or e})") from None
        self._low_d_fake = 0

    def _truncate_after(self, step: int) -> None:
        """Drop lines logged after `step`: a resumed run recomputes them (atomic rewrite)."""
        kept = []
        for line in self.path.read_text(encoding="utf-8").splitlines():
            try:
                if json.loads(line).get("step", 0) <= step:
                    kept.append(line)
            except json.JSONDecodeError:
                continue  # a line cut short by a kill
        write_bytes(self.path, "".join(x + "\n" for x in kept).encode())

    def write(self, record: dict) -> None:
        """Append one JSON line; on a write error (a full disk) cut back what was written and raise
        `LatentkitError` naming the file."""
        data = (json.dumps(record) + "\n").encode()
        end = os.lseek(self._fd, 0, os.SEEK_END)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(self._fd, view) :]
        except OSError as e:
            with contextlib.suppress(OSError):
                os.ftruncate(self._fd, end)
            raise LatentkitError(
                f"{self.path}: cannot write ({e.strerror or e}); the run stopped at step "
                f"{record.get('step')} and its newest checkpoint is intact (free space, then --resume)"
            ) from None

    def check_health(self, record: dict) -> str | None:
        """Return (and log) a warning when D(G(z)) has stayed near 0 for a while."""
        if not self.watch_d_fake:
            return None
        self._low_d_fake = self._low_d_fake + 1 if record["d_fake"] < VANISHING_D_FAKE else 0
        if self._low_d_fake == VANISHING_STEPS:
            msg = (
                f"D(G(z)) has stayed below {VANISHING_D_FAKE} for {VANISHING_STEPS} log lines: the "
                "discriminator wins outright and G's gradients vanish (try the ns loss, a lower lr_d, "
                "or spectral norm in D)"
            )
            self.write({"step": record["step"], "event": "warning", "kind": "vanishing", "message": msg})
            return msg
        return None

    def close(self) -> None:
        os.close(self._fd)


def diversity(x: torch.Tensor) -> float:
    """Mean pairwise L2 distance between the samples of a batch (N, ...), per dimension (RMS)."""
    flat = x.flatten(1).float()
    d = torch.cdist(flat, flat)
    n = len(flat)
    return (d.sum() / (n * (n - 1)) / flat.shape[1] ** 0.5).item()


def read_log(run: str | os.PathLike) -> list[dict]:
    """The metric lines of RUN/log.jsonl (events skipped)."""
    path = Path(run) / "log.jsonl"
    if not path.exists():
        raise LatentkitError(f"{path}: no training log here (is {run} a run directory?)")
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            continue
        if "event" not in row and "loss_d" in row:
            rows.append(row)
    if not rows:
        raise LatentkitError(f"{path}: the log has no metric lines yet")
    return rows


def plot_run(run: str | os.PathLike, out: str | os.PathLike | None = None) -> Path:
    """Render losses, D outputs, the JS estimate and throughput of a run to a PNG (default RUN/curves.png)."""
    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = read_log(run)
    steps = [r["step"] for r in rows]
    fig, axes = plt.subplots(2, 2, figsize=(10, 6.5), constrained_layout=True)
    panels = [
        (axes[0, 0], ("loss_d", "loss_g"), "losses"),
        (axes[0, 1], ("d_real", "d_fake"), "D(x) and D(G(z))"),
        (axes[1, 0], ("js",), "JS estimate (nats; max log 2)"),
        (axes[1, 1], ("grad_norm_d", "grad_norm_g"), "gradient norms"),
    ]
    for ax, keys, title in panels:
        for key in keys:
            ax.plot(steps, [r.get(key, float("nan")) for r in rows], label=key, lw=1)
        ax.set_title(title)
        ax.set_xlabel("step")
        ax.legend()
        ax.grid(alpha=0.3)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    plt.close(fig)
    path = Path(out) if out else Path(run) / "curves.png"
    write_bytes(path, buf.getvalue())
    return path
