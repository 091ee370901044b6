"""batty doctor as a user runs it: real agents started by `batty dispatch`, real processes killed
with signals, real stale lock files, real worktree folders deleted, real branches (SPEC 9)."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from batty import runner
from batty.agents.behaviours import BEHAVIOURS
from batty.store.paths import Paths
from tests.conftest import git

WAIT_S = 30


# ------------------------------------------------------------------ helpers


def wait_for(cond: Callable[[], Any], what: str, timeout: float = WAIT_S) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = cond()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def events(repo: Paths, kind: str | None = None) -> list[dict]:
    if not repo.events.exists():
        return []
    out = [json.loads(line) for line in repo.events.read_text().splitlines() if line.strip()]
    return [e for e in out if kind is None or e["kind"] == kind]


def actions(repo: Paths, action: str) -> list[dict]:
    return [e for e in events(repo, "doctor.action") if e["data"]["action"] == action]


def configure(repo: Paths, **sections: dict[str, Any]) -> None:
    """Set keys of board/config.yaml sections (health, gates, disk) and commit it."""
    text = repo.config.read_text()
    for section, keys in sections.items():
        for key, value in keys.items():
            pattern = re.compile(rf"^(  {key}: ).*$", re.M)
            if section in ("health", "gates") and pattern.search(text):
                text = pattern.sub(rf"\g<1>{value}", text, count=1)
            elif section == "disk":
                text = re.sub(rf"({key}: )\d+", rf"\g<1>{value}", text)
            else:
                raise AssertionError(f"no {section}.{key} in the config")
    if text != repo.config.read_text():
        repo.config.write_text(text)
        git(repo.root, "commit", "-q", "-m", "test config", "--", "board/config.yaml")


def packet(batty: Callable[..., Any], tid: str = "T-1") -> dict:
    res = batty("task", "show", tid, "--json")
    assert res.code == 0, res.err
    return json.loads(res.out)


def add(batty: Callable[..., Any], behaviour: str, title: str | None = None) -> str:
    args = ["task", "add", title or behaviour]
    for cmd in BEHAVIOURS[behaviour]:
        args += ["--script", cmd]
    res = batty(*args)
    assert res.code == 0, res.err
    return res.out.strip()


def started(repo: Paths, tid: str, attempt: int) -> dict:
    """Wait until the attempt's agent runs and has written output; its run.json."""
    run_dir = repo.run_dir(tid, attempt)
    wait_for(lambda: (runner.read_run(run_dir) or {}).get("agent_pid")
             and (run_dir / "agent.log").exists() and (run_dir / "agent.log").stat().st_size > 0,
             f"{tid} attempt {attempt} to start and write output")
    return runner.read_run(run_dir) or {}


def silent_for(repo: Paths, tid: str, attempt: int, seconds: float) -> None:
    run_dir = repo.run_dir(tid, attempt)
    wait_for(lambda: (runner.last_output_age(run_dir) or 0) > seconds, f"{seconds}s of silence")


def pid_gone(pid: int, started_at: float | None = None) -> bool:
    return not runner.alive(pid, started_at)


def doctor(batty: Callable[..., Any], *args: str) -> Any:
    res = batty("doctor", *args)
    assert "Traceback" not in res.err, res.err
    return res


@pytest.fixture(autouse=True)
def reaper(tmp_path: Path) -> Iterator[None]:
    """Stop every agent a test started, whatever happened."""
    yield
    for run_json in tmp_path.rglob("run.json"):
        runner.stop(run_json.parent, grace_s=1)


# ------------------------------------------------------------------ check


def test_check_on_a_healthy_repo_exits_0_and_changes_nothing(batty, repo: Paths) -> None:
    add(batty, "succeed")
    head = git(repo.root, "rev-parse", "HEAD")
    baseline = {p: p.read_bytes() for p in (repo.state / "tamper").rglob("*") if p.is_file()}
    assert baseline  # batty init recorded the tamper baseline
    res = doctor(batty, "--check")
    assert res.code == 0, res.err
    assert res.out == ""
    # --check records nothing: the baseline is as init left it
    assert {p: p.read_bytes() for p in (repo.state / "tamper").rglob("*") if p.is_file()} == baseline
    res = doctor(batty, "--check", "--json")
    assert json.loads(res.out)["healthy"] is True
    assert doctor(batty).code == 0
    assert (repo.state / "tamper" / "baseline.json").exists()  # the first real run records it
    assert git(repo.root, "rev-parse", "HEAD") == head
    assert events(repo, "doctor.action") == []


# ------------------------------------------------------------------ respawn


def test_a_stalled_agent_is_respawned_then_escalated(batty, repo: Paths) -> None:
    configure(repo, health={"stall_after_s": 1, "respawn_cooldown_s": 0, "max_respawns": 1})
    tid = add(batty, "stall")
    assert batty("dispatch").code == 0
    first = started(repo, tid, 1)
    silent_for(repo, tid, 1, 1.5)

    res = doctor(batty, "--check")
    assert res.code == 1 and f"respawn {tid}: silent" in res.out
    assert runner.alive(first["agent_pid"], first["agent_pid_started"])  # --check touched nothing

    assert doctor(batty).code == 0
    run_dir = repo.run_dir(tid, 1)
    assert pid_gone(first["agent_pid"], first["agent_pid_started"])
    assert (run_dir / "respawn.1" / "agent.log").read_text().count("\nworking on it\n") == 1
    assert (run_dir / "respawn.1" / "run.json").exists()
    second = started(repo, tid, 1)
    assert second["pid"] != first["pid"]
    p = packet(batty, tid)
    assert p["status"] == "in-progress" and p["attempt"] == 1 and p["respawns"] == 1
    assert "Its last output" in p["handoff"] and "working on it" in p["handoff"]
    [respawned] = events(repo, "agent.respawned")
    assert respawned["data"] == {"reason": "stalled", "respawns": 1}
    assert events(repo, "agent.stalled")[0]["task"] == tid
    [act] = actions(repo, "respawn")
    assert act["task"] == tid and act["attempt"] == 1
    # a respawn is not a new assignment
    assert len(events(repo, "task.dispatched")) == 1

    # the same fault again after max_respawns heals: escalated, not healed again
    silent_for(repo, tid, 1, 1.5)
    assert doctor(batty).code == 0
    assert pid_gone(second["agent_pid"], second["agent_pid_started"])
    p = packet(batty, tid)
    assert p["status"] == "blocked" and p["respawns"] == 1
    assert len(events(repo, "agent.respawned")) == 1
    [esc] = actions(repo, "escalate")
    assert esc["data"]["fault"] == "respawn"
    raised = events(repo, "escalation.raised")
    assert raised and raised[-1]["data"]["tasks"] == [tid] and raised[-1]["data"]["source"] == "doctor"
    assert "blocked" in git(repo.root, "log", "-1", "--format=%s")


def test_a_dead_wrapper_is_respawned_and_its_orphan_agent_stopped(batty, repo: Paths) -> None:
    configure(repo, health={"stall_after_s": 600})
    # an agent that outlives its wrapper is possible only without the sandbox (inside it dies
    # with the wrapper: test_an_agent_in_the_sandbox_dies_with_its_wrapper)
    repo.config.write_text(repo.config.read_text() + "sandbox:\n  mode: none\n")
    tid = add(batty, "stall")
    assert batty("dispatch").code == 0
    first = started(repo, tid, 1)
    # at its last step, which writes nothing more: an agent that writes after its wrapper died
    # dies of the broken pipe (the scripted agent echoes each step as it starts it)
    log = repo.run_dir(tid, 1) / "agent.log"
    wait_for(lambda: "$ sleep" in log.read_text(), "the agent's last step")
    os.kill(first["pid"], signal.SIGKILL)  # the wrapper dies: no exit record
    wait_for(lambda: runner.run_state(repo.run_dir(tid, 1)) == "dead", "the run to read as dead")
    assert runner.alive(first["agent_pid"], first["agent_pid_started"])  # its agent lives on

    assert doctor(batty).code == 0
    assert pid_gone(first["agent_pid"], first["agent_pid_started"])
    second = started(repo, tid, 1)
    assert second["pid"] != first["pid"]
    [act] = actions(repo, "respawn")
    assert act["data"]["reason"] == "dead"


def test_no_respawn_inside_the_cooldown(batty, repo: Paths) -> None:
    configure(repo, health={"stall_after_s": 600, "respawn_cooldown_s": 3600})
    tid = add(batty, "stall")
    assert batty("dispatch").code == 0
    first = started(repo, tid, 1)
    os.kill(first["pid"], signal.SIGKILL)
    wait_for(lambda: runner.run_state(repo.run_dir(tid, 1)) == "dead", "a dead run")
    assert doctor(batty).code == 0
    second = started(repo, tid, 1)
    os.kill(second["pid"], signal.SIGKILL)
    wait_for(lambda: runner.run_state(repo.run_dir(tid, 1)) == "dead", "a dead run again")

    res = doctor(batty, "--check")
    assert res.code == 0, res.out  # waiting on purpose is not a fault to heal
    assert f"wait respawn {tid}:" in res.out and "respawn_cooldown_s" in res.out
    assert doctor(batty).code == 0
    assert len(events(repo, "agent.respawned")) == 1
    assert runner.run_state(repo.run_dir(tid, 1)) == "dead"


def mute_seats(repo: Paths) -> None:
    """Seats whose agent never writes a byte: `sleep`."""
    text = repo.config.read_text()
    text = text.replace("agents: {}", 'agents:\n  mute: {argv: [sleep, "300"]}')
    text = text.replace("agent: shell", "agent: mute")
    repo.config.write_text(text)
    git(repo.root, "commit", "-q", "-m", "mute", "--", "board/config.yaml")


def test_no_second_respawn_until_the_new_agent_has_written_output(batty, repo: Paths) -> None:
    mute_seats(repo)
    configure(repo, health={"stall_after_s": 1, "respawn_cooldown_s": 0, "max_respawns": 5})
    assert batty("task", "add", "quiet one").code == 0
    assert batty("dispatch").code == 0
    run_dir = repo.run_dir("T-1", 1)
    wait_for(lambda: (runner.read_run(run_dir) or {}).get("agent_pid"), "the agent to start")
    silent_for(repo, "T-1", 1, 1.5)
    assert doctor(batty).code == 0
    assert len(events(repo, "agent.respawned")) == 1
    wait_for(lambda: (runner.read_run(run_dir) or {}).get("agent_pid"), "the new agent")
    silent_for(repo, "T-1", 1, 1.5)

    res = doctor(batty, "--check")
    assert res.code == 0 and "has not written any output yet" in res.out
    assert doctor(batty).code == 0
    assert len(events(repo, "agent.respawned")) == 1
    assert runner.run_state(run_dir) == "running"

    # the respawned agent dies without a word: the respawn did not heal it, escalate
    run = runner.read_run(run_dir) or {}
    os.kill(run["pid"], signal.SIGKILL)
    os.kill(run["agent_pid"], signal.SIGKILL)
    wait_for(lambda: runner.run_state(run_dir) == "dead", "a dead run")
    assert doctor(batty).code == 0
    assert packet(batty)["status"] == "blocked"
    assert len(events(repo, "agent.respawned")) == 1
    assert actions(repo, "escalate")


# ------------------------------------------------------------------ context, overtime


def test_out_of_context_gets_a_fresh_attempt_with_a_handoff_note(batty, repo: Paths) -> None:
    configure(repo, gates={"max_attempts": 2})
    tid = add(batty, "out-of-context")
    assert batty("dispatch").code == 0
    wait_for(lambda: runner.run_state(repo.run_dir(tid, 1)) == "exited", "the agent to exit")
    assert (runner.read_run(repo.run_dir(tid, 1)) or {}).get("context_exhausted") is True

    assert doctor(batty).code == 0
    p = packet(batty, tid)
    assert p["status"] == "in-progress" and p["attempt"] == 2
    assert p["verification"]["result"] == "context-exhausted" and p["verification"]["attempt"] == 1
    assert "context window ran out" in p["handoff"] and "reading the whole repository" in p["handoff"]
    prompt = (repo.run_dir(tid, 2) / "prompt.md").read_text()
    assert "Hand-off note" in prompt and "reading the whole repository" in prompt
    [act] = actions(repo, "context-reset")
    assert act["data"]["next_attempt"] == 2 and act["data"]["launched"] is True

    # attempt 2 runs out of context too, and it was the last one: escalated
    wait_for(lambda: runner.run_state(repo.run_dir(tid, 2)) == "exited", "attempt 2 to exit")
    assert doctor(batty).code == 0
    assert packet(batty, tid)["status"] == "blocked"
    assert actions(repo, "escalate")[0]["data"]["fault"] == "context-reset"
    assert not repo.run_dir(tid, 3).exists()


def test_an_agent_past_max_runtime_is_killed_and_the_next_attempt_starts(batty, repo: Paths) -> None:
    configure(repo, health={"max_runtime_s": 1, "stall_after_s": 600})
    tid = add(batty, "stall")
    assert batty("dispatch").code == 0
    first = started(repo, tid, 1)
    wait_for(lambda: time.time() - first["started_epoch"] > 1.5, "the runtime limit to pass")
    assert doctor(batty).code == 0
    assert pid_gone(first["agent_pid"], first["agent_pid_started"])
    assert runner.run_state(repo.run_dir(tid, 1)) == "exited"
    p = packet(batty, tid)
    assert p["attempt"] == 2 and p["verification"]["result"] == "killed"
    assert "killed after" in p["feedback"]
    started(repo, tid, 2)
    stopped = events(repo, "agent.stopped")
    assert stopped and stopped[0]["data"]["reason"] == "overtime"
    assert actions(repo, "kill-overtime")


# ------------------------------------------------------------------ requeue


def test_a_task_whose_seat_left_the_config_is_requeued(batty, repo: Paths) -> None:
    tid = add(batty, "stall")
    assert batty("dispatch").code == 0
    first = started(repo, tid, 1)
    assert packet(batty, tid)["assignee"] == "eng-1"
    text = repo.config.read_text().replace("  - {name: eng-1, agent: shell}\n", "")
    repo.config.write_text(text)
    git(repo.root, "commit", "-q", "-m", "one seat less", "--", "board/config.yaml")

    assert doctor(batty).code == 0
    p = packet(batty, tid)
    assert p["status"] == "todo" and p["assignee"] is None and p["attempt"] == 1
    assert pid_gone(first["agent_pid"], first["agent_pid_started"])
    assert actions(repo, "requeue")[0]["data"]["reason"] == "seat-gone"
    assert git(repo.root, "rev-parse", "--verify", "-q", f"refs/heads/batty/{tid}")  # kept
    # the next dispatch resumes it on the other seat, same branch, next attempt
    assert batty("dispatch").code == 0
    p = packet(batty, tid)
    assert p["assignee"] == "eng-2" and p["attempt"] == 2


def test_an_agent_in_the_sandbox_dies_with_its_wrapper(batty, repo: Paths) -> None:
    """Issue 14: everything in the sandbox dies with the attempt, its wrapper included."""
    configure(repo, health={"stall_after_s": 600})
    tid = add(batty, "stall")
    assert batty("dispatch").code == 0
    first = started(repo, tid, 1)
    os.kill(first["pid"], signal.SIGKILL)  # the wrapper dies: no exit record
    wait_for(lambda: pid_gone(first["agent_pid"], first["agent_pid_started"]), "the agent to die with it")
    assert doctor(batty).code == 0
    second = started(repo, tid, 1)
    assert second["pid"] != first["pid"]
    [act] = actions(repo, "respawn")
    assert act["data"]["reason"] == "dead"


def test_in_progress_with_nothing_to_resume_is_requeued(batty, repo: Paths) -> None:
    tid = add(batty, "succeed")
    assert batty("dispatch").code == 0
    wait_for(lambda: runner.run_state(repo.run_dir(tid, 1)) == "exited", "the agent to exit")
    import shutil

    shutil.rmtree(repo.worktree(tid))
    git(repo.root, "branch", "-D", f"batty/{tid}")
    assert doctor(batty, "--check").code == 1
    assert doctor(batty).code == 0
    p = packet(batty, tid)
    assert p["status"] == "todo" and p["attempt"] == 1
    assert actions(repo, "requeue")[0]["data"]["reason"] == "lost"


# ------------------------------------------------------------------ locks


HOLDER = """
import os, subprocess, sys, time
from pathlib import Path
from batty.store import locks
with locks.hold(Path(sys.argv[1]), "dispatch", cmd="dispatch"):
    # a child that inherits the lock's descriptor (as a fork would) and outlives us
    fd = next(int(n) for n in os.listdir("/proc/self/fd")
              if os.path.realpath(f"/proc/self/fd/{n}").endswith("dispatch.lock"))
    child = subprocess.Popen(["sleep", "300"], pass_fds=[fd], start_new_session=True)
    print(child.pid, flush=True)
    time.sleep(300)
"""


def test_a_lock_leaked_to_a_surviving_child_is_broken(batty, repo: Paths) -> None:
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(repo.state)], stdout=subprocess.PIPE,
                            text=True, cwd=repo.root)
    assert proc.stdout is not None
    child = int(proc.stdout.readline())
    try:
        proc.kill()
        proc.wait()
        res = batty("dispatch")
        assert res.code == 75, res.err  # the lock is still held, by the child
        res = doctor(batty, "--check")
        assert res.code == 1 and "stale-lock: the dispatch lock is held" in res.out
        assert doctor(batty).code == 0
        [broken] = events(repo, "lock.broken")
        assert broken["data"]["lock"] == "dispatch" and broken["data"]["holder_pid"] == proc.pid
        assert child in broken["data"]["held_by"]
        assert actions(repo, "stale-lock")
        assert batty("dispatch").code == 0
    finally:
        os.kill(child, signal.SIGKILL)


def test_a_finished_runs_owner_file_is_no_fault(batty, repo: Paths) -> None:
    add(batty, "succeed")  # leaves board.owner naming its (gone) pid
    assert (repo.locks / "board.owner").exists()
    assert doctor(batty, "--check").code == 0


def old(path: Path, seconds: float = 120) -> None:
    t = time.time() - seconds
    os.utime(path, (t, t))


def test_a_stale_index_lock_is_removed(batty, repo: Paths) -> None:
    lock = repo.root / ".git" / "index.lock"
    lock.write_text("")
    old(lock)
    (repo.root / "note.txt").write_text("x\n")
    fail = subprocess.run(["git", "add", "note.txt"], cwd=repo.root, capture_output=True, text=True)
    assert fail.returncode != 0 and "index.lock" in fail.stderr
    assert doctor(batty, "--check").code == 1
    assert doctor(batty).code == 0
    assert not lock.exists()
    assert actions(repo, "git-lock")[0]["data"]["path"] == ".git/index.lock"
    git(repo.root, "add", "note.txt")


def test_a_young_index_lock_or_one_a_live_git_holds_is_left(batty, repo: Paths) -> None:
    lock = repo.root / ".git" / "index.lock"
    lock.write_text("")
    assert doctor(batty).code == 0
    assert lock.exists()  # younger than a minute: a git may be starting
    old(lock)
    live = subprocess.Popen(["git", "hash-object", "--stdin"], cwd=repo.root, stdin=subprocess.PIPE)
    try:
        res = doctor(batty, "--check")
        assert res.code == 0 and "wait git-lock" in res.out and str(live.pid) in res.out
        assert doctor(batty).code == 0
        assert lock.exists()
    finally:
        live.communicate(b"x")
    assert doctor(batty).code == 0
    assert not lock.exists()


# ------------------------------------------------------------------ worktrees and branches


def test_a_deleted_worktree_folder_is_re_added(batty, repo: Paths) -> None:
    tid = add(batty, "succeed")
    assert batty("dispatch").code == 0
    wait_for(lambda: runner.run_state(repo.run_dir(tid, 1)) == "exited", "the agent to exit")
    import shutil

    shutil.rmtree(repo.worktree(tid))  # its commits were fetched back when its agent exited
    assert doctor(batty).code == 0
    assert actions(repo, "worktree-repair")
    wt = repo.worktree(tid)
    assert git(wt, "symbolic-ref", "--short", "HEAD") == f"batty/{tid}"
    assert "succeed" in (wt / "src" / "app.py").read_text()  # the branch's commit is there


def test_a_folder_without_metadata_is_re_added_keeping_its_files(batty, repo: Paths) -> None:
    tid = add(batty, "stall")
    assert batty("dispatch").code == 0
    started(repo, tid, 1)
    wt = repo.worktree(tid)
    (wt / "wip.txt").write_text("uncommitted work\n")
    (wt / "README.md").unlink()
    import shutil

    shutil.rmtree(wt / ".git")  # its own repository (issue 14)
    assert doctor(batty).code == 0
    assert actions(repo, "worktree-repair")
    assert git(wt, "symbolic-ref", "--short", "HEAD") == f"batty/{tid}"
    assert (wt / "wip.txt").read_text() == "uncommitted work\n"
    assert not (wt / "README.md").exists()
    assert "wip.txt" in git(wt, "status", "--porcelain")


def test_a_worktree_on_the_wrong_branch_is_switched_back_keeping_commits(batty, repo: Paths) -> None:
    tid = add(batty, "succeed")
    assert batty("dispatch").code == 0
    wait_for(lambda: runner.run_state(repo.run_dir(tid, 1)) == "exited", "the agent to exit")
    wt = repo.worktree(tid)
    git(wt, "checkout", "-q", "--detach")
    (wt / "more.txt").write_text("more\n")
    git(wt, "add", "more.txt")
    git(wt, "commit", "-q", "-m", "made on a detached HEAD")
    detached = git(wt, "rev-parse", "HEAD")
    assert doctor(batty).code == 0
    assert git(wt, "symbolic-ref", "--short", "HEAD") == f"batty/{tid}"
    assert git(repo.root, "rev-parse", f"batty/{tid}") == detached
    assert actions(repo, "worktree-repair")


def test_a_rebase_left_half_done_is_aborted(batty, repo: Paths) -> None:
    tid = add(batty, "succeed")
    assert batty("dispatch").code == 0
    wait_for(lambda: runner.run_state(repo.run_dir(tid, 1)) == "exited", "the agent to exit")
    (repo.root / "src").mkdir()
    (repo.root / "src" / "app.py").write_text("# the base's own version\n")
    git(repo.root, "add", "src/app.py")
    git(repo.root, "commit", "-q", "-m", "conflicting change on main")
    wt = repo.worktree(tid)
    tip = git(wt, "rev-parse", "HEAD")
    git(wt, "update-ref", "refs/heads/main", git(repo.root, "rev-parse", "main"))  # as the next dispatch would
    res = subprocess.run(["git", "rebase", "main"], cwd=wt, capture_output=True, text=True)
    assert res.returncode != 0  # stopped on the conflict, HEAD detached
    assert doctor(batty).code == 0
    assert git(wt, "symbolic-ref", "--short", "HEAD") == f"batty/{tid}"
    assert git(wt, "rev-parse", "HEAD") == tip
    assert actions(repo, "worktree-repair")[0]["data"]["rebase_aborted"] is True


def test_a_running_agent_off_its_branch_is_left_alone(batty, repo: Paths) -> None:
    tid = add(batty, "stall")
    assert batty("dispatch").code == 0
    started(repo, tid, 1)
    wt = repo.worktree(tid)
    git(wt, "checkout", "-q", "--detach")  # as an agent mid-rebase would be
    res = doctor(batty, "--check")
    assert res.code == 0 and f"wait worktree-repair {tid}" in res.out
    assert doctor(batty).code == 0
    assert git(wt, "symbolic-ref", "-q", "HEAD", check=False) == ""
    assert not actions(repo, "worktree-repair")


def test_orphan_branches_are_deleted_when_merged_and_renamed_when_not(batty, repo: Paths) -> None:
    git(repo.root, "branch", "batty/T-9")  # merged: the base itself
    git(repo.root, "checkout", "-q", "-b", "batty/T-8")
    (repo.root / "work.txt").write_text("unmerged work\n")
    git(repo.root, "add", "work.txt")
    git(repo.root, "commit", "-q", "-m", "work nobody tracks")
    work = git(repo.root, "rev-parse", "HEAD")
    git(repo.root, "checkout", "-q", "main")
    add(batty, "succeed")  # T-1: has a packet, its branch is no orphan
    git(repo.root, "branch", "batty/T-1")
    res = doctor(batty, "--check")
    assert res.code == 1 and "batty/T-9 has no task" in res.out and "batty/T-1" not in res.out
    assert doctor(batty).code == 0
    branches = git(repo.root, "branch", "--format=%(refname:short)").split()
    assert "batty/T-9" not in branches and "batty/T-8" not in branches
    assert "batty/T-1" in branches
    assert git(repo.root, "rev-parse", "batty-orphan/T-8") == work
    results = {a["data"]["branch"]: a["data"]["result"] for a in actions(repo, "orphan-branch")}
    assert results == {"batty/T-9": "deleted", "batty/T-8": "renamed"}


# ------------------------------------------------------------------ disk, escalations


def test_old_runs_and_evidence_of_finished_tasks_are_removed(batty, repo: Paths) -> None:
    done = add(batty, "succeed", "finished")
    live = add(batty, "succeed", "still open")
    for tid in (done, live):
        for folder in (repo.run_dir(tid, 1), repo.evidence_dir(tid, 1)):
            folder.mkdir(parents=True)
            (folder / "agent.log").write_bytes(b"x" * 4096)
            for f in (folder / "agent.log", folder):
                old(f, 20 * 86400)
    recent = repo.run_dir(done, 2)
    recent.mkdir()
    (recent / "agent.log").write_text("new\n")
    assert batty("task", "move", done, "done").code == 0
    assert doctor(batty).code == 0
    assert not repo.run_dir(done, 1).exists() and not repo.evidence_of(done).exists()
    assert recent.exists()
    assert repo.run_dir(live, 1).exists()  # not finished: kept whatever its age
    [cleanup] = events(repo, "disk.cleanup")
    assert sorted(cleanup["data"]["removed"]) == [f".batty/evidence/{done}/1", f".batty/runs/{done}/1"]
    assert cleanup["data"]["freed_mb"] > 0
    assert actions(repo, "disk-cleanup")


def test_an_escalation_of_finished_tasks_is_demoted(batty, repo: Paths) -> None:
    configure(repo, health={"stall_after_s": 600, "max_respawns": 0})
    tid = add(batty, "stall")
    assert batty("dispatch").code == 0
    first = started(repo, tid, 1)
    os.kill(first["pid"], signal.SIGKILL)
    wait_for(lambda: runner.run_state(repo.run_dir(tid, 1)) == "dead", "a dead run")
    assert doctor(batty).code == 0  # max_respawns 0: escalated at once
    assert packet(batty, tid)["status"] == "blocked"
    assert events(repo, "escalation.raised")
    assert batty("task", "move", tid, "done").code == 0
    assert doctor(batty).code == 0
    assert events(repo, "escalation.demoted")
    assert actions(repo, "escalation-demote")


# ------------------------------------------------------------------ tamper


def test_git_settings_and_hooks_an_agent_planted_are_reverted(batty, repo: Paths) -> None:
    git(repo.root, "config", "alias.st", "status")  # the person's own, after `batty init`
    assert doctor(batty, "--check").code == 1  # init's baseline does not know it
    assert doctor(batty, "--check", "--accept").code == 0  # a person takes it into the baseline
    tid = add(batty, "stall")
    assert batty("dispatch").code == 0
    started(repo, tid, 1)
    wt = repo.worktree(tid)
    # from inside the agent's checkout: its own repository's config, none of the control's
    git(wt, "config", "core.fsmonitor", "touch /tmp/pwned")
    assert git(repo.root, "config", "--get", "core.fsmonitor", check=False) == ""
    assert doctor(batty, "--check").code == 0
    # the control's .git itself, as an agent without the sandbox (sandbox.mode: none) could
    git(repo.root, "config", "core.fsmonitor", "touch /tmp/pwned")
    git(repo.root, "config", "alias.st", "!touch /tmp/pwned")
    git(repo.root, "config", "core.hooksPath", ".batty/worktrees/x")
    hook = repo.root / ".git" / "hooks" / "post-checkout"
    hook.write_text("#!/bin/sh\ntouch /tmp/pwned\n")
    hook.chmod(0o755)

    res = doctor(batty, "--check")
    assert res.code == 1 and "tamper-revert" in res.out and "core.fsmonitor" in res.out
    assert doctor(batty).code == 0
    assert git(repo.root, "config", "--get", "core.fsmonitor", check=False) == ""
    assert git(repo.root, "config", "--get", "core.hookspath", check=False) == ""
    assert git(repo.root, "config", "--get", "alias.st") == "status"
    assert not hook.exists()
    [act] = actions(repo, "tamper-revert")
    quarantine = repo.root / act["data"]["quarantine"]
    assert (quarantine / "hooks" / "post-checkout").read_text().endswith("touch /tmp/pwned\n")
    raised = events(repo, "escalation.raised")
    assert raised and raised[-1]["data"]["reason"] == "tamper" and raised[-1]["data"]["tasks"] == [tid]
    assert doctor(batty, "--check").code == 0


def test_accept_takes_a_deliberate_change_as_the_baseline(batty, repo: Paths) -> None:
    assert doctor(batty).code == 0
    git(repo.root, "config", "alias.lg", "log --oneline")
    assert doctor(batty, "--check").code == 1
    assert doctor(batty, "--check", "--accept").code == 0
    assert doctor(batty).code == 0
    assert git(repo.root, "config", "--get", "alias.lg") == "log --oneline"


def test_a_config_change_is_seen_though_the_last_reading_is_kept(repo: Paths, monkeypatch: pytest.MonkeyPatch) -> None:
    """doctor keeps its reading of each git config file by the file's stat (a git process a file
    a tick otherwise): a change that keeps the file's size is still a change."""
    from batty.store import packets
    from batty.workflow.doctor import tamper

    monkeypatch.setattr(packets, "RACY_NS", 0)  # files written just now count as settled
    git(repo.root, "config", "alias.pwn", "!touch /tmp/pwn1")
    tamper.record(repo)
    assert tamper.check(repo) == [] and tamper.check(repo) == []
    assert list(repo.cache.glob("view.tamper-config-*")), "the reading was not kept"
    size = (repo.root / ".git" / "config").stat().st_size
    git(repo.root, "config", "alias.pwn", "!touch /tmp/pwn2")
    assert (repo.root / ".git" / "config").stat().st_size == size
    [change] = tamper.check(repo)
    assert (change.key, change.now) == ("alias.pwn", ["!touch /tmp/pwn2"])


def test_a_config_file_git_could_not_read_is_read_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A failed `git config` (a broken file, or git killed) is not kept as the file's reading."""
    from batty.store import packets
    from batty.workflow.doctor import tamper

    monkeypatch.setattr(packets, "RACY_NS", 0)
    cache, config = tmp_path / "cache", tmp_path / "config"
    config.write_text("[alias\n\tpwn = !touch /tmp/pwn\n")  # no closing bracket: git cannot read it
    assert list(tamper.read_config(config, cache)) == ["<unreadable>"]
    assert not list(cache.glob("view.tamper-config-*")), "a failed reading was kept"
    config.write_text("[alias]\n\tpwn = !touch /tmp/pwn\n")
    assert tamper.read_config(config, cache) == {"alias.pwn": ["!touch /tmp/pwn"]}
    assert tamper.read_config(config, cache) == {"alias.pwn": ["!touch /tmp/pwn"]}  # kept now
    assert list(cache.glob("view.tamper-config-*"))


# ------------------------------------------------------------------ the pure rules (no disk)


def view(**kw: Any) -> Any:
    from batty.core.health import AttemptView
    from batty.core.lifecycle import Status

    base = dict(task="T-1", status=Status.IN_PROGRESS, attempt=1, judged=False, state="running",
                silent_s=1.0, runtime_s=5.0, context_exhausted=False, since_respawn_s=None,
                output_since_respawn=False, respawns=0, seat_known=True, has_worktree=True,
                has_branch=True)
    return AttemptView(**{**base, **kw})


H = dict(stall_after_s=10, max_runtime_s=100, respawn_cooldown_s=30, max_respawns=2)


def judge(**kw: Any) -> Any:
    from batty.core.config import Health
    from batty.core.health import judge as j

    return j(view(**kw), Health(**H), 3)


def test_the_respawn_guard() -> None:
    assert judge() is None
    assert judge(silent_s=11).action == "respawn" and not judge(silent_s=11).escalate
    assert judge(state="dead").reason == "dead"
    # inside the cooldown: wait, whatever the fault
    v = judge(state="dead", since_respawn_s=5, output_since_respawn=True)
    assert v.action is None and v.reason == "cooldown"
    # after the cooldown, a silent respawned agent that never wrote: wait for its first word
    v = judge(silent_s=11, since_respawn_s=60, output_since_respawn=False)
    assert v.action is None and v.reason == "no-output-yet"
    # ... and one that died without a word: the respawn did not help, escalate
    assert judge(state="dead", since_respawn_s=60, output_since_respawn=False).escalate
    assert not judge(state="dead", since_respawn_s=60, output_since_respawn=True, respawns=1).escalate
    # after max_respawns heals: escalate instead of healing again
    assert judge(silent_s=11, respawns=2).escalate


def test_the_other_verdicts() -> None:
    from batty.core.lifecycle import Status

    assert judge(status=Status.REVIEW, state="dead") is None
    assert judge(seat_known=False).action == "requeue"
    assert judge(has_worktree=False, has_branch=False).reason == "lost"
    assert judge(has_worktree=False, state="dead").action == "respawn"  # the branch is there
    assert judge(state="exited") is None  # verify's
    assert judge(state="exited", context_exhausted=True).action == "context-reset"
    assert judge(state="exited", context_exhausted=True, attempt=3).escalate
    assert judge(state="exited", context_exhausted=True, judged=True) is None
    assert judge(runtime_s=101, silent_s=50).action == "kill-overtime"
    assert judge(state="none") is None and judge(state="launching") is None


# ------------------------------------------------------------------ crashes inside a heal (issue 5)


@pytest.mark.parametrize("point", ["doctor.tamper.after-intent", "doctor.tamper.after-escalate",
                                   "doctor.tamper-revert.after-heal", "doctor.after-action-event"])
def test_a_crash_inside_the_tamper_heal_still_ends_reverted_escalated_and_logged_once(
        batty, repo: Paths, point: str) -> None:
    assert doctor(batty).code == 0
    git(repo.root, "config", "core.fsmonitor", "touch /tmp/pwned")
    res = batty("doctor", env={"BATTY_FAILPOINT": point})
    assert res.code == -signal.SIGKILL, res.err
    if point != "doctor.after-action-event":  # the heal is not finished: --check says so
        res = doctor(batty, "--check")
        assert res.code == 1 and "tamper-revert" in res.out, res.out
    assert doctor(batty).code == 0
    assert doctor(batty).code == 0  # and a third run finds nothing more to do
    assert git(repo.root, "config", "--get", "core.fsmonitor", check=False) == ""
    raised = [e for e in events(repo, "escalation.raised") if e["data"]["reason"] == "tamper"]
    assert len(raised) == 1, raised
    [act] = actions(repo, "tamper-revert")
    quarantine = repo.root / act["data"]["quarantine"]
    assert "touch /tmp/pwned" in (quarantine / "config").read_text()  # the config as the agent left it
    assert act["data"]["quarantine"] in raised[0]["data"]["text"]
    assert doctor(batty, "--check").code == 0


@pytest.mark.parametrize("point", ["doctor.respawn.after-stop", "doctor.respawn.after-rotate",
                                   "dispatch.after-claim", "doctor.respawn.after-heal"])
def test_a_crash_inside_a_respawn_dispatches_the_attempt_once_and_logs_the_respawn_once(
        batty, repo: Paths, point: str) -> None:
    configure(repo, health={"stall_after_s": 1, "respawn_cooldown_s": 600})
    tid = add(batty, "stall")
    assert batty("dispatch").code == 0
    first = started(repo, tid, 1)
    silent_for(repo, tid, 1, 1.5)
    res = batty("doctor", env={"BATTY_FAILPOINT": point})
    assert res.code == -signal.SIGKILL, res.err
    assert batty("tick").code == 0  # reconcile, doctor, verify, merge, dispatch
    assert batty("tick").code == 0
    assert pid_gone(first["agent_pid"], first["agent_pid_started"])
    second = started(repo, tid, 1)
    assert second["pid"] != first["pid"]
    assert runner.run_state(repo.run_dir(tid, 1)) == "running"
    assert len(events(repo, "task.dispatched")) == 1
    assert len(events(repo, "agent.respawned")) == 1
    assert len(events(repo, "agent.stalled")) == 1
    assert len(actions(repo, "respawn")) == 1
    assert len(events(repo, "agent.started")) == 2  # the first agent and its one replacement
    p = packet(batty, tid)
    assert p["respawns"] == 1 and p["attempt"] == 1 and "working on it" in p["handoff"]
    assert (repo.run_dir(tid, 1) / "respawn.1" / "run.json").exists()
    assert not (repo.run_dir(tid, 1) / "respawn.2").exists()


def test_dispatch_leaves_a_respawn_cut_short_to_doctor(batty, repo: Paths) -> None:
    """The run folder of a respawn killed after the old agent's files were moved aside looks
    like a claim never launched: dispatch alone (doctor busy, or a person's `batty dispatch`)
    launched it and logged a second task.dispatched of the attempt."""
    configure(repo, health={"stall_after_s": 1, "respawn_cooldown_s": 600})
    tid = add(batty, "stall")
    assert batty("dispatch").code == 0
    started(repo, tid, 1)
    silent_for(repo, tid, 1, 1.5)
    res = batty("doctor", env={"BATTY_FAILPOINT": "doctor.respawn.after-rotate"})
    assert res.code == -signal.SIGKILL, res.err
    assert runner.run_state(repo.run_dir(tid, 1)) == "none"
    assert batty("dispatch").code == 0
    assert runner.run_state(repo.run_dir(tid, 1)) == "none"  # left to doctor
    assert batty("doctor").code == 0
    started(repo, tid, 1)
    assert len(events(repo, "task.dispatched")) == 1
    assert len(events(repo, "agent.respawned")) == 1


# ------------------------------------------------------------------ the same fault again (SPEC 9)


def test_a_fault_that_keeps_coming_back_is_escalated_after_max_respawns_heals(batty, repo: Paths) -> None:
    configure(repo, health={"max_respawns": 3})
    lock = repo.root / ".git" / "index.lock"
    for _ in range(3):
        lock.write_text("")
        old(lock)
        assert doctor(batty).code == 0
        assert not lock.exists()
    assert len(actions(repo, "git-lock")) == 3
    lock.write_text("")  # the fourth time: a person should find out why
    old(lock)
    res = doctor(batty, "--check")
    assert res.code == 1 and "escalate" in res.out and "healed 3 time(s)" in res.out
    assert doctor(batty).code == 0
    assert lock.exists()
    [esc] = actions(repo, "escalate")
    assert esc["data"]["fault"] == "git-lock" and esc["data"]["heals"] == 3
    [raised] = events(repo, "escalation.raised")
    assert raised["data"]["reason"] == "repeated-fault" and ".git/index.lock" in raised["data"]["text"]
    # while the escalation is open: waited on, not healed, not escalated again
    res = doctor(batty, "--check")
    assert res.code == 0 and f"escalated as {esc['data']['escalation']}" in res.out
    assert doctor(batty).code == 0
    assert lock.exists() and len(actions(repo, "git-lock")) == 3 and len(actions(repo, "escalate")) == 1
    # a person resolved it: healed again, counting from one
    assert batty("escalations", "resolve", esc["data"]["escalation"]).code == 0
    assert doctor(batty).code == 0
    assert not lock.exists() and len(actions(repo, "git-lock")) == 4


def test_an_orphan_branch_made_again_and_again_is_escalated(batty, repo: Paths) -> None:
    configure(repo, health={"max_respawns": 2})
    for _ in range(2):
        git(repo.root, "branch", "batty/T-9")
        assert doctor(batty).code == 0
    git(repo.root, "branch", "batty/T-9")
    assert doctor(batty).code == 0
    assert git(repo.root, "rev-parse", "--verify", "-q", "refs/heads/batty/T-9")  # left for a person
    assert len(actions(repo, "orphan-branch")) == 2
    [esc] = actions(repo, "escalate")
    assert esc["data"]["fault"] == "orphan-branch"


# ------------------------------------------------------------------ a tick's steps do not wait


HOLD_LOCK = """
import sys, time
from pathlib import Path
from batty.store import locks
with locks.hold(Path(sys.argv[1]), sys.argv[2], cmd="test"):
    print("held", flush=True)
    time.sleep(300)
"""


def test_the_git_lock_heal_in_a_tick_does_not_wait_for_the_merge_lock(batty, repo: Paths) -> None:
    lock = repo.root / ".git" / "index.lock"
    lock.write_text("")
    old(lock)
    # the merge lock: a landing in progress (the board lock would hold up reconcile's board part)
    holder = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, str(repo.state), "merge"],
                              stdout=subprocess.PIPE, text=True, cwd=repo.root)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        t0 = time.monotonic()
        res = batty("tick", env={"BATTY_LOCK_WAIT_S": "10"})
        assert time.monotonic() - t0 < 6, res.err  # it waited 10 s for the merge lock before
        assert "Traceback" not in res.err
        assert lock.exists() and not actions(repo, "git-lock")
    finally:
        holder.kill()
        holder.wait()
    assert batty("tick").code == 0
    assert not lock.exists() and len(actions(repo, "git-lock")) == 1


# ------------------------------------------------------------------ out of context, still running


def test_a_running_agent_that_says_its_context_ran_out_gets_a_fresh_attempt(batty, repo: Paths) -> None:
    configure(repo, gates={"max_attempts": 2}, health={"stall_after_s": 600})
    from batty.agents.behaviours import CONTEXT_MARKER

    res = batty("task", "add", "talks, then hangs", "--script", "echo 'reading the whole repository...'",
                "--script", f"echo '{CONTEXT_MARKER}'", "--script", "sleep 300")
    tid = res.out.strip()
    assert batty("dispatch").code == 0
    first = started(repo, tid, 1)
    log = repo.run_dir(tid, 1) / "agent.log"
    wait_for(lambda: CONTEXT_MARKER in log.read_text(), "the agent to say its context ran out")
    res = doctor(batty, "--check")
    assert res.code == 1 and f"context-reset {tid}" in res.out, res.out
    assert doctor(batty).code == 0
    assert pid_gone(first["agent_pid"], first["agent_pid_started"])
    p = packet(batty, tid)
    assert p["attempt"] == 2 and p["verification"]["result"] == "context-exhausted"
    assert "context window ran out" in p["handoff"] and "reading the whole repository" in p["handoff"]
    started(repo, tid, 2)
    [act] = actions(repo, "context-reset")
    assert act["data"]["next_attempt"] == 2 and act["data"]["launched"] is True
    assert events(repo, "agent.stopped")[0]["data"]["reason"] == "context-exhausted"
    # the last attempt says so too: escalated, not a third attempt
    wait_for(lambda: CONTEXT_MARKER in (repo.run_dir(tid, 2) / "agent.log").read_text(), "attempt 2's word")
    assert doctor(batty).code == 0
    assert packet(batty, tid)["status"] == "blocked"
    assert actions(repo, "escalate")[0]["data"]["fault"] == "context-reset"
    assert not repo.run_dir(tid, 3).exists()


def test_a_crash_between_escalating_a_repeated_fault_and_recording_it_escalates_once(
        batty, repo: Paths) -> None:
    configure(repo, health={"max_respawns": 1})
    lock = repo.root / ".git" / "index.lock"
    lock.write_text("")
    old(lock)
    assert doctor(batty).code == 0
    lock.write_text("")
    old(lock)
    res = batty("doctor", env={"BATTY_FAILPOINT": "doctor.repeat.after-escalate"})
    assert res.code == -signal.SIGKILL, res.err
    assert doctor(batty).code == 0  # escalated again: folded into the open one, and recorded
    res = doctor(batty, "--check")
    assert res.code == 0 and "wait git-lock" in res.out and "escalated as E-1" in res.out
    assert len(events(repo, "escalation.raised")) == 1
    assert len(actions(repo, "escalate")) == 1 and len(actions(repo, "git-lock")) == 1
    assert lock.exists()
