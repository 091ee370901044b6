"""The attempts room: an in-progress attempt's agent dead, stalled, out of context or past its
runtime: requeue, respawn, context reset, kill past the limit, or escalate (decided by
:mod:`batty.core.health`)."""

from __future__ import annotations

import os
import time
from functools import partial
from pathlib import Path
from typing import Any

from batty import runner
from batty.core import clock, health
from batty.core.kinds import Kind
from batty.core.lifecycle import Actor, Status
from batty.core.packet import Packet
from batty.store import atomic, failpoints, locks
from batty.workflow.doctor.base import RESPAWN_FILE, ROTATED, A, Doctor, Finding
from batty.workflow.doctor.journal import logged_ids
from batty.workflow.doctor.worktrees import _branch_exists

STOPPING = "stopping.json"  # in the run dir: doctor stops this agent for a heal (write-ahead)
LOG_TAIL = 256 << 10          # how much of a running agent's log is read for "out of context"


def attempt_stage(doc: Doctor) -> list[Finding]:
    out = []
    cfg = doc.cfg
    from batty.workflow.state import is_local

    for p in sorted(doc.st.packets, key=lambda p: (p.priority, p.id)):
        if p.status is not Status.IN_PROGRESS or not is_local(p):
            continue  # another machine's claim is that machine's doctor's
        cut = _respawn_cut_short(doc, p)
        if cut is not None:
            out.append(cut)
            continue
        view = observe(doc, p)
        verdict = health.judge(view, cfg.health, cfg.gates.max_attempts)
        if verdict is None:
            continue
        action = A.ESCALATE if verdict.escalate else verdict.action or A.RESPAWN
        data = {"reason": verdict.reason}
        if verdict.escalate:
            data["fault"] = (verdict.action or A.RESPAWN).value
        f = Finding(action, verdict.detail, task=p.id, attempt=p.attempt, seat=p.assignee,
                    wait=not verdict.heals, data=data)
        if verdict.heals:
            f.fix = partial(heal, doc, p, verdict)
            if action is A.RESPAWN:
                f.done = partial(_respawn_done, doc.paths.run_dir(p.id, p.attempt))
        out.append(f)
    return out


def observe(doc: Doctor, p: Packet) -> health.AttemptView:
    now = time.time()
    run_dir = doc.paths.run_dir(p.id, p.attempt) if p.attempt else None
    state = runner.run_state(run_dir) if run_dir else "none"
    run = (runner.read_run(run_dir) if run_dir else None) or {}
    silent = runtime = since = None
    output = False
    exhausted = bool(run.get("context_exhausted"))
    stopped_for = None
    if run_dir is not None:
        if state == "running":
            silent = runner.last_output_age(run_dir)
            if run.get("started_epoch"):
                runtime = now - float(run["started_epoch"])
            # an agent that said its context ran out but keeps running (as under tmux) is out of
            # context now, not a stall later (issue 5)
            exhausted = _says_out_of_context(run_dir, run)
        record = atomic.read_json(run_dir / RESPAWN_FILE)
        if record and (record.get("launched_at") or record.get("at")):
            # from when the respawned agent started: the stop before it can take its whole grace
            since = now - float(record.get("launched_at") or record["at"])
        try:
            output = (run_dir / "agent.log").stat().st_size > 0
        except OSError:
            output = False
        if state == "exited":
            stopped_for = (atomic.read_json(run_dir / STOPPING) or {}).get("action")
    return health.AttemptView(
        task=p.id, status=p.status, attempt=p.attempt,
        judged=int((p.verification or {}).get("attempt") or 0) == p.attempt and p.attempt > 0,
        state=state, silent_s=silent, runtime_s=runtime,
        context_exhausted=exhausted, since_respawn_s=since,
        output_since_respawn=output, respawns=p.respawns,
        seat_known=p.assignee is None or doc.cfg.seat(p.assignee) is not None,
        has_worktree=(doc.paths.worktree(p.id) / ".git").exists(),
        has_branch=_branch_exists(doc, p.id), stopped_for=stopped_for)


def _says_out_of_context(run_dir: Path, run: dict[str, Any]) -> bool:
    from batty.agents.usage import context_exhausted  # what the wrapper reads once the agent exits

    agent = run.get("agent") or (atomic.read_json(run_dir / "launch.json") or {}).get("agent")
    if not agent:
        return False
    try:
        with open(run_dir / "agent.log", "rb") as f:
            size = f.seek(0, 2)
            f.seek(max(0, size - LOG_TAIL))
            text = f.read().decode("utf-8", errors="replace")
    except OSError:
        return False
    return context_exhausted(str(agent), text)


def heal(doc: Doctor, p: Packet, v: health.Verdict) -> dict[str, Any]:
    st = doc.st
    p = st.packets.require(p.id)
    run_dir = st.paths.run_dir(p.id, p.attempt)
    # no dispatch launches meanwhile
    with locks.hold(st.paths.state, "dispatch", cmd=st.app.cmd, wait_s=getattr(st, "step_wait", None)):
        if v.action is A.REQUEUE:
            return _requeue(doc, p, v, run_dir)
        if v.escalate or v.action is not A.RESPAWN:
            # said before the agent is stopped: a crash after the stop still knows why (the
            # agent reads as exited, which else would be verify's to fail)
            if runner.run_state(run_dir) in ("running", "dead"):
                atomic.write_json(run_dir / STOPPING, {
                    "action": (v.action or A.RESPAWN).value, "reason": v.reason, "at": clock.now_iso(),
                    "runtime_s": round(_runtime(run_dir) or 0, 1)})
            _stop(doc, p, run_dir, reason=v.reason)
        if v.escalate:
            failpoints.point("doctor.escalate.after-stop")
            reason = {"respawn": "respawns-exhausted", "context-reset": "context-exhausted",
                      "kill-overtime": "overtime"}[v.action.value if v.action else "respawn"]
            doc.block(p, f"doctor gave up: {v.detail}", reason=reason,
                      text=atomic.tail(run_dir / "agent.log", 1500),
                      verification={"attempt": p.attempt, "result": v.reason, "at": clock.now_iso()})
            return {}
        if v.action is A.RESPAWN:
            return _respawn(doc, p, v, run_dir)
        return _next_attempt(doc, p, v, run_dir)


def _runtime(run_dir: Path) -> float | None:
    started = (runner.read_run(run_dir) or {}).get("started_epoch")
    return time.time() - float(started) if started else None


def _stop(doc: Doctor, p: Packet, run_dir: Path, *, reason: str) -> None:
    if runner.stop(run_dir):
        doc.st.events.emit(Kind.AGENT_STOPPED, task=p.id, seat=p.assignee, attempt=p.attempt,
                           reason=reason)
    if runner.run_state(run_dir) == "dead":
        # The wrapper is gone without an exit record: write the one it could not, so that the
        # attempt reads as over (dispatch starts the next one after a verdict).
        run = runner.read_run(run_dir)
        if run is not None:
            run.update(ended=clock.now_iso(), stopped=True, stopped_by="doctor")
            atomic.write_json(run_dir / "run.json", run)


def _requeue(doc: Doctor, p: Packet, v: health.Verdict, run_dir: Path) -> dict[str, Any]:
    from batty.workflow.attempt import handoff_note

    _stop(doc, p, run_dir, reason="requeued")
    failpoints.point("doctor.requeue.after-stop")
    note = handoff_note(doc.st, p, why=f"requeued by doctor ({v.detail})") if v.reason != "lost" else None
    doc.st.transition(p, Status.TODO, Actor.DOCTOR, v.detail, assignee=None, handoff=note,
                      verification={"attempt": p.attempt, "result": "requeued", "at": clock.now_iso()})
    return {}


# ------------------------------------------------------------------ respawn

# A respawn is several writes (the old agent stopped, its files moved aside, the packet, the
# new agent, two events), so respawn.json is its write-ahead record: written first, with a
# ``phase`` moved on as it goes (begun, rotated, launched, done). A crash anywhere leaves a
# record short of done, which the next doctor run completes from its phase, before dispatch
# could take the attempt's empty run folder for a claim never launched (a second
# task.dispatched of the same attempt) and before any rule looks at the attempt. Events a
# respawn cut short may or may not have written are looked for in the log first.


def _respawn(doc: Doctor, p: Packet, v: health.Verdict, run_dir: Path) -> dict[str, Any]:
    """A fresh agent for the same attempt: the old one's files are kept in respawn.N/."""
    from batty.workflow.attempt import handoff_note

    n = 1
    while (run_dir / f"respawn.{n}").exists():
        n += 1
    note = handoff_note(doc.st, p, why=f"stopped by doctor ({v.reason}: {v.detail}) and is respawned")
    record: dict[str, Any] = {"at": time.time(), "n": n, "reason": v.reason, "respawns": p.respawns + 1,
                              "kept": f"respawn.{n}", "phase": "begun", "handoff": note}
    if v.reason == "stalled":
        record["silent_s"] = round(runner.last_output_age(run_dir) or 0, 1)
    atomic.write_json(run_dir / RESPAWN_FILE, record)
    failpoints.point("doctor.respawn.after-intent")
    return _respawn_from(doc, p, run_dir, record, resumed=False)


def _respawn_from(doc: Doctor, p: Packet, run_dir: Path, record: dict[str, Any], *,
                  resumed: bool) -> dict[str, Any]:
    st = doc.st
    keep = run_dir / str(record["kept"])

    def logged(kind: str, field: str, value: Any) -> bool:
        return resumed and value in logged_ids(st.paths, kind, field, task=p.id, attempt=p.attempt)

    if record["phase"] == "begun":
        if "silent_s" in record and not logged(Kind.AGENT_STALLED, "silent_s", record["silent_s"]):
            st.events.emit(Kind.AGENT_STALLED, task=p.id, seat=p.assignee, attempt=p.attempt,
                           silent_s=record["silent_s"])
        _stop(doc, p, run_dir, reason="respawn")
        failpoints.point("doctor.respawn.after-stop")
        keep.mkdir(exist_ok=True)
        for name in ROTATED:  # nothing new is launched before "rotated": these are the old agent's
            if (run_dir / name).exists():
                os.replace(run_dir / name, keep / name)
        record = {**record, "phase": "rotated"}
        atomic.write_json(run_dir / RESPAWN_FILE, record)
        failpoints.point("doctor.respawn.after-rotate")
    if record["phase"] == "rotated":
        p = st.update(p, respawns=record["respawns"], handoff=record.get("handoff"))
        st.notes.append(f"{p.id} attempt {p.attempt} respawned ({record['reason']})")
        failpoints.point("doctor.respawn.after-update")
        # launched already by the run cut short: the agent may even have finished since
        launched = _launch(doc, p, p.attempt) if runner.run_state(run_dir) == "none" else True
        if not logged(Kind.AGENT_RESPAWNED, "respawns", record["respawns"]):
            st.events.emit(Kind.AGENT_RESPAWNED, task=p.id, seat=p.assignee, attempt=p.attempt,
                           reason=record["reason"], respawns=record["respawns"])
        failpoints.point("doctor.respawn.after-event")
        record = {**record, "phase": "launched", "launched": launched, "launched_at": time.time()}
        atomic.write_json(run_dir / RESPAWN_FILE, record)
    return {"respawns": record["respawns"], "kept": st.paths.rel(keep),
            "launched": record.get("launched")}


def _respawn_done(run_dir: Path) -> None:
    record = atomic.read_json(run_dir / RESPAWN_FILE) or {}
    atomic.write_json(run_dir / RESPAWN_FILE, {**record, "phase": "done"})


def _respawn_cut_short(doc: Doctor, p: Packet) -> Finding | None:
    """The finding that completes a respawn a crash cut short (its record short of done)."""
    if not p.attempt:
        return None
    run_dir = doc.paths.run_dir(p.id, p.attempt)
    record = atomic.read_json(run_dir / RESPAWN_FILE) or {}
    phase = record.get("phase")
    if phase in (None, "done") or int((p.verification or {}).get("attempt") or 0) == p.attempt:
        return None  # done (or written before phases), or the attempt is over anyway
    kept = doc.paths.rel(run_dir / str(record.get("kept")))
    if phase == "launched" and kept in logged_ids(doc.paths, Kind.DOCTOR_ACTION, "kept", task=p.id,
                                                  attempt=p.attempt, action=A.RESPAWN.value):
        if not doc.check:
            _respawn_done(run_dir)  # cut short after its event: only the record was open
        return None

    def fix() -> dict[str, Any]:
        with locks.hold(doc.paths.state, "dispatch", cmd=doc.st.app.cmd,
                        wait_s=getattr(doc.st, "step_wait", None)):
            return _respawn_from(doc, doc.st.packets.require(p.id), run_dir, record, resumed=True)

    return Finding(A.RESPAWN, f"a respawn a crash cut short ({phase}): completed", task=p.id,
                   attempt=p.attempt, seat=p.assignee, data={"reason": record.get("reason")},
                   fix=fix, done=partial(_respawn_done, run_dir))


def _next_attempt(doc: Doctor, p: Packet, v: health.Verdict, run_dir: Path) -> dict[str, Any]:
    """Context reset or kill-overtime: this attempt is over (a doctor verdict, so verify leaves
    it); the next one starts with a hand-off note, here or by the next dispatch."""
    from batty.workflow.attempt import handoff_note

    st = doc.st
    failpoints.point("doctor.next-attempt.after-stop")
    if v.action is A.CONTEXT_RESET:
        why, result, feedback = "stopped: its context window ran out", "context-exhausted", p.feedback
    else:
        runtime = (atomic.read_json(run_dir / STOPPING) or {}).get("runtime_s") or _runtime(run_dir)
        secs = f"{float(runtime):.0f}" if runtime else "?"
        why = f"killed after {secs} s (health.max_runtime_s {doc.cfg.health.max_runtime_s})"
        result, feedback = "killed", f"Attempt {p.attempt} was {why}. Work in smaller steps and finish sooner."
    note = handoff_note(st, p, why=why)
    p = st.transition(p, Status.IN_PROGRESS, Actor.DOCTOR, why, handoff=note, feedback=feedback,
                      note=f"{p.id} attempt {p.attempt} {result}",
                      verification={"attempt": p.attempt, "result": result, "at": clock.now_iso()})
    failpoints.point("doctor.next-attempt.after-verdict")
    launched = _launch(doc, p, p.attempt + 1)
    return {"launched": launched, "next_attempt": p.attempt + 1}


def _launch(doc: Doctor, p: Packet, attempt: int) -> bool:
    """Start attempt ``attempt`` on the task's seat now; False leaves it to dispatch (disk low,
    no seat)."""
    from batty.core.dispatch_plan import Assign
    from batty.workflow import attempt as attempt_mod

    if not p.assignee or doc.cfg.seat(p.assignee) is None:
        return False
    from batty.workflow import budget

    paused = attempt_mod.disk_pause(doc.st) or budget.refusal(doc.st, p.assignee, p.id)
    if paused:
        doc.st.app.warn(f"{p.id}: not launched now: {paused}")
        return False
    # a respawn (the same attempt) is not a new assignment: no task.dispatched
    attempt_mod.launch_one(doc.st, Assign(p.id, p.assignee, attempt, claim=False),
                        announce=attempt != p.attempt)
    return True


# ------------------------------------------------------------------ disk and escalations
