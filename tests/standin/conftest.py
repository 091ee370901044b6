"""The ``standin`` fixture for these tests, until tests/conftest.py loads it as a plugin."""

from tests.standin.fixture import standin  # noqa: F401
