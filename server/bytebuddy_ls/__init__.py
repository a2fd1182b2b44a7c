"""ByteBuddy LS: an LSP server serving Hugging Face models to any editor."""

__version__ = "0.1.0"
