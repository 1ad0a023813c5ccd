"""Mixed precision of a run (`--precision auto|fp32|bf16|fp16`).

    fp32   everything in float32
    bf16   G's and D's forward passes under `torch.autocast(..., torch.bfloat16)`: on CUDA, and on CPUs
           that compute bf16 natively (AVX512-BF16 or AMX; elsewhere oneDNN emulates it, slower
           than fp32, so it is refused)
    fp16   CUDA only: autocast to float16 with one GradScaler per player (float16's range is too
           narrow for unscaled gradients); for GPUs without bf16

`auto` is bf16 where it is native (a CUDA GPU with bf16, or a CPU with AVX512-BF16/AMX) and only
for image models: the 2D toy models are too small to gain and their modes (std 0.01 around radius
1) are finer than bf16's 8-bit mantissa (steps of 0.0078 near 1). Everywhere else `auto` is fp32.

Weights, optimiser states, losses and penalty norms stay float32: the logits are cast to float32
before the loss, and input gradients to float32 before their squared norms. The run records the
precision it used (an event in log.jsonl, the checkpoint and the bundle's `run` entry); a resume is
bit-identical for the same precision on the same machine.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import torch

from latentkit.errors import LatentkitError

PRECISIONS = ("auto", "fp32", "bf16", "fp16")
DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}
NATIVE_BF16_FLAGS = ("avx512_bf16", "amx_bf16")


def cpu_has_bf16() -> bool:
    """Whether this CPU computes bf16 natively: AVX512-BF16 or AMX-BF16 (Linux /proc/cpuinfo flags,
    else PyTorch's own check)."""
    try:
        text = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        text = ""
    flags = {f for line in text.splitlines() if line.startswith("flags") for f in line.split()}
    if flags:
        return any(f in flags for f in NATIVE_BF16_FLAGS)
    checks = [getattr(torch.cpu, n, None) for n in ("_is_avx512_bf16_supported", "_is_amx_tile_supported")]
    return any(check() for check in checks if check is not None)


def cuda_has_bf16(device: torch.device) -> bool:
    return device.type == "cuda" and torch.cuda.is_bf16_supported()


class Precision:
    """A resolved precision: `name` is fp32, bf16 or fp16; `autocast()` wraps forward passes;
    `backward_step(loss, opt)` runs backward, `average` (the gradient all-reduce) and the step."""

    def __init__(self, name: str, device_type: str = "cpu") -> None:
        self.name, self.device_type = name, device_type
        self.scalers: dict[str, torch.amp.GradScaler] = {}
        if name == "fp16":
            self.scalers = {p: torch.amp.GradScaler(device_type) for p in ("D", "G")}

    def __repr__(self) -> str:
        return f"Precision({self.name!r}, {self.device_type!r})"

    @contextlib.contextmanager
    def autocast(self) -> Iterator[None]:
        if self.name == "fp32":
            yield
            return
        with torch.autocast(self.device_type, dtype=DTYPES[self.name]):
            yield

    def backward_step(self, player: str, loss: torch.Tensor, opt: torch.optim.Optimizer, average) -> None:
        """loss.backward(), then `average()` of the gradients, then opt.step() (scaled under fp16)."""
        scaler = self.scalers.get(player)
        if scaler is None:
            loss.backward()
            average()
            opt.step()
            return
        scaler.scale(loss).backward()
        average()
        scaler.step(opt)
        scaler.update()

    def state_dict(self) -> dict:
        """The GradScalers' states (JSON-able; empty unless fp16), for the checkpoint."""
        return {p: s.state_dict() for p, s in self.scalers.items()}

    def load_state_dict(self, state: dict) -> None:
        for p, s in self.scalers.items():
            if p in state:
                s.load_state_dict(state[p])


def resolve_precision(requested: str, device: torch.device, makes_images: bool) -> Precision:
    """The precision a run uses for `requested` on `device`; `LatentkitError` when it cannot run there."""
    if requested not in PRECISIONS:
        raise LatentkitError(f"train config: precision={requested!r} is not one of {', '.join(PRECISIONS)}")
    native_bf16 = cuda_has_bf16(device) or (device.type == "cpu" and cpu_has_bf16())
    if requested == "auto":
        return Precision("bf16" if native_bf16 and makes_images else "fp32", device.type)
    if requested == "bf16" and not native_bf16:
        where = "this GPU" if device.type == "cuda" else "this CPU (no AVX512-BF16 or AMX)"
        hint = "use --precision fp16" if device.type == "cuda" else "use --precision fp32 or auto"
        raise LatentkitError(f"--precision bf16: {where} has no native bf16; {hint}")
    if requested == "fp16" and device.type != "cuda":
        raise LatentkitError("--precision fp16 needs a CUDA GPU; on a CPU use --precision bf16, fp32 or auto")
    return Precision(requested, device.type)
