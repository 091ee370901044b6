"""Moved to :mod:`batty.usage` (the wrapper reads usage without importing the agents package)."""

from batty.usage import *  # noqa: F403
from batty.usage import DEFAULT_PRICES, context_exhausted, parse  # noqa: F401
