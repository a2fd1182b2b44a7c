"""One module per LSP capability; ``server.py`` wires them together."""
