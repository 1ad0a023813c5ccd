"""A regular (non-editable) install carries the whole package, the app and the shipped models."""

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    setuptools = pytest.importorskip("setuptools")
    if int(setuptools.__version__.split(".")[0]) < 68:
        pytest.skip("building the wheel offline needs setuptools >= 68 in the venv")
    out = tmp_path_factory.mktemp("wheel")
    cmd = [
        sys.executable,
        "-m",
        "pip",
        "wheel",
        str(ROOT),
        "--no-deps",
        "--no-build-isolation",
        "-q",
        "-w",
        str(out),
    ]
    subprocess.run(cmd, check=True, capture_output=True, timeout=300, cwd=out)
    (found,) = out.glob("latentkit-*.whl")
    return found


def test_wheel_holds_every_module_and_the_shipped_models(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    modules = {p.relative_to(ROOT).as_posix() for p in (ROOT / "latentkit").rglob("*.py")}
    assert modules <= names, sorted(modules - names)
    for model in (p for p in (ROOT / "pretrained").iterdir() if (p / "config.json").is_file()):
        for f in ("config.json", "generator.safetensors", "directions.json"):
            assert f"latentkit/pretrained/{model.name}/{f}" in names


def test_installed_wheel_loads_pretrained_and_builds_the_app(wheel, tmp_path):
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    code = (
        "import latentkit, latentkit.app.editor;"
        "from latentkit.models.pretrained import list_pretrained;"
        "b = latentkit.load_pretrained(list_pretrained()[0]);"
        "print(latentkit.__file__); print(b.path)"
    )
    env = {**os.environ, "PYTHONPATH": str(site), "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    module, bundle = proc.stdout.split()
    assert Path(module).is_relative_to(site) and Path(bundle).is_relative_to(
        site / "latentkit" / "pretrained"
    )
