"""`from latentkit.export import export_image`: the one way to write a user-facing image.

A thin re-export of `latentkit.provenance.export`; see there and docs/provenance.md.
"""

from latentkit.provenance.export import DEFAULT_SIZE, ExportResult, export_image

__all__ = ["DEFAULT_SIZE", "ExportResult", "export_image"]
