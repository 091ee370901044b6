"""Fixtures of the telemetry tests (shared helpers are in helpers.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.telemetry.helpers import Server, make_repo


@pytest.fixture
def trepo(tmp_path: Path) -> Path:
    """A minimal batty repository in UTC with an empty .batty/."""
    return make_repo(tmp_path / "repo")


@pytest.fixture
def serve() -> Iterator[type[Server]]:
    """Start ``batty telemetry serve`` with ``serve(root, *args)``; every server is stopped after."""
    started: list[Server] = []

    def start(root: Path, *args: str) -> Server:
        server = Server(root, *args)
        started.append(server)
        return server

    yield start  # type: ignore[misc]
    for server in started:
        server.stop()
