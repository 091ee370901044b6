"""Packets on disk: comments kept, atomic writes, problems with file and line, the stat cache."""

from __future__ import annotations

import os
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from batty.store import packets as store
from batty.store.paths import Paths

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


def test_the_cache_sees_an_edit(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(store, "RACY_NS", 0)  # files written just now count as settled
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


def test_an_entry_read_within_the_racy_window_is_not_cached(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Cached, it would be served once the window passed, though a second write within the same
    timestamp tick (the same stat key) may have changed the file after it was read."""
    from batty.store.packet_cache import Cache

    paths = _repo(tmp_path)
    paths.packet("T-1").write_text("id: T-1\ntitle: aaaa\n")
    assert store.load_all(paths).require("T-1").title == "aaaa"
    assert "T-1.yaml" not in Cache(paths.cache, paths.tasks).entries
    monkeypatch.setattr(store, "RACY_NS", 0)  # later: the file is settled
    assert store.load_all(paths).require("T-1").title == "aaaa"
    assert "T-1.yaml" in Cache(paths.cache, paths.tasks).entries
    served = store.load_all(paths).require("T-1")
    assert type(served).__name__ == "LazyPacket" and served.title == "aaaa"


def test_a_cached_packet_is_the_packet_parsed(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Every field and to_dict(): a LazyPacket reads as the parsed packet does."""
    monkeypatch.setattr(store, "RACY_NS", 0)
    paths = _repo(tmp_path)
    paths.packet("T-12").write_text(HUMAN + """depends_on: [T-3]
assignee: eng-1
attempt: 2
script: [echo one, echo two]
verification: {attempt: 2, sha: abc, result: pass}
merge: {sha: def, parts: {base: 1.0}}
escalations: [{kind: stall, at: '2026-01-01T00:00:00+00:00'}]
feedback: |
  try again
created: '2026-01-01T00:00:00+00:00'
""")
    paths.packet("T-3").write_text("id: T-3\ntitle: three\nstatus: done\n")
    parsed = store.parse_file(paths.packet("T-12"), "board/tasks/T-12.yaml")
    store.load_all(paths)  # fills the cache
    cached = store.load_all(paths).require("T-12")
    assert type(cached).__name__ == "LazyPacket"
    assert cached.to_dict() == parsed.to_dict()
    assert list(cached.to_dict()) == list(parsed.to_dict())
    from dataclasses import fields

    for f in fields(parsed):
        assert getattr(cached, f.name) == getattr(parsed, f.name), f.name


def test_a_reload_reads_only_what_changed(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(store, "RACY_NS", 0)
    paths = _repo(tmp_path)
    for i in (1, 2, 3):
        paths.packet(f"T-{i}").write_text(f"id: T-{i}\ntitle: task {i}\n")
    first = store.load_all(paths)
    paths.packet("T-2").write_text("id: T-2\ntitle: task two, edited\n")
    os.unlink(paths.packet("T-3"))
    paths.packet("T-4").write_text("id: T-4\ntitle: [unclosed\n")
    again = store.load_all(paths, previous=first)
    assert again.by_id["T-1"] is first.by_id["T-1"]
    assert again.by_id["T-2"].title == "task two, edited"
    assert set(again.by_id) == {"T-1", "T-2"} and again.invalid_ids == {"T-4"}
    assert [p.file for p in again.problems] == ["board/tasks/T-4.yaml"]


def test_a_reload_never_keeps_a_racy_read(tmp_path: Path) -> None:
    paths = _repo(tmp_path)
    f = paths.packet("T-1")
    f.write_text("id: T-1\ntitle: aaaa\n")
    st = f.stat()
    first = store.load_all(paths)
    f.write_text("id: T-1\ntitle: bbbb\n")
    os.utime(f, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert store.load_all(paths, previous=first).require("T-1").title == "bbbb"


def test_cycles_found_once_are_found_again_from_the_cache(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(store, "RACY_NS", 0)
    paths = _repo(tmp_path)
    paths.packet("T-1").write_text("id: T-1\ntitle: one\ndepends_on: [T-2]\n")
    paths.packet("T-2").write_text("id: T-2\ntitle: two\ndepends_on: [T-1]\n")
    paths.packet("T-3").write_text("id: T-3\ntitle: three\n")
    for _ in range(3):  # parsed, then from the cache, then from the cache's stored cycles
        loaded = store.load_all(paths)
        assert set(loaded.by_id) == {"T-3"} and loaded.invalid_ids == {"T-1", "T-2"}
        assert any("dependency cycle" in p.what for p in loaded.problems)
    paths.packet("T-2").write_text("id: T-2\ntitle: two, no longer waiting\n")
    assert set(store.load_all(paths).by_id) == {"T-1", "T-2", "T-3"}
