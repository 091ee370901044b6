"""dispatch, seats, runners (issue 3): real processes, real tmux, real worktrees."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from pathlib import Path

import psutil
import pytest

from tests.conftest import git
from tests.project import Project, wait_for


@pytest.fixture
def proj(tmp_path: Path) -> Project:
    return Project(tmp_path / "proj", seats=2)


def test_dispatch_gives_ready_tasks_to_free_seats_in_queue_order(proj: Project) -> None:
    low = proj.task("Low", "succeed", priority=3)
    first = proj.task("First", "succeed", priority=1)
    second = proj.task("Second", "succeed", priority=1)
    blocked = proj.task("Waits", "succeed", priority=0, depends=low)
    # a person reorders Todo: Second before First
    board = proj.paths.board_md.read_text()
    a = f"- [ ] {first} First `P1`"
    b = f"- [ ] {second} Second `P1`"
    proj.paths.board_md.write_text(board.replace(a, "@@").replace(b, a).replace("@@", b))
    proj.ok("reconcile")
    res = proj.ok("dispatch", "--dry-run")
    assert res.out.splitlines() == [f"would dispatch {second} attempt 1 to eng-1",
                                    f"would dispatch {first} attempt 1 to eng-2"]
    assert proj.status(second) == "todo" and not proj.paths.worktree(second).exists()
    proj.ok("dispatch")
    for tid in (second, first):
        p = proj.packet(tid)
        assert p["status"] == "in-progress" and p["branch"] == f"batty/{tid}" and p["attempt"] == 1
        assert git(proj.paths.worktree(tid), "rev-parse", "--abbrev-ref", "HEAD") == f"batty/{tid}"
        assert (proj.paths.run_dir(tid, 1) / "prompt.md").is_file()
    assert proj.status(low) == "todo" and proj.status(blocked) == "todo"
    (ev,) = proj.events("task.dispatched", second)
    assert ev["seat"] == "eng-1" and ev["data"]["agent"] == "shell" and ev["corr"] == f"{second}#1"
    assert git(proj.root, "log", "-1", "--format=%s") == (
        f"batty: {second} todo -> in-progress (eng-1); {first} todo -> in-progress (eng-2)")


def test_the_prompt_carries_brief_scope_fences_and_test(proj: Project) -> None:
    tid = proj.task("Rate-limit logins", "succeed", description="Lock after five failures.")
    proj.ok("dispatch")
    text = (proj.paths.run_dir(tid, 1) / "prompt.md").read_text()
    for part in ("# Task T-1: Rate-limit logins", "Lock after five failures.", "- `src/**`",
                 "- `board/**`", "- `.github/**`", "-m pytest -q", "attempt 1 of 3"):
        assert part in text, part


def test_dispatch_twice_is_still_one_agent(proj: Project) -> None:
    tid = proj.task("Stall", "stall")
    proj.ok("dispatch")
    wait_for(lambda: proj.run_state(tid) == "running", 15, "the agent to start")
    proj.ok("dispatch")
    proj.ok("dispatch")
    assert len(proj.events("agent.started", tid)) == 1
    assert len(proj.events("task.dispatched", tid)) == 1


def test_a_crash_between_claim_and_launch_launches_once_on_rerun(proj: Project) -> None:
    tid = proj.task("Edit", "succeed")
    res = proj.batty("dispatch", env={"BATTY_FAILPOINT": "dispatch.after-claim"})
    assert res.code == -9
    assert proj.status(tid) == "in-progress" and proj.run_state(tid) == "none"
    proj.ok("dispatch")
    proj.wait_exited(tid)
    proj.ok("dispatch")
    assert len(proj.events("agent.started", tid)) == 1
    assert proj.packet(tid)["attempt"] == 1


def test_seat_pins_and_planner_roles(proj: Project) -> None:
    proj.configure({"seats": [{"name": "eng-1", "agent": "shell"}, {"name": "eng-2", "agent": "shell"},
                              {"name": "plan-1", "agent": "shell", "role": "planner"}]})
    pinned = proj.task("Pinned", "succeed", seat="eng-2")
    epic = proj.task("Big epic", ["echo '- title: Part one' > plan.yaml",
                                  "echo '- title: Part two' >> plan.yaml",
                                  "echo '  depends_on: [0]' >> plan.yaml"], scope=[], kind="epic",
                     description="x " * 3000 + "\n- a\n- b\n- c\n- d\n- e\n")
    small = proj.task("Small epic", "succeed", kind="epic")
    proj.ok("dispatch")
    assert proj.packet(pinned)["assignee"] == "eng-2"
    assert proj.packet(epic)["assignee"] == "plan-1"
    assert proj.packet(small)["assignee"] == "eng-1"  # at or under planner.min_complexity: whole
    assert "You are the planner" in (proj.paths.run_dir(epic, 1) / "prompt.md").read_text()
    proj.wait_exited(epic)
    proj.ok("verify", epic)
    p = proj.packet(epic)
    assert p["status"] == "done"
    children = json.loads(proj.ok("task", "list", "--json").out)
    parts = [c for c in children if c.get("parent") == epic]
    assert [c["title"] for c in parts] == ["Part one", "Part two"]
    assert parts[1]["depends_on"] == [parts[0]["id"]]


def test_a_bad_plan_is_refused_with_its_line(proj: Project) -> None:
    proj.configure({"seats": [{"name": "plan-1", "agent": "shell", "role": "planner"}],
                    "planner": {"min_complexity": 1, "max_children": 8}})
    epic = proj.task("Epic", ["echo '- title: One' > plan.yaml", "echo '  depends_on: [3]' >> plan.yaml"],
                     scope=[], kind="epic", description="- a\n- b\n- c\n- d\n- e\n" * 20)
    proj.ok("dispatch")
    proj.wait_exited(epic)
    proj.ok("verify")
    p = proj.packet(epic)
    assert p["status"] == "in-progress"
    assert "plan.yaml:2: item 0: depends_on 3 is not an earlier item" in p["feedback"]
    assert [t["id"] for t in json.loads(proj.ok("task", "list", "--json").out)] == [epic]


def test_the_agent_environment_is_an_allow_list(proj: Project, tmp_path: Path) -> None:
    out = proj.shared / "agent-env.txt"
    proj.configure({"notify": [{"url_env": "MY_HOOK_URL", "on": ["escalation.raised"]}]})
    tid = proj.task("Env", [f"env > {out}", "pwd >> " + str(out)])
    proj.ok("dispatch", env={"MY_HOOK_URL": "json://secret-host/x", "AWS_SECRET_ACCESS_KEY": "aws-secret",
                             "CLAUDECODE": "1"})
    proj.wait_exited(tid)
    seen = dict(line.split("=", 1) for line in out.read_text().splitlines() if "=" in line)
    assert "MY_HOOK_URL" not in seen and "AWS_SECRET_ACCESS_KEY" not in seen and "CLAUDECODE" not in seen
    assert seen["BATTY_TASK"] == tid and seen["BATTY_ATTEMPT"] == "1"
    assert seen["BATTY_WORKTREE"] == str(proj.paths.worktree(tid))
    assert seen["HOME"] == str(proj.paths.seat_home("eng-1"))
    assert str(proj.paths.worktree(tid)) in out.read_text().splitlines()[-1]


def test_the_agent_outlives_dispatch_with_no_descriptor_inherited(proj: Project) -> None:
    tid = proj.task("Stall", "stall")
    proj.ok("dispatch")
    run_json = proj.paths.run_dir(tid, 1) / "run.json"
    # "running" is the wrapper's state from its first record; the agent's pid comes in the second
    wait_for(lambda: proj.run_state(tid) == "running" and "agent_pid" in json.loads(run_json.read_text()),
             15, "the agent to start")
    run = json.loads(run_json.read_text())
    agent = psutil.Process(run["agent_pid"])
    assert agent.is_running()
    open_paths = [f.path for f in agent.open_files()]
    assert not any(p.endswith(".lock") for p in open_paths), open_paths
    assert not agent.net_connections()
    assert run["pid_started"] and run["agent_pid_started"]
    assert abs(psutil.Process(run["pid"]).create_time() - run["pid_started"]) < 1
    from batty import runner

    assert runner.stop(proj.paths.run_dir(tid, 1))
    wait_for(lambda: not agent.is_running() or agent.status() == psutil.STATUS_ZOMBIE, 10, "the agent to stop")


def test_a_lingering_child_is_reaped_and_holds_no_lock(proj: Project) -> None:
    tid = proj.task("Linger", "lingering-child")
    proj.ok("dispatch")
    proj.wait_exited(tid)
    time.sleep(0.5)
    lingering = [p for p in psutil.process_iter(["cmdline", "cwd"])
                 if (p.info["cmdline"] or [])[:2] == ["sleep", "300"]
                 and str(proj.paths.worktree(tid)) in (p.info["cwd"] or "")]
    assert lingering == []
    from batty.store import locks

    for name in ("dispatch", "board", "events"):
        assert not locks.is_held(proj.paths.state, name)
    proj.ok("verify")
    assert proj.status(tid) == "review"


def test_a_group_member_that_ignores_sigterm_is_killed() -> None:
    import sys
    import threading

    from batty import runner

    stubborn = subprocess.Popen([sys.executable, "-c", "import signal, time\n"
                                 "signal.signal(signal.SIGTERM, signal.SIG_IGN)\nprint('ready', flush=True)\n"
                                 "time.sleep(600)"], start_new_session=True, stdout=subprocess.PIPE, text=True)
    try:
        assert stubborn.stdout is not None and stubborn.stdout.readline() == "ready\n"
        assert runner.live_members(stubborn.pid) == runner._live_members_psutil(stubborn.pid) == [stubborn.pid]
        done = threading.Thread(target=runner.kill_group, args=(stubborn.pid,), kwargs={"grace_s": 0.5})
        done.start()
        assert stubborn.wait(timeout=60) == -9
        done.join(timeout=60)
        assert not done.is_alive()
    finally:
        stubborn.kill()


def test_a_group_left_with_a_zombie_only_is_not_waited_on() -> None:
    """A dead member its parent has not reaped yet still answers the kernel's signal 0 to the
    group: kill_group must not wait its whole grace on it (it would hang an agent's wrapper)."""
    import sys
    import threading

    from batty import runner

    leader = subprocess.Popen([sys.executable, "-c", "pass"], start_new_session=True)
    wait_for(lambda: psutil.Process(leader.pid).status() == psutil.STATUS_ZOMBIE, 30, "the leader to exit")
    try:
        assert runner.live_members(leader.pid) == runner._live_members_psutil(leader.pid) == []
        done = threading.Thread(target=runner.kill_group, args=(leader.pid,), kwargs={"grace_s": 3600})
        done.start()
        done.join(timeout=60)
        assert not done.is_alive(), "kill_group waited on a zombie"
    finally:
        leader.wait(timeout=10)


def test_a_process_whose_main_thread_exited_is_still_killed() -> None:
    """Its main thread gone, /proc shows the process as a zombie while another thread runs (and
    ignores SIGTERM): it is still a member to kill (review finding)."""
    import sys

    from batty import runner

    code = ("import ctypes, signal, threading, time\n"
            "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
            "threading.Thread(target=time.sleep, args=(600,)).start()\n"
            "print('ready', flush=True)\n"
            "ctypes.CDLL(None).pthread_exit(None)\n")
    proc = subprocess.Popen([sys.executable, "-c", code], start_new_session=True, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline() == "ready\n"
        wait_for(lambda: psutil.Process(proc.pid).status() == psutil.STATUS_ZOMBIE, 30, "the main thread to exit")
        assert runner.live_members(proc.pid) == [proc.pid]
        runner.kill_group(proc.pid, grace_s=0.5)
        assert proc.wait(timeout=30) == -9
    finally:
        proc.kill()


def test_usage_and_exit_land_in_run_json(proj: Project) -> None:
    tid = proj.task("Edit", "succeed")
    proj.ok("dispatch")
    proj.wait_exited(tid)
    run = json.loads((proj.paths.run_dir(tid, 1) / "run.json").read_text())
    assert run["exit_code"] == 0 and run["duration_s"] >= 0 and run["ended"].endswith("+00:00")
    assert set(run["usage"]) >= {"input_tokens", "output_tokens", "cost_usd"}
    (exited,) = proj.events("agent.exited", tid)
    assert exited["data"]["exit_code"] == 0 and exited["corr"] == f"{tid}#1"


def test_disk_pressure_pauses_dispatch(proj: Project) -> None:
    proj.configure({"disk": {"min_free_mb": 10**9}})
    tid = proj.task("Edit", "succeed")
    res = proj.ok("dispatch")
    assert "dispatch paused: disk:" in res.err
    assert proj.status(tid) == "todo"


def test_a_missing_agent_binary_is_one_line(proj: Project) -> None:
    proj.configure({"agents": {"ghost": {"argv": ["no-such-agent-binary", "{prompt_file}"], "prompt": "file"}},
                    "seats": [{"name": "eng-1", "agent": "ghost"}]})
    proj.task("Edit", "succeed")
    res = proj.batty("dispatch")
    assert res.code == 1 and "program 'no-such-agent-binary' is not on PATH" in res.err
    assert "Traceback" not in res.err
    # issue 16: the hint named agents.ghost.binary, a key an argv agent refuses
    assert "agents.ghost.argv[0]" in res.err and ".binary" not in res.err
    # and lint said nothing of it; now it warns (a machine's lack, not a problem of the board)
    lint = proj.batty("task", "lint")
    assert "batty: warning: board/config.yaml:" in lint.err and "no-such-agent-binary" in lint.err


def test_a_missing_builtin_cli_names_its_binary_key(proj: Project) -> None:
    proj.configure({"agents": {"aider": {"binary": "/nowhere/aider"}},
                    "seats": [{"name": "eng-1", "agent": "aider"}]})
    lint = proj.batty("task", "lint")
    assert "warning:" in lint.err and "agents.aider.binary" in lint.err and "/nowhere/aider" in lint.err


def test_preemption_makes_room_for_priority_zero(proj: Project) -> None:
    proj.configure({"dispatch": {"preempt": True}, "seats": [{"name": "eng-1", "agent": "shell"}]})
    slow = proj.task("Slow", ["echo '# started' >> src/app.py", "git add -A && git commit -qm wip", "sleep 600"],
                     priority=3)
    proj.ok("dispatch")
    wait_for(lambda: proj.run_state(slow) == "running", 15, "the slow agent")
    # running is not yet committed: preempted before its commit, the agent leaves no "wip"
    wait_for(lambda: "wip" in git(proj.paths.worktree(slow), "log", "--format=%s"), 15, "the slow agent's commit")
    urgent = proj.task("Urgent", "succeed", priority=0)
    proj.ok("dispatch")
    p = proj.packet(slow)
    assert p["status"] == "todo" and p["preempted"] is True and "stopped for T-2" in p["handoff"]
    assert proj.paths.worktree(slow).exists()
    assert proj.packet(urgent)["assignee"] == "eng-1"
    (stopped,) = proj.events("agent.stopped", slow)
    assert stopped["data"]["reason"] == "preempted"
    proj.wait_exited(urgent)
    proj.ok("verify")
    proj.ok("merge")
    proj.ok("dispatch")  # the slow task resumes on its own branch with the hand-off note
    p = proj.packet(slow)
    assert p["status"] == "in-progress" and p["attempt"] == 2
    assert "Hand-off note" in (proj.paths.run_dir(slow, 2) / "prompt.md").read_text()
    assert "wip" in git(proj.paths.worktree(slow), "log", "--format=%s")


@pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed (make test installs it)")
def test_the_tmux_runner_gives_each_seat_a_window(proj: Project) -> None:
    proj.configure({"runner": "tmux"})
    tid = proj.task("Talk then stall", ["echo hello-from-the-agent", "sleep 600"])
    proj.ok("dispatch")
    wait_for(lambda: proj.run_state(tid) == "running", 15, "the agent in tmux")
    from batty import runner

    assert "eng-1" in runner.tmux_windows(proj.root)
    argv = proj.ok("attach", "eng-1", "--print").out.split()
    assert argv[:2] == ["tmux", "-L"] and argv[-1].endswith(":eng-1")
    sock = runner.tmux_socket(proj.root)

    def pane() -> str:
        return subprocess.run(["tmux", "-L", sock, "capture-pane", "-p", "-t", f"{sock}:eng-1"],
                              capture_output=True, text=True, timeout=10).stdout

    wait_for(lambda: "hello-from-the-agent" in pane(), 15, "the agent's output in its pane")
    env = subprocess.run(["tmux", "-L", sock, "show-environment", "-g"], capture_output=True, text=True,
                         timeout=10).stdout
    assert "GIT_AUTHOR_NAME" not in env  # the server started with a clean environment
    runner.stop(proj.paths.run_dir(tid, 1))
    subprocess.run(["tmux", "-L", sock, "kill-server"], capture_output=True, timeout=10)


def test_another_machines_claim_is_left_to_that_machine(proj: Project) -> None:
    """SPEC 10: a packet in progress on another host (it came in by sync) is not relaunched,
    healed or requeued here, and does not hold this machine's seat."""
    theirs = proj.task("Theirs", "succeed")
    path = proj.paths.packet(theirs)
    path.write_text(path.read_text().replace("status: todo", "status: in-progress")
                    + "assignee: eng-1\nattempt: 1\nhost: another-machine\n")
    git(proj.root, "commit", "-qam", "their claim, as sync brings it")
    mine = proj.task("Mine", "succeed")
    for _ in range(3):
        assert proj.batty("tick").code in (0, 75)
    p = proj.packet(theirs)
    assert (p["status"], p["attempt"], p["host"]) == ("in-progress", 1, "another-machine")
    assert proj.events("agent.started", theirs) == [] and proj.events("doctor.action", theirs) == []
    assert not proj.paths.run_dir(theirs, 1).exists()
    assert proj.packet(mine)["assignee"] == "eng-1"  # this machine's eng-1 was free
    assert proj.packet(mine)["host"]


def test_a_planner_cannot_choose_its_childrens_test_command(proj: Project) -> None:
    """Review finding: an untrusted planner wrote `test: "true"` for its children."""
    proj.configure({"seats": [{"name": "plan-1", "agent": "shell", "role": "planner"}],
                    "planner": {"min_complexity": 1, "max_children": 8}})
    epic = proj.task("Epic", ["echo '- title: One' > plan.yaml", "echo '  test: \"true\"' >> plan.yaml"],
                     scope=[], kind="epic", description="- a\n- b\n- c\n- d\n- e\n" * 20)
    proj.ok("dispatch")
    proj.wait_exited(epic)
    proj.ok("verify")
    p = proj.packet(epic)
    assert p["status"] == "in-progress" and "unknown key 'test'" in p["feedback"]


def test_a_task_without_a_script_goes_to_a_seat_that_can_do_it(tmp_path: Path) -> None:
    """Issue 16: a task with no script went to a script-only seat while a suitable seat sat
    free, and burned an attempt."""
    from batty.agents import BUILTIN
    from batty.core import dispatch_plan as planning
    from batty.core.config import validate
    from batty.core.packet import validate as from_dict

    # overlap allowed: its tasks have no scope, so they would wait for one another (SPEC 13)
    cfg = validate({"seats": [{"name": "script-1", "agent": "shell"}, {"name": "eng-1", "agent": "claude"}],
                    "dispatch": {"overlap": "allow"}}, builtin=BUILTIN)
    brief = from_dict({"id": "T-1", "title": "Write the docs", "status": "todo"})
    scripted = from_dict({"id": "T-2", "title": "Scripted", "status": "todo", "script": ["true"]})
    plan = planning.plan(cfg, {"T-1": brief, "T-2": scripted}, [brief, scripted], {})
    assert {(a.task, a.seat) for a in plan.assign} == {("T-1", "eng-1"), ("T-2", "script-1")}
    # the other seat busy: it waits for it rather than burn an attempt on the scripted agent
    running = from_dict({"id": "T-3", "title": "Running", "status": "in-progress", "assignee": "eng-1",
                         "attempt": 1})
    plan = planning.plan(cfg, {"T-1": brief, "T-3": running}, [brief], {})
    assert plan.assign == () and plan.waiting == (("T-1", "no free seat"),)
