"""Shared test settings: no analytics, one thread per process, caches in a temp folder."""

import os
import subprocess
import sys

os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
# One thread per process: tests run beside other processes on 2 cores, and oversubscribed
# OpenMP threads spin. Set before torch is imported; the trainer honours it too.
os.environ.setdefault("OMP_NUM_THREADS", "1")

import pytest
import torch

torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def _private_cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("LATENTKIT_CACHE", str(tmp_path_factory.getbasetemp() / "cache"))


def run_cli(*args: str, cwd=None, timeout: float = 300) -> subprocess.CompletedProcess:
    """Run `python -m latentkit ARGS` as a user would; returns the finished process (text output)."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "GRADIO_ANALYTICS_ENABLED": "False"}
    return subprocess.run(
        [sys.executable, "-m", "latentkit", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=timeout,
    )


@pytest.fixture
def cli():
    return run_cli


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    """One LATENTKIT_HOME (and so one local signing identity) for a whole module, then restored."""
    from latentkit.provenance.keys import init_keys

    path = tmp_path_factory.mktemp("home")
    init_keys(path / "keys")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("LATENTKIT_HOME", str(path))
        yield path
