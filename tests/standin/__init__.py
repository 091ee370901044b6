"""A stand-in model API for running the real agent CLIs in tests (see server.py)."""
