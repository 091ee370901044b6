"""One module per command or noun; each exposes `command`, a thin click command."""
