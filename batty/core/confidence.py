"""The merge confidence score (SPEC 8; the parts are documented in docs/gates.md).

It starts at 1 and loses a documented amount for each sign that a person should look first.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from batty.core.globs import matches

DEPENDENCY_FILES = ("pyproject.toml", "setup.py", "setup.cfg", "requirements*.txt", "Pipfile*",
                    "poetry.lock", "uv.lock", "package.json", "package-lock.json", "yarn.lock",
                    "pnpm-lock.yaml", "Cargo.toml", "Cargo.lock", "go.mod", "go.sum", "Gemfile*",
                    "Makefile", "Dockerfile", "*.ini", "tox.ini", ".pre-commit-config.yaml",
                    ".gitattributes", ".gitmodules", ".github/**", ".ci/**", "setup.cfg", "noxfile.py",
                    ".cargo/**")
TEST_FILES = ("tests/**", "test/**", "**/test_*.py", "**/*_test.py", "**/conftest.py", "**/*.test.*",
              "**/*.spec.*")

PER_RETRY, MAX_RETRY = 0.10, 0.30
PER_RESPAWN, MAX_RESPAWN = 0.05, 0.15
BIG_DIFF, HUGE_DIFF = (200, 0.10), (1000, 0.20)
NO_SCOPE = 0.10
TESTS_CHANGED = 0.15
CONFIG_CHANGED = 0.20
OWN_TESTS = 0.05       # a credit: the change brings passing tests of its own (issue 21)
RUNNER_FILES = ("**/conftest.py", "**/pytest.ini", "**/.pytest.ini", "**/pytest.toml", "**/.pytest.toml")
# Each of these alone takes the score under the default threshold (0.7), the own_tests credit
# included (1 - 0.40 + 0.05 = 0.65): a change to the test
# runner's files, to the agents' config or git's, or a compiled file beside its source, is never
# landed on the score alone (issue 15; gatechecks.review finds them).
PERSON_PARTS = {"runner_files": 0.40, "agent_config": 0.40, "git_config": 0.40, "binaries": 0.40}


@dataclass(frozen=True)
class Score:
    score: float
    parts: dict[str, float]


def score(*, attempt: int, respawns: int, lines_changed: int, files: Sequence[str],
          scope: Sequence[str], trusted: Sequence[str], added: Sequence[str] = (), own_tests: int = 0,
          person: Mapping[str, Sequence[str]] | None = None) -> Score:
    """``added``: the files the change adds (a new test file runs apart from the trusted suite,
    so it is no sign by itself; a new runner file is); ``own_tests``: the change's own tests
    that passed in their run at verify; ``person``: what only a person may let through, by part
    (the runner's files, the agents' or git's config, binaries: issue 15)."""
    parts: dict[str, float] = {}
    if attempt > 1:
        parts["retries"] = -min(PER_RETRY * (attempt - 1), MAX_RETRY)
    if respawns:
        parts["respawns"] = -min(PER_RESPAWN * respawns, MAX_RESPAWN)
    if lines_changed > HUGE_DIFF[0]:
        parts["diff_size"] = -HUGE_DIFF[1]
    elif lines_changed > BIG_DIFF[0]:
        parts["diff_size"] = -BIG_DIFF[1]
    if not scope:
        parts["outside_scope"] = -NO_SCOPE  # no scope: nothing bounded what it touched
    else:
        outside = [f for f in files if not matches(f, scope)]
        if outside:  # (the fence refuses these; kept for a task whose scope changed since)
            parts["outside_scope"] = -min(0.05 * len(outside), 0.3)
    new = set(added)
    if any(matches(f, (*TEST_FILES, *trusted)) and (f not in new or matches(f, RUNNER_FILES)) for f in files):
        parts["tests_changed"] = -TESTS_CHANGED
    if any(matches(f, DEPENDENCY_FILES) for f in files):
        parts["config_changed"] = -CONFIG_CHANGED
    if own_tests > 0:
        parts["own_tests"] = OWN_TESTS
    for part, loss in PERSON_PARTS.items():
        if (person or {}).get(part):
            parts[part] = -loss
    total = max(0.0, min(1.0, 1.0 + sum(parts.values())))
    return Score(round(total, 3), {k: round(v, 3) for k, v in parts.items()})
