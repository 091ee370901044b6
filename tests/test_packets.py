"""Packets on disk: comments kept, atomic writes, problems with file and line, the stat cache."""

from __future__ import annotations

import os
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from batty.paths import Paths
from batty.store import packets as store

HUMAN = """# Owned by the auth squad.
id: T-12                  # required
title: Rate-limit logins  # one line
status: todo
priority: 1
# the scope is narrow on purpose
scope: [src/auth/**, tests/test_auth.py]
description: |
  The brief handed to the agent.
  Done when five failed logins lock the account.
"""


def _repo(tmp_path: Path) -> Paths:
    paths = Paths(tmp_path)
    paths.tasks.mkdir(parents=True)
    return paths


def test_save_keeps_comments_order_and_formatting(tmp_path: Path) -> None:
    paths = _repo(tmp_path)
    paths.packet("T-12").write_text(HUMAN)
    p = store.load_all(paths).require("T-12")
    new = store.save(paths, p, {"status": "in-progress", "assignee": "eng-1", "attempt": 1})
    text = paths.packet("T-12").read_text()
    assert text.startswith("# Owned by the auth squad.\nid: T-12                  # required\n")
    assert "# the scope is narrow on purpose\nscope: [src/auth/**, tests/test_auth.py]" in text
    assert "status: in-progress" in text and text.index("status:") < text.index("priority:")
    assert "  Done when five failed logins lock the account.\n" in text
    assert new.status.value == "in-progress" and new.assignee == "eng-1"


comment = st.text(st.characters(whitelist_categories=("L", "N", "Zs"), max_codepoint=0x2FFF),
                  max_size=30).map(lambda s: s.replace("\n", " "))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(c1=comment, c2=comment, prio=st.integers(0, 4), attempt=st.integers(0, 9))
def test_any_packet_with_comments_loads_and_saves_with_its_comments(tmp_path: Path, c1: str, c2: str,
                                                                   prio: int, attempt: int) -> None:
    paths = Paths(tmp_path / f"r{abs(hash((c1, c2, prio, attempt)))}")
    paths.tasks.mkdir(parents=True, exist_ok=True)
    text = f"# {c1}\nid: T-1\ntitle: A task  # {c2}\npriority: {prio}\n"
    paths.packet("T-1").write_text(text)
    p = store.parse_file(paths.packet("T-1"), "board/tasks/T-1.yaml")
    store.save(paths, p, {"attempt": attempt, "status": "in-progress"})
    out = paths.packet("T-1").read_text()
    assert out.startswith(f"# {c1}\n".rstrip() if not c1.strip() else f"# {c1}\n")
    assert f"# {c2}" in out
    again = store.parse_file(paths.packet("T-1"), "board/tasks/T-1.yaml")
    assert (again.priority, again.attempt, again.status.value) == (prio, attempt, "in-progress")


def test_a_broken_packet_is_a_problem_and_the_others_load(tmp_path: Path) -> None:
    paths = _repo(tmp_path)
    paths.packet("T-1").write_text("id: T-1\ntitle: fine\n")
    paths.packet("T-2").write_text("id: T-2\ntitle: [unclosed\n")
    loaded = store.load_all(paths)
    assert set(loaded.by_id) == {"T-1"}
    (problem,) = loaded.problems
    assert problem.file == "board/tasks/T-2.yaml" and problem.line == 2


def test_the_cache_sees_an_edit(tmp_path: Path) -> None:
    paths = _repo(tmp_path)
    f = paths.packet("T-1")
    f.write_text("id: T-1\ntitle: first\n")
    assert store.load_all(paths).require("T-1").title == "first"
    assert (paths.cache / "packets.idx").exists()
    f.write_text("id: T-1\ntitle: second one\n")
    assert store.load_all(paths).require("T-1").title == "second one"
    os.unlink(f)
    assert store.load_all(paths).get("T-1") is None


def test_writes_are_atomic_no_temp_files_left(tmp_path: Path) -> None:
    paths = _repo(tmp_path)
    paths.packet("T-1").write_text("id: T-1\ntitle: x\n")
    p = store.load_all(paths).require("T-1")
    for i in range(5):
        p = store.save(paths, p, {"attempt": i + 1})
    assert sorted(os.listdir(paths.tasks)) == ["T-1.yaml"]


def test_next_id_counts_broken_packets_too(tmp_path: Path) -> None:
    paths = _repo(tmp_path)
    paths.packet("T-1").write_text("id: T-1\ntitle: x\n")
    paths.packet("T-7").write_text("garbage: [\n")
    assert store.next_id(paths) == "T-8"


def test_a_racy_cache_entry_is_never_served(tmp_path: Path) -> None:
    """Two writes inside one timestamp tick, same size, a reused inode: the stat key alone
    cannot tell them apart, so a file changed in the last moments is always read again."""
    paths = _repo(tmp_path)
    f = paths.packet("T-1")
    f.write_text("id: T-1\ntitle: aaaa\n")
    st = f.stat()
    assert store.load_all(paths).require("T-1").title == "aaaa"
    f.write_text("id: T-1\ntitle: bbbb\n")  # the same size, in place: the same inode
    os.utime(f, ns=(st.st_atime_ns, st.st_mtime_ns))  # and the same mtime, as a coarse clock gives
    assert store.load_all(paths).require("T-1").title == "bbbb"
