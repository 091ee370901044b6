"""batty init: scaffold board/ and .batty/ (SPEC 1). Idempotent; never overwrites a file."""

from __future__ import annotations

from pathlib import Path

import click

from batty.workflow.session import Session

GITIGNORE_LINE = ".batty/"
INBOX = "# Inbox\n\nNothing waits for you.\n"


@click.command()
@click.option("--agent", default="claude", show_default=True,
              help="The agent of the seats created (claude, codex, aider, gemini, shell).")
@click.option("--seats", type=click.IntRange(1, 256), default=1, show_default=True,
              help="How many engineer seats.")
@click.option("--test", "test_cmd", default="pytest -q", show_default=True,
              help="The test command of the gate.")
@click.pass_obj
def command(app: Session, agent: str, seats: int, test_cmd: str) -> None:
    """Scaffold board/ and .batty/ in a git repository.

    Creates board/config.yaml, BOARD.md, INBOX.md and tasks/, and lists .batty/ in .gitignore.
    Files that exist already are left as they are. Commits what it created on the base branch.
    """
    from batty.core import board as boardmod
    from batty.store import atomic, git, locks
    from batty.store.boardgit import commit_board
    from batty.store.paths import find_root

    paths = find_root(app.repo_arg, need_board=False)
    app._paths = paths
    base = git.head_branch(paths.root) or "main"
    created: list[str] = []
    for folder in (paths.state, paths.locks):
        folder.mkdir(parents=True, exist_ok=True)
    paths.locks.chmod(0o700)
    with locks.hold(paths.state, "board", cmd="init"):
        seat_lines = "\n".join(f"  - {{name: eng-{i}, agent: {agent}}}" for i in range(1, seats + 1))
        import json

        template = (Path(__file__).parent.parent / "templates" / "config.yaml").read_text()
        want = {
            paths.config: template.format(base=base, seats=seat_lines, test=json.dumps(test_cmd)),
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
        commit_board(paths.root, base, ["init"], extra_paths=(".gitignore",) if ".gitignore" in created else ())
        for rel in created:
            app.say(f"created {rel}")
    else:
        app.say("batty is set up here already; nothing changed")
    click.echo(str(paths.root))
