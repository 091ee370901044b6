"""Scenario fixtures: every agent a scenario started is stopped at its end, whatever happened."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from batty import runner


@pytest.fixture(autouse=True)
def reaper(tmp_path: Path) -> Iterator[None]:
    yield
    for run_json in tmp_path.rglob("run.json"):
        runner.stop(run_json.parent, grace_s=1)
