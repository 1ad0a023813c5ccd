"""latentkit: train GANs, find directions in their latent space, edit, and export with provenance."""

from latentkit.errors import LatentkitError

__version__ = "0.1.0"

__all__ = ["LatentkitError", "__version__"]
