"""What `batty task lint` checks of board/config.yaml beyond its schema (issue 15, item 8): bad
config fails closed. An empty file, a key written twice (YAML keeps the last one silently), a
base branch that does not exist."""

from __future__ import annotations

from typing import TYPE_CHECKING

from batty.errors import InvalidInput

if TYPE_CHECKING:
    from batty.core.config import Config
    from batty.store.paths import Paths

REL = "board/config.yaml"


def config_problems(paths: Paths, cfg: Config, *, repo_checks: bool = True) -> list[str]:
    """``repo_checks``: also that the base branch exists (the pre-commit hook lints the staged
    board/ in a scratch folder, which is no repository: a commit, not a repository)."""
    from batty.core import yamlx
    from batty.store import git

    problems: list[str] = []
    try:
        text = yamlx.decode(paths.config.read_bytes(), REL)
    except (OSError, InvalidInput) as e:
        return [str(e)]
    if not any(line.strip() and not line.lstrip().startswith("#") for line in text.splitlines()):
        problems.append(str(InvalidInput("the config is empty: every setting would be a default",
                                         file=REL, line=1, valid="run `batty init`, or write base: and seats:")))
    try:
        yamlx.lines(text, REL, strict=True)
    except InvalidInput as e:
        problems.append(str(e))
    if repo_checks and git.rev(paths.root, f"refs/heads/{cfg.base}") is None:
        line = yamlx.line_of(yamlx.lines(text, REL), ("base",))
        problems.append(str(InvalidInput(f"base branch {cfg.base!r} does not exist", file=REL, line=line,
                                         valid="the name of an existing branch (git branch --list)")))
    return problems
