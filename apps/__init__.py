"""Runnable apps of the repository; their code lives in the `latentkit` package (see latentkit.app)."""
