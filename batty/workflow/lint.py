"""All problems at once: packets (strict), the board, the config."""

from __future__ import annotations

from batty.errors import InvalidInput
from batty.store.paths import Paths


def lint_all(paths: Paths, *, repo_checks: bool = True, warnings: list[str] | None = None) -> list[str]:
    """``repo_checks``: also check the config against the base's tree (gates.trusted_tests); the
    pre-commit hook lints a commit, not a repository. ``warnings``: where to put what this
    machine lacks (an agent's program), which is no problem of the board."""
    from batty.core import board as boardmod
    from batty.core import yamlx
    from batty.store import packets as store
    from batty.store.config_file import load

    problems: list[str] = []
    packets = store.load_all(paths, strict=True, use_cache=False)
    problems += [str(p) for p in packets.problems]
    for p in packets:
        for dep in p.depends_on:
            if dep not in packets.by_id and dep not in packets.invalid_ids:
                problems.append(str(InvalidInput(f"{p.id} depends on {dep}, which does not exist",
                                                 file=f"board/tasks/{p.id}.yaml",
                                                 valid="an existing task id")))
    try:
        config = load(paths)
    except InvalidInput as e:
        problems.append(str(e))
    else:
        if repo_checks:
            from batty.workflow.lint_repo import config_problems, machine_warnings

            problems += config_problems(paths, config)
            if warnings is not None:
                warnings += machine_warnings(paths, config)
        from batty.workflow.configlint import config_problems as fail_closed

        problems += fail_closed(paths, config, repo_checks=repo_checks)  # empty, duplicate keys, no base branch (issue 15)
    try:
        text = yamlx.decode(paths.board_md.read_bytes(), "board/BOARD.md")
        parsed = boardmod.parse(text)
        for line, what, valid in parsed.problems:
            problems.append(str(InvalidInput(what, file="board/BOARD.md", line=line, valid=valid)))
        known = ", ".join(name for _, name in boardmod.COLUMNS)
        for col in parsed.columns:
            if col.status is None:
                problems.append(str(InvalidInput(f"unknown column {col.name!r} (left alone)",
                                                 file="board/BOARD.md", line=col.line,
                                                 valid=f"batty's columns are {known}")))
    except FileNotFoundError:
        pass
    except InvalidInput as e:
        problems.append(str(e))
    return problems
