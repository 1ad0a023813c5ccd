"""`from latentkit.export import export_image`: the one way to write a user-facing image (and
`export_animation` for a GIF/MP4).

A thin re-export of `latentkit.provenance.export`; see there and docs/provenance.md.
"""

from latentkit.provenance.animation import AnimationResult, export_animation
from latentkit.provenance.export import DEFAULT_SIZE, ExportResult, export_image

__all__ = ["DEFAULT_SIZE", "AnimationResult", "ExportResult", "export_animation", "export_image"]
