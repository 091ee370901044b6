"""A set-up for each task checkout (issue 19, SPEC 13): the command, .worktreeinclude, linked
caches, and a failing set-up that spends no attempt. Real repositories, real dispatch, the
built-in scripted agent."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.conftest import git
from tests.project import Project


@pytest.fixture
def proj(tmp_path: Path) -> Project:
    p = Project(tmp_path / "proj", seats=1)
    (p.root / ".gitignore").write_text((p.root / ".gitignore").read_text() + ".env\n.setup-ran\nshared-cache/\n")
    git(p.root, "add", ".gitignore")
    git(p.root, "commit", "-qm", "ignore what the set-up makes")
    return p


def test_the_set_up_runs_in_the_new_checkout_before_the_agent(proj: Project, tmp_path: Path) -> None:
    counter = proj.shared / "setups.txt"  # written by the set-up, in the agent's sandbox
    (proj.root / ".env").write_text("API_URL=http://127.0.0.1:1\n")  # ignored: not in any checkout
    (proj.root / ".worktreeinclude").write_text("# files the work needs\n.env\n")
    git(proj.root, "add", ".worktreeinclude")
    git(proj.root, "commit", "-qm", "worktreeinclude")
    proj.configure({"setup": {"command": f'echo "$BATTY_TASK in $PWD" > .setup-ran; echo ran >> {counter}',
                              "timeout_s": 60}})
    tid = proj.task("Needs its set-up", "needs-setup")
    proj.ok("dispatch")
    proj.wait_exited(tid)
    wt = proj.paths.worktree(tid)
    assert (wt / ".env").read_text() == "API_URL=http://127.0.0.1:1\n"
    assert (wt / ".setup-ran").read_text().strip() == f"{tid} in {wt}"
    (ev,) = proj.events("setup.passed", tid)
    assert ev["attempt"] == 1 and ev["data"]["copied"] == [".env"]
    kinds = [e["kind"] for e in proj.events(task=tid)]
    assert kinds.index("setup.passed") < kinds.index("task.dispatched") < kinds.index("agent.started")
    log = proj.paths.run_dir(tid, 1) / "setup.log"
    assert "copied .env" in log.read_text()
    evidence = proj.paths.evidence_dir(tid, 1)
    assert json.loads((evidence / "setup.json").read_text())["result"] == "pass"
    assert (evidence / "setup.log").read_text() == log.read_text()
    proj.ok("verify", tid)
    assert proj.status(tid) == "review", proj.packet(tid).get("feedback")
    # what the set-up made and the copy are ignored: not part of the work
    assert git(proj.root, "diff", "--name-only", f"main...batty/{tid}") == "src/app.py"
    # a judged attempt's next one starts fresh from the base (issue 15), in a new checkout: that
    # checkout is set up too, once
    proj.ok("review", tid, "--request-changes", "once more")
    proj.ok("dispatch")
    proj.wait_exited(tid)
    assert len(counter.read_text().splitlines()) == 2
    assert [e["attempt"] for e in proj.events("setup.passed", tid)] == [1, 2]
    assert (proj.paths.worktree(tid) / ".env").is_file()


def test_the_set_up_runs_as_the_agent_runs_its_environment_filtered(proj: Project, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    proj.configure({"notify": [{"url_env": "TEAM_HOOK_URL"}],
                    "setup": {"command": 'printf "%s|%s|%s" "$HOME" "${TEAM_HOOK_URL:-none}" "$BATTY_SETUP" > .setup-ran'}})
    tid = proj.task("Look at the set-up's environment", "succeed")
    proj.ok("dispatch", env={"TEAM_HOOK_URL": "json://127.0.0.1:9/secret"})
    home, secret, flag = (proj.paths.worktree(tid) / ".setup-ran").read_text().split("|")
    assert Path(home) == proj.paths.seat_home("eng-1") and secret == "none" and flag == "1"


def test_a_per_task_set_up_wins_over_the_config(proj: Project) -> None:
    proj.configure({"setup": {"command": "echo config > .setup-ran"}})
    tid = proj.task("Its own set-up", "succeed", setup="echo packet > .setup-ran")
    proj.ok("dispatch")
    assert (proj.paths.worktree(tid) / ".setup-ran").read_text() == "packet\n"


def test_a_failing_set_up_spends_no_attempt_and_is_escalated_after_max_respawns(proj: Project) -> None:
    proj.configure({"setup": {"command": "echo 'no network' >&2; exit 7"}, "health": {"max_respawns": 2}})
    tid = proj.task("Cannot be set up", "succeed")
    res = proj.batty("dispatch")
    assert res.code == 0 and f"{tid}: set-up `" in res.err and "exited 7" in res.err
    p = proj.packet(tid)
    assert p["status"] == "todo" and p["attempt"] == 0 and p["setup_failures"] == 1
    assert not proj.events("task.dispatched", tid) and not proj.events("agent.started", tid)
    (ev,) = proj.events("setup.failed", tid)
    assert ev["data"]["exit_code"] == 7 and ev["data"]["failures"] == 1
    assert "no network" in (proj.paths.run_dir(tid, 1) / "setup.log").read_text()
    assert not proj.events("escalation.raised", tid)
    proj.ok("dispatch")  # the next tick's try: the second failure in a row
    p = proj.packet(tid)
    assert p["status"] == "blocked" and p["attempt"] == 0 and not p.get("setup_failures")
    (esc,) = proj.events("escalation.raised", tid)
    assert esc["data"]["reason"] == "setup" and "no network" in esc["data"]["text"]
    assert "setup" in proj.paths.inbox.read_text()
    # a person mends it and resolves: the set-up runs again, the agent starts
    proj.configure({"setup": {"command": "true"}})
    proj.ok("escalations", "resolve", esc["data"]["escalation"])
    proj.ok("dispatch")
    assert proj.packet(tid)["attempt"] == 1 and proj.status(tid) == "in-progress"
    assert len(proj.events("setup.passed", tid)) == 1


def test_a_set_up_past_its_timeout_is_killed_and_fails(proj: Project, tmp_path: Path) -> None:
    # found by its command line: inside the sandbox's PID namespace its own pid says nothing here
    marker = f"batty-setup-sleeper-{os.getpid()}"
    proj.configure({"setup": {"command": f"bash -c 'exec -a {marker} sleep 300'", "timeout_s": 1}})
    tid = proj.task("Slow set-up", "succeed")
    res = proj.batty("dispatch")
    assert "ran past setup.timeout_s 1s" in res.err
    (ev,) = proj.events("setup.failed", tid)
    assert ev["data"]["reason"] == "timeout" and proj.status(tid) == "todo"
    import psutil

    alive = [p for p in psutil.process_iter(["cmdline", "status"])
             if marker in " ".join(p.info["cmdline"] or []) and p.info["status"] != psutil.STATUS_ZOMBIE]
    assert not alive


def test_a_shared_cache_is_linked_not_copied_and_not_committed(proj: Project) -> None:
    cache = proj.root / "shared-cache"
    (cache / "pkg").mkdir(parents=True)
    (cache / "pkg" / "lib.py").write_text("BUILT = True\n")
    proj.configure({"setup": {"link": ["shared-cache", "src"]}})  # src is tracked: refused
    tid = proj.task("Uses the cache", ["test -f shared-cache/pkg/lib.py", "echo '# x' >> src/app.py"])
    proj.ok("dispatch")
    proj.wait_exited(tid)
    link = proj.paths.worktree(tid) / "shared-cache"
    assert link.is_symlink() and link.resolve() == cache.resolve()
    (ev,) = proj.events("setup.passed", tid)
    assert ev["data"]["linked"] == ["shared-cache"]
    assert "src: not ignored by git" in (proj.paths.run_dir(tid, 1) / "setup.log").read_text()
    proj.ok("verify", tid)
    assert proj.status(tid) == "review", proj.packet(tid).get("feedback")
    assert git(proj.root, "diff", "--name-only", f"main...batty/{tid}") == "src/app.py"


def test_bad_setup_config_is_one_line(proj: Project) -> None:
    proj.configure({"setup": {"link": ["../outside"]}})
    res = proj.batty("dispatch")
    assert res.code == 1 and res.err.startswith("batty: board/config.yaml:") and "setup.link" in res.err
    assert "Traceback" not in res.err
