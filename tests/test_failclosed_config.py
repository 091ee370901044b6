"""Issue 15, item 8: bad config fails closed, in one line, fast."""

from __future__ import annotations

from pathlib import Path

import pytest

from batty.store.paths import Paths
from tests.conftest import git, run_batty

BOMB = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 9)}]\n" for i in range(8))


def set_config(repo: Paths, text: str) -> None:
    repo.config.write_text(text)
    git(repo.root, "commit", "-qam", "config", check=False)


def one_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("batty: ") and "Traceback" not in err, err
    return lines[0]


@pytest.mark.parametrize(("edit", "says"), [
    (('  test: "pytest -q"', '  test: ""'), "gates.test is blank"),
    (('  test: "pytest -q"', "  test: '   '"), "gates.test is blank"),
    (("  test_timeout_s: 1800", "  test_timeout_s: 0"), "gates.test_timeout_s must be at least 1"),
    (("  stall_after_s: 600", "  stall_after_s: 0"), "health.stall_after_s must be at least 1"),
])
def test_a_config_that_would_pass_everything_is_refused(repo: Paths, edit: tuple[str, str], says: str) -> None:
    text = repo.config.read_text()
    assert edit[0] in text
    set_config(repo, text.replace(edit[0], edit[1]))
    res = run_batty(repo.root, "status")
    assert res.code == 1 and says in one_line(res.err)
    assert "board/config.yaml:" in res.err


def test_an_alias_bomb_in_a_packet_is_refused_in_one_line(repo: Paths) -> None:
    (repo.tasks / "T-1.yaml").write_text("id: T-1\ntitle: laughs\nstatus: todo\n" + BOMB)
    res = run_batty(repo.root, "task", "lint")
    assert res.code == 1
    assert "board/tasks/T-1.yaml:4: an anchor (&name or *name) is not allowed here" in res.err


def test_an_alias_in_the_config_is_refused(repo: Paths) -> None:
    set_config(repo, repo.config.read_text() + "x: &x 1\n")
    res = run_batty(repo.root, "status")
    assert res.code == 1 and "is not allowed here" in one_line(res.err)


def test_lint_finds_an_empty_config_a_duplicate_key_and_a_missing_base(repo: Paths) -> None:
    text = repo.config.read_text()
    set_config(repo, text.replace("base: main", "base: trunk") + "base: trunk\n")
    res = run_batty(repo.root, "task", "lint")
    assert res.code == 1
    assert "duplicate key 'base'" in res.err
    assert "base branch 'trunk' does not exist" in res.err
    set_config(repo, "# nothing\n")
    res = run_batty(repo.root, "task", "lint")
    assert res.code == 1 and "the config is empty" in res.err


def test_globs_and_ids_are_not_fooled_by_a_trailing_newline() -> None:
    from batty.core.globs import matches
    from batty.core.ids import ID_RE, SEAT_RE

    assert not ID_RE.match("T-7\n") and not SEAT_RE.match("eng-1\n")
    assert matches("board/tasks/T-7\n.yaml", ["board/**"])
    assert matches("a\nb/conftest.py", ["**/conftest.py"])
    assert not matches("src/x.py\n", ["src/*.py"])


def test_links_resolve_through_every_hop() -> None:
    from batty.core.fencepaths import resolve

    links = {"src/a/l1": "..", "src/a/l2": "l1/..", "src/a/l3": "l2/..", "src/a/leak": "l3/etc/passwd"}
    assert resolve("src/a/l1", links) == "src"
    assert resolve("src/a/l2", links) == ""
    assert resolve("src/a/leak", links) is None
    assert resolve("x", {"x": "y", "y": "x"}) is None  # a loop
    assert resolve("x", {"x": "/etc/passwd"}) is None


def test_the_gate_runs_in_safe_path_mode(tmp_path: Path) -> None:
    from batty.workflow.gate import run_tests

    (tmp_path / "pytest.py").write_text("print('1 passed')\n")
    (tmp_path / "json.py").write_text("raise SystemExit(0)\n")
    import sys

    run = run_tests(tmp_path, f"{sys.executable} -c 'import sys, json; assert sys.flags.safe_path' "
                    f"&& {sys.executable} -m pytest --version", timeout_s=60, log_path=tmp_path / "log")
    assert run.passed, run.output_tail
    assert "1 passed" not in (tmp_path / "log").read_text()


def test_control_characters_are_shown_escaped(repo: Paths) -> None:
    """A title holding an escape sequence (written by an agent's planner, or by hand as "\\e")
    and an escalation's text holding one are shown escaped in BOARD.md, INBOX.md and the terminal."""
    (repo.tasks / "T-1.yaml").write_text('id: T-1\ntitle: "red \\e[31m alert"\nstatus: todo\n')
    git(repo.root, "add", "-A")
    git(repo.root, "commit", "-qm", "a task")
    res = run_batty(repo.root, "reconcile")
    assert res.code == 0, res.err
    board = repo.board_md.read_text()
    assert "\x1b" not in board and "\r" not in board and "red \\x1b[31m alert" in board
    res = run_batty(repo.root, "task", "list")
    assert "\x1b" not in res.out and "\\x1b[31m" in res.out
    res = run_batty(repo.root, "board")
    assert "\x1b" not in res.out and "\\x1b[31m" in res.out


def test_an_escalation_text_is_escaped_in_the_inbox() -> None:
    from batty.core.inbox import render

    text = render([{"id": "E-1", "at": "2026-12-07T00:00:00+00:00", "reason": "x\x1b[2J", "state": "open",
                    "text": "agent said \x1b[2J\rdone\nsecond line", "tasks": ["T-1"]}])
    assert "\x1b" not in text and "\r" not in text
    assert "agent said \\x1b[2J\\x0ddone\nsecond line" in text
