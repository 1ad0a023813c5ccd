"""latentkit: train GANs, find directions in their latent space, edit, and export with provenance."""

from latentkit.errors import LatentkitError

__version__ = "0.1.0"


def load_pretrained(name: str = "faces64", device: str = "cpu"):
    """The shipped model `name` as a loaded `Bundle` (see `latentkit.models.pretrained`)."""
    from latentkit.models.pretrained import load_pretrained as load

    return load(name, device)


__all__ = ["LatentkitError", "__version__", "load_pretrained"]
