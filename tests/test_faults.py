"""Faults a long job meets: `kill -9` at any moment (inside checkpoint writes too) and a full disk.

A training run killed ten times and resumed each time must trust no damaged checkpoint, lose no more
steps than the checkpoint interval, and, in deterministic mode, end with the very weights of a run
that was never interrupted. A write that fails with ENOSPC must leave no partial or temp file and
reach the user as one `latentkit: error:` line naming the file.
"""

from __future__ import annotations

import errno
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import safetensors.torch
import torch

import latentkit.io
from latentkit.cli import main
from latentkit.provenance import init_keys
from latentkit.train.checkpoint import list_checkpoints, load_checkpoint, save_checkpoint

pytestmark = pytest.mark.slow

STEPS, EVERY = 400, 5
TRAIN = [
    "train", "--dataset", "faces", "--size", "32", "--data-n", "128", "--batch-size", "8", "--ngf", "8",
    "--ndf", "8", "--latent-dim", "8", "--steps", str(STEPS), "--checkpoint-every", str(EVERY),
    "--keep-checkpoints", "2", "--log-every", "1", "--sample-every", "100000", "--deterministic",
    "--no-progress",
]  # fmt: skip
# The same CLI, with every fsync slowed down so that a write is in progress long enough to be killed
# from outside: the temp file is complete on disk but not yet renamed.
SLOW_FSYNC = (
    "import os, sys, time\n"
    "fsync = os.fsync\n"
    "os.fsync = lambda fd: (time.sleep(0.4), fsync(fd))[1]\n"
    "from latentkit.cli import main\n"
    "sys.exit(main(sys.argv[1:]))\n"
)
ENV = {**os.environ, "OMP_NUM_THREADS": "1"}


def start(out: Path, resume: bool, slow_fsync: bool = False) -> subprocess.Popen:
    head = [sys.executable, "-c", SLOW_FSYNC] if slow_fsync else [sys.executable, "-m", "latentkit"]
    args = [*head, *TRAIN, "--out", str(out), *(["--resume"] if resume else [])]
    return subprocess.Popen(args, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def logged(out: Path) -> list[dict]:
    """The log lines that record a training step (a line cut short by a kill is skipped)."""
    rows = []
    path = out / "log.jsonl"
    for line in path.read_text().splitlines() if path.exists() else []:
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            continue
        if "loss_d" in row:
            rows.append(row)
    return rows


def last_step(out: Path) -> int:
    return max((r["step"] for r in logged(out)), default=0)


def wait_until(condition, proc: subprocess.Popen, timeout: float = 120.0, poll: float = 0.02) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert proc.poll() is None, f"the run exited early ({proc.returncode}): {proc.stderr.read()[-2000:]}"
        assert time.monotonic() < deadline, "timed out"
        time.sleep(poll)


def generator_weights(out: Path) -> dict[str, torch.Tensor]:
    (newest, *_) = list_checkpoints(out / "checkpoints")
    tensors = safetensors.torch.load(newest.read_bytes())
    return {k: v for k, v in tensors.items() if k.startswith(("module.G.", "module.G_ema."))}


def test_ten_kill_9s_then_resume_end_with_the_uninterrupted_weights(tmp_path):
    reference = start(tmp_path / "reference", resume=False)  # runs beside the killed one
    out = tmp_path / "run"
    rng = random.Random(10)
    in_writes = {1, 4, 6, 8}  # these rounds are killed while a checkpoint file is being written
    resumed_from = []
    for round_ in range(10):
        before = last_step(out)
        proc = start(out, resume=round_ > 0, slow_fsync=round_ in in_writes)
        wait_until(lambda b=before: last_step(out) > b + 1, proc)  # training (again), past the resume point
        if round_ in in_writes:
            wait_until(lambda: any((out / "checkpoints").glob(".step-*.tmp")), proc, poll=0.005)
        else:
            time.sleep(rng.uniform(0.0, 1.5))
        assert proc.poll() is None, "the run finished before it was killed; raise STEPS"
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        _, err = proc.communicate()
        assert "Traceback" not in err

        # Every checkpoint file on disk is whole (atomic writes): resume has nothing damaged to trust.
        paths = list_checkpoints(out / "checkpoints")
        steps = [load_checkpoint(p).step for p in paths]
        reached = last_step(out)
        if paths:
            assert reached - steps[0] <= EVERY, (
                f"round {round_}: logged {reached}, newest checkpoint {steps[0]}"
            )
        else:
            assert reached < EVERY + 1
        resumed_from.append(steps[0] if steps else 0)

    final = subprocess.run(
        [sys.executable, "-m", "latentkit", *TRAIN, "--out", str(out), "--resume"],
        env=ENV, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert final.returncode == 0, final.stderr[-2000:]
    assert "skipping checkpoint" not in final.stdout  # no damaged checkpoint was ever met
    assert reference.wait(timeout=600) == 0, reference.stderr.read()[-2000:]

    events = [json.loads(x) for x in (out / "log.jsonl").read_text().splitlines()]
    resumes = [e["from_step"] for e in events if e.get("event") == "resume"]
    assert resumes[-1] == resumed_from[-1] and len(resumes) >= 1
    steps = [r["step"] for r in logged(out)]
    assert steps == list(range(1, STEPS + 1))  # each step logged exactly once, none missing
    a, b = generator_weights(out), generator_weights(tmp_path / "reference")
    assert a.keys() == b.keys() and len(a) > 0
    assert all(torch.equal(a[k], b[k]) for k in a), "resumed weights differ from the uninterrupted run"


# --- a full disk --------------------------------------------------------------------------------------


def _enospc(*args, **kwargs):
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


class _FullDiskFile:
    """A file object whose writes fail as on a full disk."""

    def __init__(self, f):
        self._f = f

    def write(self, data):
        self._f.write(data[: len(data) // 2])
        _enospc()

    def __getattr__(self, name):
        return getattr(self._f, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return self._f.__exit__(*exc)


def fill_disk(monkeypatch, where: str, only: str = "") -> None:
    """Make atomic writes whose target path contains `only` fail with ENOSPC at `where`."""

    def targeted(real):
        def call(*args, **kwargs):
            fd_or_path = args[0]
            name = (
                os.readlink(f"/proc/self/fd/{fd_or_path}") if isinstance(fd_or_path, int) else str(fd_or_path)
            )
            if only in name:
                if where == "write":
                    return _FullDiskFile(real(*args, **kwargs))
                _enospc()
            return real(*args, **kwargs)

        return call

    target = {"write": "fdopen", "fsync": "fsync", "replace": "replace"}[where]
    monkeypatch.setattr(latentkit.io.os, target, targeted(getattr(os, target)))
    if where == "write":  # safetensors files are written by its own (Rust) writer, not through fdopen
        real_save_file = safetensors.torch.save_file

        def save_file(tensors, filename, metadata=None):
            if only not in str(filename):
                return real_save_file(tensors, filename, metadata=metadata)
            Path(filename).write_bytes(b"\0" * 100)  # what a full disk leaves: a cut file, then the error
            raise safetensors.SafetensorError(
                f"Error while serializing: I/O error: {os.strerror(errno.ENOSPC)} (os error {errno.ENOSPC})"
            )

        monkeypatch.setattr(safetensors.torch, "save_file", save_file)


def files(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())


@pytest.fixture
def bundle(tmp_path, monkeypatch):
    from latentkit.models import DCGANConfig, build_generator, save_bundle

    init_keys(tmp_path / "home" / "keys")
    monkeypatch.setenv("LATENTKIT_HOME", str(tmp_path / "home"))
    cfg = DCGANConfig(resolution=32, ngf=8, latent_dim=16)
    return save_bundle(tmp_path / "tiny", build_generator(cfg), cfg)


@pytest.mark.parametrize("where", ["write", "fsync", "replace"])
def test_full_disk_during_export_leaves_nothing_and_says_so_in_one_line(
    where, bundle, tmp_path, monkeypatch, capsys
):
    out = tmp_path / "out"
    out.mkdir()
    (out / "seed0000.png").write_bytes(b"an older export")
    fill_disk(monkeypatch, where, only=str(out))
    code = main(["generate", "--model", str(bundle), "--seeds", "0-1", "--out", str(out), "--overwrite"])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and err.startswith("latentkit: error: ") and "Traceback" not in err
    assert str(out / "seed0000.png") in err and os.strerror(errno.ENOSPC) in err
    assert files(out) == ["seed0000.png"] and (out / "seed0000.png").read_bytes() == b"an older export"


@pytest.mark.parametrize("where", ["write", "fsync", "replace"])
def test_full_disk_during_a_checkpoint_stops_training_with_one_line(where, tmp_path, monkeypatch, capsys):
    run = tmp_path / "run"
    fill_disk(monkeypatch, where, only=str(run / "checkpoints"))
    argv = [*TRAIN, "--out", str(run)]
    argv[argv.index(str(STEPS))] = "6"
    argv.remove("--deterministic")  # a process-wide switch; not needed here
    code = main(argv)
    err = capsys.readouterr().err
    assert code == 2, err
    assert err.count("\n") == 1 and err.startswith("latentkit: error: ") and "Traceback" not in err
    assert str(run / "checkpoints" / "step-00000005.safetensors") in err and "No space left" in err
    assert files(run / "checkpoints") == []  # no partial checkpoint, no temp file


def test_full_disk_in_save_checkpoint_keeps_the_older_checkpoints(tmp_path, monkeypatch):
    model = torch.nn.Linear(4, 2)
    save_checkpoint(tmp_path, 1, {"m": model}, {}, {}, keep=3)
    fill_disk(monkeypatch, "fsync", only=str(tmp_path))
    with pytest.raises(latentkit.io.LatentkitError, match=r"step-00000002\.safetensors: cannot write"):
        save_checkpoint(tmp_path, 2, {"m": model}, {}, {}, keep=3)
    assert files(tmp_path) == ["step-00000001.safetensors"]
    assert load_checkpoint(tmp_path / "step-00000001.safetensors").step == 1


def test_full_disk_while_appending_the_log_stops_training_with_one_line_and_no_cut_line(
    tmp_path, monkeypatch, capsys
):
    import latentkit.train.monitor as monitor

    run = tmp_path / "run"
    real_write, calls = os.write, {"n": 0}

    def write(fd, data):
        calls["n"] += 1
        if calls["n"] == 4:  # the 4th log line meets a full disk halfway through
            real_write(fd, bytes(data[: len(data) // 2]))
            _enospc()
        return real_write(fd, data)

    monkeypatch.setattr(monitor.os, "write", write)
    argv = [*TRAIN, "--out", str(run)]
    argv.remove("--deterministic")
    code = main(argv)
    err = capsys.readouterr().err
    assert code == 2, err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert str(run / "log.jsonl") in err and "No space left" in err
    lines = (run / "log.jsonl").read_text().splitlines()
    assert len(lines) == 3 and all(json.loads(line)["step"] >= 0 for line in lines)
