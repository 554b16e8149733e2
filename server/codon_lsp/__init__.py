"""codon-lsp: a language server that shows the Codon compiler's messages in the editor."""

__version__ = "0.1.0"
