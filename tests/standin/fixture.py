"""The ``standin`` pytest fixture: a stand-in model server per test.

Enable with ``pytest_plugins = ["tests.standin.fixture"]`` in tests/conftest.py.

    def test_x(standin):
        standin.edit(worktree, "notes.txt", "hello\\n")   # script the edit, all wires
        env = {"ANTHROPIC_BASE_URL": standin.url, "OPENAI_BASE_URL": standin.openai_url, ...}
        ...
        assert standin.model_requests("anthropic")
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.standin.edits import script_context_exhausted, script_edit
from tests.standin.server import Reply, Request, Rule, Standin

__all__ = ["Reply", "Request", "Rule", "Standin", "StandinFixture", "standin"]

API_KEY = "sk-standin-not-a-secret"


class StandinFixture(Standin):
    """The server plus the scripted conversations and the environment that points at it."""

    def edit(self, root: Path, rel: str, text: str,
             commit_message: str = "standin: edit the file") -> None:
        script_edit(self, root, rel, text, commit_message)

    def context_exhausted(self) -> None:
        script_context_exhausted(self)

    def environ(self) -> dict[str, str]:
        """Variables that point every CLI at this server (pass them as build_launch's environ)."""
        return {
            "ANTHROPIC_BASE_URL": self.url,
            "ANTHROPIC_API_KEY": API_KEY,
            "OPENAI_BASE_URL": self.openai_url,
            "OPENAI_API_BASE": self.openai_url,  # Aider (litellm) reads this spelling
            "OPENAI_API_KEY": API_KEY,
            "GOOGLE_GEMINI_BASE_URL": self.url,
            "GEMINI_API_KEY": API_KEY,
        }

    def log(self) -> list[dict[str, object]]:
        """A summary of every request, for assertion messages."""
        with self._lock:
            return [r.summary() for r in self.requests]


@pytest.fixture
def standin() -> Iterator[StandinFixture]:
    server = StandinFixture().start()
    try:
        yield server
    finally:
        server.stop()
