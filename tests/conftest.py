"""Shared test settings: no analytics, one thread per process, caches in a temp folder."""

import os
import subprocess
import sys

import pytest
import torch

os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
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
