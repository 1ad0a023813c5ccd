"""Schedules of a hyper-parameter over a run (R1/R2's gamma, the learning rates): a factor in (0, 1]
by which its base value is multiplied.

    constant   1 at every step
    cosine     half a cosine from 1 at step 0 to 0.1 at the run's last step, as R3GAN's presets decay
               gamma from its base value to a tenth (Huang et al. 2024; brownvc/R3GAN train.py,
               `cosine_decay_with_warmup` without warm-up or hold; R3GAN decays its learning rate too)

The schedule spans the run's `steps`; a resumed run that raises `--steps` stretches the rest of it.
"""

from __future__ import annotations

import math

SCHEDULES = ("constant", "cosine")
FINAL = 0.1  # the cosine schedule ends at a tenth of the base value


def schedule_factor(name: str, step: int, total: int) -> float:
    """The factor of schedule `name` at `step` (0-based) of a run of `total` steps."""
    if name == "constant":
        return 1.0
    if name == "cosine":
        t = min(max(step / max(total - 1, 1), 0.0), 1.0)
        return FINAL + (1.0 - FINAL) * 0.5 * (1.0 + math.cos(math.pi * t))
    raise ValueError(f"schedule {name!r} is unknown (valid: {', '.join(SCHEDULES)})")
