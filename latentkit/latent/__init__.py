"""Latent-space tools: sampling (more to come: interpolation, directions, editing)."""

from latentkit.latent.sampling import parse_seeds, sample_latent

__all__ = ["parse_seeds", "sample_latent"]
