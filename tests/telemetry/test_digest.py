"""batty digest: the week in figures, markdown and self-contained html (issue 7)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from tests.telemetry import story
from tests.telemetry.helpers import batty, make_repo, write

NOW = {"BATTY_NOW": "2026-11-23T12:00:00Z"}


def repo(tmp_path: Path) -> Path:
    root = make_repo(tmp_path / "r")
    write(root / ".batty" / "events.jsonl", story.events())
    return root


def table(md: str, heading: str) -> list[list[str]]:
    section = md.split(f"## {heading}")[1].split("\n## ")[0]
    return [[c.strip() for c in line.strip("|").split("|")] for line in section.splitlines()
            if line.startswith("| ") and not line.startswith("| ---")][1:]


def test_the_week_in_markdown(tmp_path: Path) -> None:
    res = batty(repo(tmp_path), "digest", env=NOW)
    assert res.returncode == 0, res.stderr
    md = res.stdout
    assert md.startswith("# batty digest: 2026-11-17 to 2026-11-23 (UTC)")
    head = dict((r[0], r[1]) for r in [[c.strip() for c in line.strip("|").split("|")]
                                      for line in md.split("## ")[0].splitlines() if line.startswith("| ")])
    assert head["Tasks spawned"] == "6" and head["Tasks completed end-to-end"] == "3"
    assert head["Tasks failed"] == "1" and head["Tasks in flight"] == "1"
    assert head["Success rate"] == "75.0%" and head["Escalations"] == "1"
    assert head["Self-healing actions"] == "2" and head["Cost"] == "$0.75"
    days = table(md, "By day")
    assert [d[0] for d in days] == [f"2026-11-{d}" for d in range(17, 24)]  # every day, empty ones too
    assert {d[0]: d[1] for d in days}["2026-11-21"] == "2"
    assert table(md, "By seat") == [["eng-1", "2", "2", "$0.50"], ["eng-2", "1", "2", "$0.25"]]
    slowest = table(md, "Slowest tasks")
    assert [r[0] for r in slowest] == ["T-3", "T-2", "T-1"]  # dispatched 20th 09:00; done 21st 13:00, 12:00, 20th
    assert slowest[0][1] == "1d04h"
    assert table(md, "Most retried tasks") == [["T-2", "2", "done"]]


def test_a_window_with_nothing_in_it(tmp_path: Path) -> None:
    res = batty(repo(tmp_path), "digest", "--since", "1d", env={"BATTY_NOW": "2026-12-15T12:00:00Z"})
    assert res.returncode == 0, res.stderr
    assert "| Tasks completed end-to-end | 0 |" in res.stdout
    assert table(res.stdout, "By day") == [["2026-12-15", "0", "0", "0", "-"]]
    assert "## Slowest tasks\n\nNone." in res.stdout


def test_the_html_is_one_page_with_inline_svg_and_no_network(tmp_path: Path) -> None:
    res = batty(repo(tmp_path), "digest", "--format", "html", env=NOW)
    assert res.returncode == 0, res.stderr
    page = res.stdout
    assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")
    assert page.count("<svg") == 3 and page.count("<rect") > 10
    assert "<script" not in page and "<link" not in page and "src=" not in page
    assert re.findall(r"https?://[^\"' ]+", page.replace("http://www.w3.org/2000/svg", "")) == []
    assert "Tasks completed per day" in page and "<td>eng-1</td>" in page
    # the page parses as XML-ish html: every svg closes
    assert page.count("<svg") == page.count("</svg>")


def test_the_cron_path_imports_neither_sqlite_utils_nor_datasette() -> None:
    code = ("import sys, batty.cli\n"
            "from batty.cli import cli\n"
            "import click\n"
            "ctx = click.Context(cli)\n"
            "for name in ('log', 'trace', 'stats', 'digest', 'telemetry'):\n"
            "    cli.get_command(ctx, name)\n"
            "bad = [m for m in ('sqlite_utils', 'datasette', 'tabulate') if m in sys.modules]\n"
            "print(','.join(bad))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == ""


def test_every_command_has_help(tmp_path: Path) -> None:
    root = make_repo(tmp_path / "r")
    for args in (["log"], ["trace"], ["stats"], ["digest"], ["telemetry"], ["telemetry", "load"],
                 ["telemetry", "serve"]):
        res = batty(root, *args, "--help")
        assert res.returncode == 0 and len(res.stdout.split("\n\n")[1]) > 20, args
