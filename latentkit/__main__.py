"""`python -m latentkit ...` (and `torchrun -m latentkit train ...`) runs the CLI."""

import sys

from latentkit.cli import main

sys.exit(main())
