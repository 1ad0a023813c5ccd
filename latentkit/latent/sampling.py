"""Drawing latents from seeds: the one place that turns a seed into z.

`sample_latent(seed, dim)` is what `latentkit generate`, the editor and the app all call, so seed 3
means the same face everywhere, and a manifest's seed can be re-drawn exactly.
"""

from __future__ import annotations

import numpy as np
import torch

from latentkit.errors import LatentkitError

MAX_SEED = 2**63 - 1
MAX_SEEDS = 100_000


def sample_latent(seed: int, dim: int) -> np.ndarray:
    """z ~ N(0, I): a (dim,) float32 array drawn from `torch.Generator().manual_seed(seed)`.

    Torch's CPU generator gives the same numbers on every platform, unlike the global RNG state
    that other code may have advanced.
    """
    if not 0 <= seed <= MAX_SEED:
        raise LatentkitError(f"seed {seed}: must be between 0 and {MAX_SEED}")
    if dim < 1:
        raise LatentkitError(f"latent dim {dim}: must be at least 1")
    g = torch.Generator().manual_seed(int(seed))
    return torch.randn(dim, generator=g, dtype=torch.float32).numpy()


def parse_seeds(text: str) -> list[int]:
    """Parse "0-15", "1,5,9" or a mix such as "0-3,7" into a list of seeds, in the order given.

    A seed given twice ("1,1", "0-3,2") is an error: its second image would replace the first."""
    seeds: list[int] = []
    for part in text.replace(" ", "").split(","):
        lo, sep, hi = part.partition("-")
        try:
            start = int(lo)
            stop = int(hi) if sep else start
        except ValueError:
            raise LatentkitError(f"--seeds {text!r}: {part!r} is not a seed or a range like 0-15") from None
        if stop < start:
            raise LatentkitError(f"--seeds {text!r}: range {part!r} runs backwards")
        if stop > MAX_SEED:
            raise LatentkitError(f"--seeds {text!r}: seeds must be at most {MAX_SEED}")
        if len(seeds) + stop - start + 1 > MAX_SEEDS:
            raise LatentkitError(f"--seeds {text!r}: more than {MAX_SEEDS} seeds")
        seeds.extend(range(start, stop + 1))
    if len(set(seeds)) != len(seeds):
        seen: set[int] = set()
        twice = next(s for s in seeds if s in seen or seen.add(s))
        raise LatentkitError(f"--seeds {text!r}: seed {twice} is given twice")
    return seeds
