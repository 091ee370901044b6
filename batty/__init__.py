"""batty: run a fleet of AI coding agents unattended and safely, from inside a git repository."""

__version__ = "0.1.0"
