"""codon-lsp: a language server that shows Codon's messages in the editor."""

__version__ = "0.1.0"
