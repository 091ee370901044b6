"""What lint checks of the config against the machine and the repository (issue 16): the
agents' programs are there, and ``gates.trusted_tests`` covers the tests the runner collects."""

from __future__ import annotations

from typing import TYPE_CHECKING

from batty.errors import InvalidInput

if TYPE_CHECKING:
    from batty.core.config import Config
    from batty.store.paths import Paths

REL = "board/config.yaml"


def _line(paths: Paths, path: tuple) -> int | None:
    from batty.core import yamlx

    try:
        text = yamlx.decode(paths.config.read_bytes(), REL)
        return yamlx.line_of(yamlx.lines(text, REL), path)
    except (OSError, InvalidInput):
        return None


def machine_warnings(paths: Paths, config: Config) -> list[str]:
    """What this machine lacks for the config: an agent's program not on PATH. A warning, not a
    problem of the board: the board is shared by machines (sync), and one without the CLI is a
    machine to fix, not a commit to refuse (issue 16: lint said nothing of it at all)."""
    from batty.agents.schema import missing_binary

    out: list[str] = []
    told: set[str] = set()
    for i, seat in enumerate(config.seats):
        if seat.agent in told:
            continue
        told.add(seat.agent)
        missing = missing_binary(seat.agent, config.agent_entry(seat.agent))
        if missing:
            out.append(str(InvalidInput(f"seat {seat.name}: {missing[0]}", file=REL,
                                        line=_line(paths, ("seats", i, "agent")), valid=missing[1])))
    return out


def config_problems(paths: Paths, config: Config) -> list[str]:
    """The config against the base's tree: gates.trusted_tests (issue 15.3)."""
    problems: list[str] = []
    from batty.workflow.survey import trusted_gaps

    for what, valid in trusted_gaps(paths.root, config):
        problems.append(str(InvalidInput(what, file=REL, line=_line(paths, ("gates", "trusted_tests")),
                                         valid=valid)))
    return problems
