"""Paper presets: the exact networks, optimiser, batch and budget of a published mode-collapse setting.

A preset turns (dataset, pack, steps) into TrainConfig fields; unlike a recipe (recipes.py), which
fills options a user left unset, a preset *is* the paper's setting, for benchmarks that reproduce it.

    pacgan2d        PacGAN's 2D ring and grid (Lin et al. 2018, arXiv:1712.04086, sec. 5.1; code:
                    fjxmlzn/PacGAN, synthetic_data_experiments/2DRing_GAN&PacGAN/{config,pacgan_task}.py).
                    G: 2-D Gaussian noise -> 4 x (Linear 400 without bias, BatchNorm, ReLU) -> Linear 2.
                    D: 3 maxout layers of 200 units x 5 pieces -> Linear 1. All weights N(0, 0.02), biases
                    0. Non-saturating loss, Adam lr 1e-4, beta1 0.8, batch 100 D examples (so 100 x pack
                    points), 100,000 points, 400 epochs of 1,000 iterations = 400,000 steps.
    veegan-stacked  PacGAN's stacked-MNIST run in VEEGAN's setting (PacGAN Table 2; code:
                    stacked_MNIST_experiments/VEEGAN_experiment/{config,model}.py): DCGAN (ngf = ndf = 64,
                    batch norm), z of 100, Adam lr 2e-4, beta1 0.5, batch 64 D examples, 128,000 training
                    images, 50 epochs = 100,000 steps, 26,000 samples scored.

Where latentkit differs from that code (stated, not hidden): updates are sequential (D, then G against
the new D) where blocks' ALI algorithm applied both from one batch, and G makes a packed D's batch in
one pass where the code ran it once per slot (`updates="simultaneous"` and `g_per_slot=True` are the
code's way; benchmarks/mode_collapse.py has them as a method of their own); z is Gaussian in the
DCGAN run where the TensorFlow code drew U(-1, 1) and updated G twice per D step; stacked digits are
32 px from scikit-learn's 8 x 8 digits (`latentkit.data.digits`) instead of 28 px MNIST.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

from latentkit.errors import LatentkitError


@dataclass(frozen=True)
class Preset:
    """One paper's setting: its datasets, budget, batch (in D examples) and every other option."""

    name: str
    datasets: tuple[str, ...]
    steps: int  # the paper's generator iterations
    batch: int  # D examples per batch; a packed D sees batch x pack samples, as PacGAN's code
    eval_samples: int  # samples scored at the end
    options: dict[str, Any] = field(default_factory=dict)  # TrainConfig fields (and "model")

    def config(self, dataset: str | None = None, pack: int = 1, steps: int | None = None) -> dict[str, Any]:
        """TrainConfig fields (a new dict, `model` included) for `dataset` (default: the first),
        PacGAN `pack` and `steps` (default: the paper's)."""
        dataset = dataset or self.datasets[0]
        if dataset not in self.datasets:
            raise LatentkitError(
                f"preset {self.name}: dataset {dataset!r} is not one of {', '.join(self.datasets)}"
            )
        if not isinstance(pack, int) or pack < 1:
            raise LatentkitError(f"preset {self.name}: pack={pack!r} must be a positive integer")
        out = copy.deepcopy(self.options)
        out.update({"dataset": dataset, "steps": steps or self.steps, "batch_size": self.batch * pack})
        out["model"] = {**out.get("model", {}), "pack": pack}
        return out


PRESETS: dict[str, Preset] = {
    p.name: p
    for p in (
        Preset(
            "pacgan2d",
            ("ring", "grid"),
            steps=400_000,
            batch=100,
            eval_samples=2500,
            options={
                "data_n": 100_000, "loss": "ns", "lr_g": 1e-4, "lr_d": 1e-4, "beta1": 0.8, "beta2": 0.999,
                "ema": 0.0,
                "model": {
                    "latent_dim": 2, "hidden": 400, "depth": 4, "g_norm": "batch", "g_bias": "no",
                    "d_hidden": 200, "d_depth": 3, "d_act": "maxout", "maxout_pieces": 5, "d_norm": "none",
                    "init": "normal",
                },
            },
        ),
        Preset(
            "veegan-stacked",
            ("stacked-digits",),
            steps=100_000,
            batch=64,
            eval_samples=26_000,
            options={
                "size": 32, "data_n": 128_000, "loss": "ns", "lr_g": 2e-4, "lr_d": 2e-4, "beta1": 0.5,
                "beta2": 0.999, "ema": 0.0,
                "model": {"kind": "dcgan", "latent_dim": 100, "ngf": 64, "ndf": 64, "g_norm": "batch",
                          "d_norm": "batch"},
            },
        ),
    )
}  # fmt: skip


def preset_config(name: str, dataset: str | None = None, pack: int = 1, steps: int | None = None) -> dict:
    """TrainConfig fields of preset `name` (see `Preset.config`); an unknown name is a `LatentkitError`."""
    if name not in PRESETS:
        raise LatentkitError(f"preset {name!r} is unknown (valid: {', '.join(PRESETS)})")
    return PRESETS[name].config(dataset, pack, steps)
