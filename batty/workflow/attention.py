"""What waits for a person, each as a sentence with the command that resolves it (issue 16.5).

Measured: a task waiting for `batty approve`, one held back by uncommitted edits in the control
checkout, a broken packet and a cron that stopped ticking showed only as counts, or not at all.
:func:`notices` lists every such state from the board as it is; `status` prints them, and
``tick`` raises each task-bound one as an escalation (INBOX.md, one notification, folded while
it lasts: :func:`escalate_waits`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from batty.core.lifecycle import Status

if TYPE_CHECKING:
    from batty.core.config import Config
    from batty.store.paths import Paths
    from batty.workflow.state import State

# A tick older than this many cron intervals (one minute) is news: cron stopped, or its line went
STALE_TICK_S = 5 * 60


@dataclass(frozen=True)
class Notice:
    kind: str       # approval | low-confidence | dirty-base | disk | broken-packet | login | binary
                    # | no-tick | trusted-tests
    what: str       # a sentence
    do: str         # the command (or edit) that resolves it
    task: str | None = None

    def line(self) -> str:
        return f"{self.task + ': ' if self.task else ''}{self.what} ({self.do})"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def config_notices(paths: Paths, config: Config, *, trusted: bool = True) -> list[Notice]:
    """The config against the repository and this machine: trusted_tests (``trusted``: it reads
    the base's tree, a few git processes: not every tick), the agents' CLIs."""
    from batty.agents.schema import missing_binary
    from batty.workflow.survey import login_of, trusted_gaps

    out = [Notice("trusted-tests", what, valid) for what, valid in trusted_gaps(paths.root, config)] \
        if trusted else []
    told: set[str] = set()
    for seat in config.seats:
        if seat.agent in told:
            continue
        told.add(seat.agent)
        missing = missing_binary(seat.agent, config.agent_entry(seat.agent))
        if missing:
            out.append(Notice("binary", missing[0], missing[1]))
            continue
        logged, why = login_of(seat.agent)
        if not logged:
            out.append(Notice("login", f"agent {seat.agent} is not logged in here ({why})",
                              f"log in with `{seat.agent}` once, or put its key in the cron env "
                              "file (docs/tick.md#credentials-under-cron)"))
    return out


def task_notices(st: State) -> list[Notice]:
    """Tasks only a person can move on, from the packets and the last merge skips."""
    cfg = st.config
    out: list[Notice] = []
    for problem in st.packets.problems:
        task = _task_of(str(getattr(problem, "file", "") or ""))
        out.append(Notice("broken-packet", f"its packet does not load: {problem}",
                          f"batty task edit {task}" if task else "fix the file", task))
    dirty = _dirty_waits(st)
    for p in st.packets:
        if p.status is not Status.REVIEW:
            continue
        if p.id in dirty:
            out.append(Notice("dirty-base", "verified, but uncommitted edits in the control checkout "
                              f"are in the way of landing it on {cfg.base}",
                              "commit or stash them: `git status`", p.id))
        elif waits_for_approval(st, p, cfg):
            score = (p.merge or {}).get("confidence")
            held = (p.merge or {}).get("held") or []
            if held:
                out.append(Notice("runner-files", "verified, but it changes the test runner's, the agents' "
                                  f"or git's own files ({', '.join(map(str, held[:5]))}): a person "
                                  "reviews them", f"look at `batty trace {p.id}`, then `batty approve {p.id}`",
                                  p.id))
            elif cfg.merge.mode == "approve":
                out.append(Notice("approval", "verified; merge.mode is approve, so it waits for you",
                                  f"batty approve {p.id}", p.id))
            else:
                out.append(Notice("low-confidence", f"verified, but its confidence {score} is under "
                                  f"merge.min_confidence {cfg.merge.min_confidence}",
                                  f"look at `batty trace {p.id}`, then `batty approve {p.id}`", p.id))
    return out


def waits_for_approval(st: State, p: Any, cfg: Config) -> bool:
    """Merge holds a reviewed task for a person: merge.mode approve, files of the runner's it
    changes, or its confidence under merge.min_confidence (tick.idle asks the same). An approval
    is a `batty approve` event for the commit merge scored, as merge reads it, not the packet's
    field alone (a hand-edited `approved: true` would hide a task merge still holds)."""
    from batty.workflow import approvals

    record = p.merge or {}
    if approvals.approved(st, p, record.get("for_sha") or ""):
        return False
    if cfg.merge.mode == "approve" or record.get("held"):
        return True
    score = record.get("confidence")
    return isinstance(score, (int, float)) and score < cfg.merge.min_confidence


def machine_notices(st: State) -> list[Notice]:
    from batty.workflow.attempt import disk_pause

    out: list[Notice] = []
    waiting = any(p.status in (Status.TODO, Status.IN_PROGRESS) for p in st.packets)
    paused = disk_pause(st) if waiting else None
    if paused:
        out.append(Notice("disk", f"dispatch is paused ({paused})",
                          "free some space, or lower disk.min_free_mb"))
    gap = tick_gap(st.paths)
    if gap:
        out.append(gap)
    return out


def tick_gap(paths: Paths) -> Notice | None:
    """No tick for longer than STALE_TICK_S while cron is meant to run one every minute (its
    line was installed, or it ran here before): the cron daemon stopped, or its line went."""
    import os
    import time

    from batty.store.events import last_of

    marks = [paths.state / "cron.installed", paths.state / "cron.log"]
    since = [m.stat().st_mtime for m in marks if m.exists()]
    if not since:
        return None  # ticks come from a person or `batty run`: no schedule to miss
    tick = last_of(paths.events, {"tick.finished"})
    if tick is not None:
        from batty.core import clock

        ago = clock.age_s(tick.get("ts"))
        if ago is not None:
            since.append(time.time() - ago)
    if os.environ.get("BATTY_NOW"):
        return None  # a frozen clock (tests of other things) is no missed schedule
    age = time.time() - max(since)
    if age <= STALE_TICK_S:
        return None
    return Notice("no-tick", f"no tick for {age / 60:.0f} minutes though cron should run one every "
                  "minute: is the cron daemon running?",
                  "`pgrep cron`, `batty cron show`, .batty/cron.log; `batty doctor --check`")


def notices(st: State) -> list[Notice]:
    return [*task_notices(st), *machine_notices(st), *config_notices(st.paths, st.config)]


def _task_of(file: str) -> str | None:
    import re

    m = re.search(r"board/tasks/([^/]+)\.yaml$", file)
    return m.group(1) if m else None


def _dirty_waits(st: State) -> set[str]:
    """Tasks whose last merge was skipped for uncommitted edits in the control checkout, with no
    landing or other skip since (read from the tail of the event log)."""
    import json

    review = {p.id for p in st.packets if p.status is Status.REVIEW}
    if not review:
        return set()
    try:
        with open(st.paths.events, "rb") as f:
            end = f.seek(0, 2)
            f.seek(max(0, end - (512 << 10)))
            tail = f.read().split(b"\n")[1:]
    except OSError:
        return set()
    last: dict[str, str] = {}
    for raw in tail:
        if b'"merge.' not in raw:
            continue
        try:
            ev = json.loads(raw)
        except ValueError:
            continue
        if ev.get("task") in review and ev.get("kind") in ("merge.skipped", "merge.merged", "merge.conflict"):
            last[ev["task"]] = str((ev.get("data") or {}).get("reason") or ev.get("kind"))
    return {t for t, why in last.items() if why == "dirty-base"}


def escalate_waits(st: State) -> list[str]:
    """Raise an escalation for each task-bound wait (INBOX.md and one notification, issue 16.5),
    once per wait: not again while one for the same task and wait was raised since the task's
    last verification (a fold would rewrite the packet, and commit the board, every tick). Doctor
    demotes it once the task is done. Returns the ids raised."""
    from batty.workflow.escalations import all_escalations, raise_escalation

    notes = task_notices(st)
    waits = [n for n in notes if n.task is not None and n.kind != "broken-packet"]
    # about no packet batty can write to: kept in .batty/escalations.json, raised while none
    # with the same reason is open (a person resolves it once it is fixed)
    loose = [n for n in notes if n.kind == "broken-packet"]
    loose += [n for n in machine_notices(st) if n.kind == "disk"]
    loose += [n for n in config_notices(st.paths, st.config, trusted=False) if n.kind in ("login", "binary")]
    if not waits and not loose:
        return []
    records = all_escalations(st)
    raised: list[str] = []
    for n in loose:
        reason = f"waits: {n.kind}" + (f" {n.task}" if n.task else "")
        if any(r.get("reason") == reason and (r.get("state") or "open") == "open" for r in records):
            continue
        rec = raise_escalation(st, tasks=[], reason=reason, text=f"{n.line()}", source="tick")
        raised.append(str(rec.get("id")))
    for n in waits:
        reason = f"waits: {n.kind}"
        p = st.packets.get(n.task or "")
        since = str(((p.verification or {}).get("at") if p is not None else "") or "")
        if any(r.get("reason") == reason and n.task in (r.get("tasks") or [])
               and str(r.get("at") or "") >= since for r in records):
            continue
        rec = raise_escalation(st, tasks=[n.task or ""], reason=reason,
                               text=f"{n.task} {n.what}.\nTo move it on: {n.do}", source="tick")
        raised.append(str(rec.get("id")))
    return raised
