"""Training: losses and regularisers, the objective that owns D's and G's updates, and the loop."""
