"""Mixed precision: bf16 autocast steps and resumes exactly; auto follows its rule; bf16 without
native support is refused with one line."""

from __future__ import annotations

import json

import pytest
import safetensors.torch
import torch

from latentkit.cli import main
from latentkit.errors import LatentkitError
from latentkit.models import DCGANConfig, MLPConfig
from latentkit.models.bundle import load_bundle
from latentkit.train import precision as precision_module
from latentkit.train.config import TrainConfig
from latentkit.train.loop import train
from latentkit.train.objective import build_objective
from latentkit.train.precision import resolve_precision

CPU = torch.device("cpu")
TINY = {
    "dataset": "faces", "size": 32, "data_n": 64, "batch_size": 4, "log_every": 1, "loss": "rpgan",
    "r1_gamma": 0.1, "r2_gamma": 0.1, "sample_every": 1000, "checkpoint_every": 1000,
    "model": {"kind": "resnet", "latent_dim": 8, "width": 8, "group_size": 8},
}  # fmt: skip


@pytest.fixture
def native_bf16(monkeypatch):
    """Pretend the CPU has AVX512-BF16 (autocast to bf16 runs on any CPU, emulated where it has none)."""
    monkeypatch.setattr(precision_module, "cpu_has_bf16", lambda: True)


def weights(run) -> dict[str, torch.Tensor]:
    (ckpt,) = sorted((run / "checkpoints").glob("step-*.safetensors"))[-1:]
    return {k: v for k, v in safetensors.torch.load(ckpt.read_bytes()).items() if k.startswith("module.")}


def test_auto_is_bf16_only_for_image_models_where_bf16_is_native(monkeypatch):
    monkeypatch.setattr(precision_module, "cpu_has_bf16", lambda: True)
    assert resolve_precision("auto", CPU, makes_images=True).name == "bf16"
    assert resolve_precision("auto", CPU, makes_images=False).name == "fp32"
    monkeypatch.setattr(precision_module, "cpu_has_bf16", lambda: False)
    assert resolve_precision("auto", CPU, makes_images=True).name == "fp32"
    assert resolve_precision("fp32", CPU, makes_images=True).name == "fp32"


def test_bf16_without_native_support_and_fp16_on_a_cpu_are_refused(monkeypatch):
    monkeypatch.setattr(precision_module, "cpu_has_bf16", lambda: False)
    with pytest.raises(LatentkitError, match=r"bf16: this CPU \(no AVX512-BF16 or AMX\) has no native bf16"):
        resolve_precision("bf16", CPU, makes_images=True)
    with pytest.raises(LatentkitError, match="fp16 needs a CUDA GPU"):
        resolve_precision("fp16", CPU, makes_images=True)
    with pytest.raises(LatentkitError, match="precision='half' is not one of auto, fp32, bf16, fp16"):
        TrainConfig(precision="half").validate()


def test_the_refusal_is_one_line_and_exit_2_before_any_work(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(precision_module, "cpu_has_bf16", lambda: False)
    out = tmp_path / "run"
    args = [
        "train",
        "--size",
        "32",
        "--data-n",
        "16",
        "--steps",
        "1",
        "--precision",
        "bf16",
        "--out",
        str(out),
    ]
    assert main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--precision bf16: this CPU" in err[0]
    assert not (out / "checkpoints").exists()


def test_cpu_bf16_detection_reads_the_cpu_flags(monkeypatch, tmp_path):
    real_read = precision_module.Path.read_text

    def cpuinfo(flags: str):
        def read_text(self, *a, **kw):
            return (
                f"processor : 0\nflags : fpu sse2 {flags}\n"
                if str(self) == "/proc/cpuinfo"
                else real_read(self)
            )

        return read_text

    monkeypatch.setattr(precision_module.Path, "read_text", cpuinfo("avx512f avx512_bf16"))
    assert precision_module.cpu_has_bf16()
    monkeypatch.setattr(precision_module.Path, "read_text", cpuinfo("avx512f amx_bf16 amx_tile"))
    assert precision_module.cpu_has_bf16()
    monkeypatch.setattr(precision_module.Path, "read_text", cpuinfo("avx512f avx512_vnni"))
    assert not precision_module.cpu_has_bf16()


def test_a_bf16_step_runs_under_autocast_keeps_float32_weights_and_records_its_precision(
    native_bf16, tmp_path
):
    assert build_objective(TrainConfig(precision="bf16"), DCGANConfig(d_norm="none")).precision.name == "bf16"
    assert build_objective(TrainConfig(precision="bf16"), MLPConfig()).precision.name == "bf16"
    bf16 = train(TrainConfig(**TINY, steps=2, precision="bf16"), tmp_path / "bf16", progress=False)
    fp32 = train(TrainConfig(**TINY, steps=2, precision="fp32"), tmp_path / "fp32", progress=False)
    a, b = weights(bf16), weights(fp32)
    assert all(t.dtype == torch.float32 for t in a.values())
    changed = [k for k in a if not torch.equal(a[k], b[k])]
    assert changed  # autocast really ran: bf16 rounding moved the weights
    assert max((a[k] - b[k]).abs().max().item() for k in a) < 1e-2  # ... but only by rounding
    events = [json.loads(line) for line in (bf16 / "log.jsonl").read_text().splitlines()]
    assert [e["precision"] for e in events if e.get("event") == "precision"] == ["bf16"]
    assert load_bundle(bf16).meta["run"]["precision"] == "bf16"


def test_a_bf16_resume_is_bit_identical_to_an_uninterrupted_bf16_run(native_bf16, tmp_path):
    full = train(TrainConfig(**TINY, steps=4, precision="bf16"), tmp_path / "full", progress=False)
    half = train(TrainConfig(**TINY, steps=2, precision="bf16"), tmp_path / "half", progress=False)
    train(TrainConfig(**TINY, steps=4, precision="bf16"), half, resume=True, progress=False)
    a, b = weights(full), weights(half)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
