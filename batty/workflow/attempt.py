"""An attempt: what dispatch, doctor, verify and merge all need (issue 13: none borrows from a
sibling step). Which attempts must start (:func:`relaunch_needed`), whether the disk lets them
(:func:`disk_pause`), starting one on its seat (:func:`launch_one`), the hand-off note a fresh
agent gets, and a task blocked when its attempts run out (:func:`block`).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

from batty import runner
from batty.core import clock, prompt
from batty.core import dispatch_plan as planning
from batty.core.kinds import Kind
from batty.core.lifecycle import Actor, Status
from batty.core.packet import Packet
from batty.errors import BattyError
from batty.store import atomic, failpoints, worktrees
from batty.store.paths import branch_of

if TYPE_CHECKING:
    from batty.workflow.state import State


def relaunch_needed(st: State) -> dict[str, int]:
    """In-progress tasks whose next attempt must start: task -> attempt number."""
    out: dict[str, int] = {}
    from batty.workflow.state import is_local

    for p in st.packets:
        if p.status is not Status.IN_PROGRESS or not is_local(p):
            continue
        if p.attempt == 0:
            out[p.id] = 1
            continue
        run_dir = st.paths.run_dir(p.id, p.attempt)
        state = runner.run_state(run_dir)
        if state == "none":
            if _respawn_open(run_dir):
                continue  # a respawn a crash cut short: doctor completes it, with its own events
            out[p.id] = p.attempt  # claimed, never launched (a crash in between)
        elif state == "exited" and _judged(p):
            out[p.id] = p.attempt + 1  # the gate (or merge) sent it back
    return out


def _respawn_open(run_dir: Path) -> bool:
    """doctor's write-ahead record of a respawn of this attempt says it is not done: the empty
    run folder is a respawn between stopping the old agent and launching the new one, not a
    claim never launched (a second task.dispatched of the attempt, found by helper-13's review)."""
    record = atomic.read_json(run_dir / runner.RESPAWN_FILE) or {}
    return record.get("phase") not in (None, "done")


def _judged(p: Packet) -> bool:
    v = p.verification or {}
    return int(v.get("attempt") or 0) == p.attempt


def disk_pause(st: State) -> str | None:
    free_mb = shutil.disk_usage(st.paths.root).free // (1 << 20)
    if free_mb < st.config.disk.min_free_mb:
        return f"disk: {free_mb} MB free, under disk.min_free_mb {st.config.disk.min_free_mb}"
    return None


def check_binaries(st: State) -> None:
    from batty.agents.schema import missing_binary

    for seat in st.config.seats:
        missing = missing_binary(seat.agent, st.config.agent_entry(seat.agent))
        if missing:
            from batty.errors import InvalidInput

            raise InvalidInput(f"seat {seat.name}: {missing[0]}", file="board/config.yaml",
                               valid=missing[1])


def launch_one(st: State, a: planning.Assign, *, announce: bool = True) -> None:
    from batty.agents import build_launch

    cfg = st.config
    seat = cfg.seat(a.seat)
    assert seat is not None
    p = st.packets.require(a.task)
    run_dir = st.paths.run_dir(p.id, a.attempt)
    from batty.workflow import fresh

    if runner.run_state(run_dir) not in ("running", "launching"):
        # a stray branch moved aside; a judged attempt's branch cleared: this one starts from
        # the base (issue 15)
        fresh.prepare(st, p, a.attempt, run_dir)
    wt = worktrees.ensure(st.paths, p.id, cfg.base)
    failpoints.point("dispatch.after-worktree")
    if runner.run_state(run_dir) in ("running", "launching"):
        return  # already launched by a run that crashed before it could say so
    run_dir.mkdir(parents=True, exist_ok=True)
    test = p.test or cfg.gates.test
    # the attempt as the budget counts it: a person's unblock or answer restarts the count
    text = prompt.render(p, test=test, protected=cfg.gates.protected,
                         attempt=max(1, a.attempt - p.attempts_from),
                         max_attempts=cfg.gates.max_attempts,
                         planner_children=cfg.planner.max_children if seat.role == "planner" else None)
    if (run_dir / "previous.diff").exists():
        text += fresh.prompt_part("previous.diff", (run_dir / "previous.diff").stat().st_size >= fresh.MAX_DIFF)
    prompt_file = run_dir / "prompt.md"
    from batty.store import atomic

    atomic.write_text(prompt_file, text, durable=False)
    from batty.store.locks import host

    changes: dict[str, Any] = {"assignee": seat.name, "attempt": a.attempt, "branch": branch_of(p.id),
                               "host": host()}
    changes.update(_set_up(st, p, seat, a.attempt, wt, run_dir, prompt_file))  # before the claim
    if p.preempted:
        changes["preempted"] = None
    if a.claim:
        p = st.transition(p, Status.IN_PROGRESS, Actor.DISPATCH, f"dispatched to {seat.name}",
                          note=f"{p.id} {p.status.value} -> in-progress ({seat.name})", **changes)
    else:
        p = st.update(p, **changes)
    failpoints.point("dispatch.after-claim")
    if announce:  # doctor's respawn of the same attempt is not a new assignment
        st.events.emit(Kind.TASK_DISPATCHED, task=p.id, seat=seat.name, attempt=a.attempt,
                       agent=seat.agent, branch=branch_of(p.id), worktree=st.paths.rel(wt))
    entry = cfg.agent_entry(seat.agent)
    try:
        launch = build_launch(seat.agent, entry, prompt_file=prompt_file, task=p.id, attempt=a.attempt,
                              worktree=wt, seat_home=st.paths.seat_home(seat.name), environ=os.environ,
                              secrets=cfg.secret_names, script=list(p.script) or None)
    except BattyError as e:
        _launch_failed(st, p, seat.name, seat.agent, a.attempt, run_dir, e)
        raise
    for key, value in (("GIT_AUTHOR_NAME", f"{seat.name} (batty agent)"),
                       ("GIT_AUTHOR_EMAIL", f"{seat.name}@batty.localhost")):
        # commits on the task branch say which seat made them (config agents.X.env may say else)
        for k in (key, key.replace("AUTHOR", "COMMITTER")):
            if k not in (entry.get("env") or {}):
                launch.env[k] = value
    launch = _boxed(st, launch, wt, st.paths.seat_home(seat.name), prompt_file)
    meta = {"task": p.id, "attempt": a.attempt, "seat": seat.name, "agent": seat.agent,
            "entry": dict(entry)}
    runner.start(run_dir, launch=launch, meta=meta, runner=cfg.runner, root=st.paths.root)
    failpoints.point("dispatch.after-launch")


def _set_up(st: State, p: Packet, seat: Any, attempt: int, wt: Path, run_dir: Path,
            prompt_file: Path) -> dict[str, Any]:
    """The checkout's set-up (batty.workflow.setup), launched as this seat's agent will be; raises
    SetupFailed with nothing claimed. An agent that cannot be launched is failed after the
    claim, as before: its set-up is skipped."""
    from batty.workflow import setup

    command = setup.command_of(st, p)
    if not command and not st.config.setup.link and not (st.paths.root / setup.INCLUDE_FILE).is_file():
        return {}
    from batty.agents import build_launch

    try:
        launch = build_launch(seat.agent, st.config.agent_entry(seat.agent), prompt_file=prompt_file,
                              task=p.id, attempt=attempt, worktree=wt,
                              seat_home=st.paths.seat_home(seat.name), environ=os.environ,
                              secrets=st.config.secret_names, script=list(p.script) or None)
    except BattyError:
        return {}
    # the agent's launch with the set-up's argv: whatever wraps the agent's argv (the sandbox,
    # SPEC 11) wraps this one too, here, the same way
    boxed = (_boxed(st, setup.launch_of(launch, command), wt, st.paths.seat_home(seat.name), prompt_file)
             if command else None)
    return setup.prepare(st, p, seat, attempt, wt, run_dir, boxed)


def _boxed(st: State, launch: Any, wt: Path, home: Path, prompt_file: Path) -> Any:
    """The launch inside the agent's sandbox (batty.runner.sandbox, SPEC 11): its checkout and
    seat HOME writable, its prompt and script files read-only."""
    import dataclasses

    from batty.runner import sandbox

    read = [prompt_file, *(f for f in launch.files if prompt_file.parent in f.parents)]
    # the previous attempt's diff the prompt names (a fresh attempt, issue 15): beside the prompt
    read += [f for f in (prompt_file.parent / "previous.diff",) if f.is_file()]
    # what setup.link linked into the checkout from the control checkout: shown read-only, so
    # that the links resolve (a shared node_modules is used, never changed, from inside)
    read += [st.paths.root / rel for rel in st.config.setup.link if (wt / rel).is_symlink()]
    argv = sandbox.agent_argv(launch.argv, pol=sandbox.policy(st.config), checkout=wt, home=home,
                              env_path=launch.env.get("PATH", os.defpath), read=read, logins=launch.logins,
                              hide=(st.paths.root,))
    return dataclasses.replace(launch, argv=argv)


def _launch_failed(st: State, p: Packet, seat: str, agent: str, attempt: int, run_dir: Any,
                   error: BattyError) -> None:
    """An attempt whose agent cannot start failed at once: its run says so as the wrapper says a
    binary that would not start (exit 127), so verify fails it and, attempts spent, escalates.
    Left claimed without a run it held its seat for ever (tests/scenarios/test_unlaunchable_agent.py)."""
    from batty.store import atomic

    (run_dir / "agent.log").write_text(f"batty: could not start the {agent} agent: {error}\n",
                                       encoding="utf-8")
    now = clock.now_iso()
    atomic.write_json(run_dir / "run.json", {"task": p.id, "attempt": attempt, "seat": seat,
                                             "agent": agent, "started": now, "ended": now,
                                             "exit_code": 127, "duration_s": 0.0, "error": str(error)})
    st.events.emit(Kind.AGENT_EXITED, task=p.id, seat=seat, attempt=attempt, exit_code=127,
                   duration_s=0.0, usage={}, error=str(error))


def handoff_note(st: State, p: Packet, *, why: str) -> str:
    """What the next agent needs: why, the diff so far, the last output, the feedback."""
    from batty.store import git, repos

    wt = st.paths.worktree(p.id)
    stat = ""
    if wt.exists() and repos.is_own(wt):  # asked of the control repository, never of the checkout's git
        root = st.paths.root
        tip = repos.bring_back(root, wt, branch_of(p.id)) or git.rev(root, f"refs/heads/{branch_of(p.id)}")
        if tip:
            stat = git.out(root, "diff", "--stat", f"{st.config.base}...{tip}", check=False)[-2000:]
        dirty = repos.status(root, wt, tip, st.paths.state / "tmp")[-1000:] if tip else ""
        if dirty:
            stat += "\nUncommitted:\n" + dirty
    elif wt.exists():
        stat = git.out(wt, "diff", "--stat", f"{st.config.base}...HEAD", check=False)[-2000:]
        dirty = git.out(wt, "status", "--short", check=False)[-1000:]
        if dirty:
            stat += "\nUncommitted:\n" + dirty
    log = st.paths.run_dir(p.id, p.attempt) / "agent.log"
    try:
        last = log.read_bytes()[-1500:].decode("utf-8", errors="replace")
    except OSError:
        last = ""
    parts = [f"Attempt {p.attempt} was {why}. Carry on from where it stopped: the branch keeps its work."]
    if stat.strip():
        parts += ["", "Changes so far:", stat.strip()]
    if last.strip():
        parts += ["", "Its last output:", last.strip()]
    if p.feedback:
        parts += ["", "The feedback it had:", p.feedback.strip()]
    return "\n".join(parts) + "\n"


def block(st: State, p: Packet, why: str, text: str, *, reason: str, actor: Actor,
          **changes: Any) -> Packet:
    """Attempts exhausted: the task is blocked and a person is told. Told first: a crash in
    between leaves an open escalation and a verdict to give again (the second escalation folds
    into the first), never a blocked task nobody was told of
    (tests/scenarios/test_crash_between_block_and_escalation.py)."""
    from batty.workflow.escalations import raise_escalation

    raise_escalation(st, tasks=[p.id], reason=reason, text=f"{why}\n\n{text}", source=actor.value)
    return st.transition(p, Status.BLOCKED, actor, why, feedback=text, **changes)
