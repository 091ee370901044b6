"""State that scales with what changed (issue 13): git's index says which packet files changed,
and a packet edited in place by any editor is still seen.

Real files in real git repositories; the racy window (2 s) is the real one, so each test waits
for its files to settle where it matters: an entry read while its file may still change within
one timestamp tick is never trusted, which would hide what these tests are about.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from batty.store import packet_scan
from batty.store import packets as store
from batty.store.paths import Paths
from tests.conftest import git

SETTLE_S = 2.2  # past the racy window (store.RACY_NS)


def packet(i: int, title: str | None = None, status: str = "todo") -> str:
    return f"id: T-{i}\ntitle: {title or f'task {i:03d}'}\nstatus: {status}\npriority: 2\n"


@pytest.fixture
def board(git_repo: Path, monkeypatch: pytest.MonkeyPatch) -> Paths:
    """20 committed packets, settled, read with git's scan (a board this small is read by a stat
    of each file unless told otherwise: test_a_small_board_is_read_without_git)."""
    monkeypatch.setattr(packet_scan, "SCAN_FROM", 0)
    paths = Paths(git_repo)
    paths.tasks.mkdir(parents=True)
    for i in range(1, 21):
        paths.packet(f"T-{i}").write_text(packet(i))
    git(git_repo, "add", "board")
    git(git_repo, "commit", "-q", "-m", "20 tasks")
    time.sleep(SETTLE_S)
    # git smudges an entry written within its index's own timestamp (racy-git); a `git status`
    # (a person's, or batty's at the end of a run) records the settled stats
    git(git_repo, "status", "--porcelain")
    return paths


def loaded(paths: Paths) -> tuple[store.Packets, dict[str, int]]:
    """A load as a new process does it, counting its stats and parses of packet files."""
    counts = {"stat": 0, "parse": 0}
    real_stat, real_parse = os.stat, store.parse_file

    def counting_stat(path, *a, **kw):  # type: ignore[no-untyped-def]
        if str(path).endswith(".yaml"):
            counts["stat"] += 1
        return real_stat(path, *a, **kw)

    def counting_parse(*a, **kw):  # type: ignore[no-untyped-def]
        counts["parse"] += 1
        return real_parse(*a, **kw)

    store._texts.clear()  # a new process remembers no text
    os.supports_dir_fd.add(counting_stat)  # stats relative to the folder, as with os.stat
    os.stat, store.parse_file = counting_stat, counting_parse
    try:
        return store.load_all(paths), counts
    finally:
        os.stat, store.parse_file = real_stat, real_parse
        os.supports_dir_fd.discard(counting_stat)


def test_a_load_of_unchanged_packets_stats_none_of_them(board: Paths) -> None:
    first, counts = loaded(board)
    assert counts["parse"] == 20 and len(first) == 20
    again, counts = loaded(board)
    assert counts == {"stat": 0, "parse": 0}  # git vouched for every file
    assert again.version is not None and again.version == first.version
    version, problems, _ = store.quick(board)
    assert version == first.version and problems == []


def test_edits_in_place_adds_and_removes_are_seen(board: Paths) -> None:
    first, _ = loaded(board)
    # an edit that keeps the size, in place (the same inode), as an editor writing over the file
    f1 = board.packet("T-1")
    f1.write_text(f1.read_text().replace("task 001", "TASK 001"))
    # an edit by a tool that puts the mtime back (the size kept too): only ctime moves
    f2 = board.packet("T-2")
    before = f2.stat()
    f2.write_text(f2.read_text().replace("task 002", "done 002"))
    os.utime(f2, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert f2.stat().st_mtime_ns == before.st_mtime_ns and f2.stat().st_size == before.st_size
    # one packet removed, one added, one edited through a rename (as vim and sed -i write)
    board.packet("T-3").unlink()
    board.packet("T-21").write_text(packet(21))
    tmp = board.tasks / ".T-4.yaml.swp"
    tmp.write_text(packet(4, "task four, renamed in"))
    os.replace(tmp, board.packet("T-4"))
    time.sleep(SETTLE_S)  # settled: only git and the stats can tell now

    assert store.quick(board)[0] is None
    now, counts = loaded(board)
    assert now.require("T-1").title == "TASK 001"
    assert now.require("T-2").title == "done 002"
    assert now.get("T-3") is None
    assert now.require("T-21").title == "task 021"
    assert now.require("T-4").title == "task four, renamed in"
    assert counts["parse"] == 4  # what changed, not what exists
    assert now.version is not None and now.version != first.version
    # and the next load trusts git again for all of them
    again, counts = loaded(board)
    assert counts["parse"] == 0 and again.version == now.version
    assert {p.id: p.title for p in again} == {p.id: p.title for p in now}


def test_a_commit_of_the_edits_keeps_the_cache(board: Paths) -> None:
    loaded(board)
    f = board.packet("T-5")
    f.write_text(packet(5, "task five, edited"))
    time.sleep(SETTLE_S)
    now, counts = loaded(board)
    assert counts["parse"] == 1 and now.require("T-5").title == "task five, edited"
    git(board.root, "commit", "-q", "-am", "an edit")  # HEAD's tree of board/tasks moves
    again, counts = loaded(board)
    assert counts["parse"] == 0 and again.require("T-5").title == "task five, edited"


def test_a_symlinked_packet_is_never_vouched_for_by_git(board: Paths) -> None:
    """git tracks a link, not what it points to: an edit there moves nothing git looks at."""
    outside = board.root / "elsewhere.yaml"
    outside.write_text(packet(30))
    os.symlink(outside, board.packet("T-30"))
    git(board.root, "add", "board")
    git(board.root, "commit", "-q", "-m", "a link")
    time.sleep(SETTLE_S)
    assert loaded(board)[0].require("T-30").title == "task 030"
    outside.write_text(packet(30, "edited behind the link"))
    time.sleep(SETTLE_S)
    assert store.quick(board)[0] is None
    assert loaded(board)[0].require("T-30").title == "edited behind the link"


def test_a_packet_git_is_told_to_ignore_is_still_seen(board: Paths) -> None:
    """assume-unchanged: git skips the file's stat, so git's word is not taken at all."""
    loaded(board)
    git(board.root, "update-index", "--assume-unchanged", "board/tasks/T-6.yaml")
    f = board.packet("T-6")
    f.write_text(f.read_text().replace("task 006", "TASK 006"))
    time.sleep(SETTLE_S)
    assert git(board.root, "diff-index", "--name-only", "HEAD") == ""  # git does not see it
    assert store.quick(board)[0] is None
    assert loaded(board)[0].require("T-6").title == "TASK 006"


@pytest.mark.parametrize("name", ["packets.scan", "packets.idx"])
def test_a_corrupt_cache_file_is_recovered_from(board: Paths, name: str) -> None:
    first, _ = loaded(board)
    f = board.packet("T-7")
    f.write_text(packet(7, "task seven, edited"))
    (board.cache / name).write_bytes(b"\x00garbage" * 100)
    time.sleep(SETTLE_S)
    assert store.quick(board)[0] is None
    now, _ = loaded(board)
    assert now.require("T-7").title == "task seven, edited" and len(now) == 20
    again, counts = loaded(board)
    assert counts["parse"] == 0 and again.require("T-7").title == "task seven, edited"


def test_a_crash_between_the_cache_and_its_scan_file_is_harmless(board: Paths) -> None:
    """The cache is written, then packets.scan: a crash in between leaves a scan file naming the
    cache before, which the load does not trust and which vouches only for the files as they
    were when it was written."""
    loaded(board)
    old = (board.cache / "packets.scan").read_bytes()
    f = board.packet("T-8")
    f.write_text(f.read_text().replace("task 008", "TASK 008"))
    time.sleep(SETTLE_S)
    loaded(board)  # writes the new cache and scan file
    (board.cache / "packets.scan").write_bytes(old)  # as if the second write never happened
    (board.cache / ".packets.scan.123.tmp").write_bytes(b"half a fi")  # and its temp file stayed
    assert store.quick(board)[0] is None  # T-8 is in git's list, and not in the old file's
    now, _ = loaded(board)
    assert now.require("T-8").title == "TASK 008"


def git_runs(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, ...]]:
    from batty.store import git as batty_git

    runs: list[tuple[str, ...]] = []
    real_run = batty_git.run

    def counting_run(cwd, *args, **kw):  # type: ignore[no-untyped-def]
        runs.append(args)
        return real_run(cwd, *args, **kw)

    monkeypatch.setattr(batty_git, "run", counting_run)
    return runs


def test_a_small_board_is_read_without_git(board: Paths, monkeypatch: pytest.MonkeyPatch) -> None:
    """Under packet_scan.SCAN_FROM packets a stat of each costs less than git's three processes:
    no git, no packets.scan, and an edit in place that keeps size and mtime is still seen."""
    monkeypatch.setattr(packet_scan, "SCAN_FROM", 21)
    runs = git_runs(monkeypatch)
    assert len(loaded(board)[0]) == 20  # the cache written
    first, counts = loaded(board)
    assert len(first) == 20 and counts == {"stat": 20, "parse": 0} and runs == []
    assert not (board.cache / "packets.scan").exists()
    assert store.quick(board)[0] is None and runs == []
    f = board.packet("T-4")
    before = f.stat()
    f.write_text(packet(4, "TASK 004"))
    os.utime(f, ns=(before.st_atime_ns, before.st_mtime_ns))
    time.sleep(SETTLE_S)
    now, counts = loaded(board)
    assert now.require("T-4").title == "TASK 004" and counts["parse"] == 1 and runs == []
    board.packet("T-21").write_text(packet(21))  # the 21st: from here on git's scan
    time.sleep(SETTLE_S)
    assert len(loaded(board)[0]) == 21
    assert any("diff-index" in a for a in runs) and (board.cache / "packets.scan").exists()


@pytest.mark.parametrize("size", ["small", "scanned"])
def test_the_commands_show_an_edit_made_after_their_output_was_kept(batty, repo: Paths, size: str) -> None:  # type: ignore[no-untyped-def]
    """As new processes, on a board read by stats and on one of SCAN_FROM packets read by git."""
    for i in range(1, 4):
        assert batty("task", "add", f"task {i}").code == 0
    if size == "scanned":  # done tasks up to SCAN_FROM, written and committed as a person would
        for i in range(4, packet_scan.SCAN_FROM + 1):
            repo.packet(f"T-{i}").write_text(packet(i, status="done"))
        git(repo.root, "add", "board/tasks")
        git(repo.root, "commit", "-q", "-m", "done tasks")
    assert batty("reconcile").code == 0
    time.sleep(SETTLE_S)
    for _ in range(2):  # the second run of each is served from what the first kept
        ready = json.loads(batty("task", "list", "--ready", "--json").out)
        board_out = batty("board").out
        assert batty("reconcile").code == 0
    assert [p["title"] for p in ready] == ["task 1", "task 2", "task 3"]
    assert (repo.cache / "view.task-list").exists() and (repo.cache / "view.board").exists()
    assert (repo.cache / "packets.scan").exists() == (size == "scanned")
    f = repo.packet("T-2")
    before = f.stat()
    f.write_text(f.read_text().replace("title: task 2", "title: TASK 2").replace("status: todo", "status: done"))
    os.utime(f, ns=(before.st_atime_ns, before.st_mtime_ns))  # size and mtime as they were
    assert f.stat().st_size == before.st_size
    time.sleep(SETTLE_S)
    ready = json.loads(batty("task", "list", "--ready", "--json").out)
    assert [p["title"] for p in ready] == ["task 1", "task 3"]
    assert "TASK 2" in batty("board").out and "TASK 2" not in board_out
    res = batty("reconcile")  # the status has no event: logged, the board rendered, committed
    assert res.code == 0, res.err
    assert "T-2: status done has no event" in res.err
    assert "TASK 2" in git(repo.root, "show", "HEAD:board/BOARD.md")


def test_a_load_within_the_racy_window_keeps_gits_word_for_the_others(board: Paths) -> None:
    loaded(board)
    board.packet("T-9").write_text(packet(9, "task nine, edited"))
    now, _ = loaded(board)  # T-9 was written just now: read, and neither cached nor trusted
    assert now.require("T-9").title == "task nine, edited"
    assert store.quick(board)[0] is None
    time.sleep(SETTLE_S)
    again, counts = loaded(board)
    assert again.require("T-9").title == "task nine, edited" and len(again) == 20
    assert counts["parse"] == 1 and counts["stat"] <= 3  # T-9's, not the 20
    assert store.quick(board)[0] == again.version is not None


def test_packets_served_by_a_load_that_rewrote_the_cache_read_their_own_briefs(board: Paths) -> None:
    """A load that writes the cache anew (a packet changed) still serves the others from the
    cache before: their briefs are read from where they were, never at those offsets in the new
    file."""
    for i in range(1, 21):
        board.packet(f"T-{i}").write_text(packet(i) + f"description: brief {i}{'!' * i}\n")
    time.sleep(SETTLE_S)
    loaded(board)
    board.packet("T-1").write_text(packet(1) + "description: a new brief\n")
    time.sleep(SETTLE_S)
    now, counts = loaded(board)
    assert counts["parse"] == 1
    assert now.require("T-1").description == "a new brief"
    for i in range(2, 21):
        assert now.require(f"T-{i}").description == f"brief {i}{'!' * i}"


def test_a_moved_index_is_checked_for_skip_bits_once(board: Paths, monkeypatch: pytest.MonkeyPatch) -> None:
    """git's index moves with every commit, reset or status; the run after that lists its entries
    for the assume-unchanged and skip-worktree bits, and remembers the index it checked: the runs
    after it do not list them again (every idle tick did)."""
    first, _ = loaded(board)
    (board.root / "notes.txt").write_text("not a packet\n")
    git(board.root, "add", "notes.txt")
    git(board.root, "commit", "-q", "-m", "notes")  # the index moved; board/tasks/ did not
    time.sleep(SETTLE_S)
    git(board.root, "status", "--porcelain")
    listed = git_runs(monkeypatch)
    for _ in range(3):
        version, problems, _ = store.quick(board)
        assert version == first.version and problems == []
    assert [a for a in listed if "ls-files" in a] == [("ls-files", "-v", "-z", "--", "board/tasks/")]
    # a skip bit set later moves the index again: listed again, and the packet is read
    git(board.root, "update-index", "--skip-worktree", "board/tasks/T-3.yaml")
    board.packet("T-3").write_text(packet(3, "hidden from git"))
    assert store.quick(board)[0] is None
    assert store.load_all(board).by_id["T-3"].title == "hidden from git"
