"""Entry point for ``python -m codon_lsp``."""

import sys

from codon_lsp.cli import main

sys.exit(main())
