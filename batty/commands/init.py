"""batty init: scaffold board/ and .batty/ (SPEC 1). Idempotent; never overwrites a file."""

from __future__ import annotations

from pathlib import Path

import click

from batty.workflow.session import Session

GITIGNORE_LINE = ".batty/"
INBOX = "# Inbox\n\nNothing waits for you.\n"


@click.command()
@click.option("--agent", default=None,
              help="The agent of the seats created (claude, codex, aider, gemini, shell). "
                   "Default: the first agent CLI on PATH that is logged in.")
@click.option("--seats", type=click.IntRange(1, 256), default=1, show_default=True,
              help="How many engineer seats.")
@click.option("--test", "test_cmd", default=None,
              help="The test command of the gate. Default: read from the repository "
                   "(pytest, tox, nox, npm/yarn/pnpm, go, cargo, make).")
@click.pass_obj
def command(app: Session, agent: str | None, seats: int, test_cmd: str | None) -> None:
    """Scaffold board/ and .batty/ in a git repository.

    Reads the repository first: the base branch, the test command, where the tests live (the
    globs of gates.trusted_tests), the agent CLIs on PATH and whether they are logged in. Prints
    what it chose and why; each choice is a line of board/config.yaml marked `init:`.

    Creates board/config.yaml, BOARD.md, INBOX.md and tasks/, and lists .batty/ in .gitignore.
    Files that exist already are left as they are. Commits what it created on the base branch.
    """
    from batty.core import board as boardmod
    from batty.store import atomic, git, locks
    from batty.store.boardgit import commit_board
    from batty.store.paths import find_root

    paths = find_root(app.repo_arg, need_board=False)
    app._paths = paths
    base = git.head_branch(paths.root)
    created: list[str] = []
    for folder in (paths.state, paths.locks):
        folder.mkdir(parents=True, exist_ok=True)
    paths.locks.chmod(0o700)
    with locks.hold(paths.state, "board", cmd="init"):
        want_config = not paths.config.exists()
        config_text = _config_text(app, paths.root, agent, seats, test_cmd) if want_config else ""
        want = {
            paths.config: config_text,
            paths.board_md: boardmod.render([]),
            paths.inbox: INBOX,
            paths.tasks / ".gitkeep": "",
        }
        for path, text in want.items():
            if not path.exists():
                atomic.write_text(path, text)
                created.append(paths.rel(path))
        gitignore = paths.root / ".gitignore"
        lines = gitignore.read_text().splitlines() if gitignore.exists() else []
        if not any(line.strip().rstrip("/") in (".batty", "/.batty") for line in lines):
            atomic.write_text(gitignore, "\n".join([*lines, GITIGNORE_LINE]) + "\n")
            created.append(".gitignore")
    from batty.store.config_file import load

    load(paths)  # the agent named must exist: refuse before committing
    from batty.workflow.doctor import tamper

    if tamper.load(paths) is None:
        tamper.record(paths)  # the baseline doctor's tamper check compares against
    if created:
        commit_board(paths.root, base or "main", ["init"], extra_paths=(".gitignore",) if ".gitignore" in created else ())
        for rel in created:
            app.say(f"created {rel}")
        if paths.rel(paths.config) in created:
            app.say("next: `batty preflight` (will an unattended night work?), `batty task add TITLE`, "
                    "`batty cron install`")
    else:
        app.say("batty is set up here already; nothing changed")
    click.echo(str(paths.root))


def _config_text(app: Session, root: Path, agent: str | None, seats: int,
                 test_cmd: str | None) -> str:
    """The config of this repository, from what it has (issue 16.2): each choice a line with
    its reason, and the same said on stderr."""
    import json

    from batty.workflow.survey import Choice, survey

    found = survey(root, base=None, test=test_cmd, agent=agent)
    for name, logged, reason in found.agents_seen:
        app.say(f"found {name} on PATH, " + (f"logged in ({reason})" if logged else f"not logged in ({reason})"))
    for c in found.choices():
        shown = ", ".join(c.value) if isinstance(c.value, list) else c.value
        app.say(f"chose {c.key}: {shown} ({c.why})")

    def why(c: Choice) -> str:
        return " ".join(str(c.why).split()).replace("{", "(").replace("}", ")")

    name = str(found.agent.value)
    seat_lines = "\n".join(f"  - {{name: eng-{i}, agent: {name}}}" for i in range(1, seats + 1))
    template = (Path(__file__).parent.parent / "templates" / "config.yaml").read_text()
    return template.format(
        base=f"{json.dumps(found.base.value)}  # init: {why(found.base)}",
        seats=seat_lines, agent_why=f"{name}: {why(found.agent)}",
        test=f"{json.dumps(found.test.value)}  # init: {why(found.test)}",
        trusted=f"{json.dumps(found.trusted.value)}  # init: {why(found.trusted)}")
