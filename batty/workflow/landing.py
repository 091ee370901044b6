"""A landing: what merge writes when a task lands, and how a landing a crash cut short is finished.

merge writes ``.batty/state/merge-intent.json`` before it moves the base. If the base holds the
intent's commit, the landing happened and its bookkeeping (the packet's ``merge``, the events, the
worktree) is finished by the next reconcile; otherwise the intent is void. Both merge and
reconcile come here, so neither borrows from the other (issue 13).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from batty.core import clock, confidence
from batty.core.kinds import Kind
from batty.core.lifecycle import Actor, Status
from batty.core.packet import Packet
from batty.errors import Busy
from batty.store import atomic, failpoints, git, locks, worktrees
from batty.store.paths import branch_of

if TYPE_CHECKING:
    from batty.workflow.state import State

BATTY_COMMITTER = {"GIT_COMMITTER_NAME": "batty", "GIT_COMMITTER_EMAIL": "batty@localhost"}

@dataclass
class Candidate:
    packet: Packet
    head: str
    merge_base: str
    score: confidence.Score
    commits: int | None = None  # the commits its last application put on the result (linear ones)
    # its score, not yet written to the packet: landing writes it with the rest of `merge`
    # (one packet write a task saved); a task that does not land gets it written at the end.
    # Its merge.confidence event goes with that write, never before it: a merge killed in
    # between leaves neither, and the next run scores the commit once
    unsaved: dict | None = None
    landing: Any = None  # checks' Landing: the test step it passed (or verify's run it reused)
    approved: bool | None = None  # a person's `batty approve` of this head (workflow/approvals.py)


def write_score(st: State, p: Packet, score: confidence.Score) -> None:
    st.events.emit(Kind.MERGE_CONFIDENCE, task=p.id, seat=p.assignee, attempt=p.attempt,
                   score=score.score, parts=score.parts)


def record_landing(st: State, c: Candidate, sha: str, base_sha: str, commits: int | None,
          why: str | None = None, gone: list[str] | None = None) -> None:
    """``gone``: where to put its branch for the caller to delete (with the others landed in the
    same run); else it is deleted here."""
    p = c.packet
    cfg = st.config
    auto = not (p.approved if c.approved is None else c.approved)
    if c.unsaved is not None:  # its score's event, with the landing that writes the score
        c.unsaved = None
        write_score(st, p, c.score)
    reused = c.landing.reused if c.landing is not None else None
    st.events.emit(Kind.MERGE_MERGED, task=p.id, seat=p.assignee, attempt=p.attempt, sha=sha,
                   base=cfg.base, strategy=cfg.merge.strategy, auto=auto, confidence=c.score.score,
                   commits=commits if commits is not None else 1, from_sha=base_sha,
                   **({"reused": True, "relied_on": reused} if reused else {}))
    st.transition(p, Status.DONE, Actor.MERGE, why or f"merged into {cfg.base} at {sha[:12]}",
                  expect_attempt=p.attempt,
                  merge={"sha": sha, "confidence": c.score.score, "parts": c.score.parts, "auto": auto,
                         "strategy": cfg.merge.strategy, "for_sha": c.head, "at": clock.now_iso(),
                         **({"reused": reused} if reused else {})})
    failpoints.point("merge.after-done")
    # issue 16.7: `batty merge` printed nothing when it landed a task
    st.app.say(f"{p.id}: landed on {cfg.base} at {sha[:12]} (confidence {c.score.score}"
               f"{', approved' if not auto else ''})")
    worktrees.remove(st.paths, p.id, branch=gone is None)
    if gone is not None:  # `branch -D` refuses it still, should its worktree have stayed
        gone.append(branch_of(p.id))


def complete_intent(st: State, *, dry_run: bool = False) -> None:
    """Finish a landing a crash cut short (see merge._land), or drop an intent that never landed.
    The plan (:func:`intent_plan`), then, unless ``dry_run``, its application."""
    intent_path = st.paths.state / "merge-intent.json"
    if not intent_path.exists():
        return
    try:  # a merge that is still running owns its intent: leave it be
        with locks.hold(st.paths.state, "merge", cmd=st.app.cmd, wait_s=0, quiet=True):
            st.reload()
            intent, finish = intent_plan(st, intent_path)
            for c in finish:
                st.app.say(f"{c.packet.id}: its landing was cut short; " + ("would finish it" if dry_run else "finishing it"))
            if not dry_run and intent is not None:
                for c in finish:
                    record_landing(st, c, intent["to"], intent["from"],
                                   intent["commits"] if len(intent["tasks"]) == 1 else None)
                intent_path.unlink(missing_ok=True)
    except Busy:
        return


def intent_plan(st: State, intent_path: Path) -> tuple[dict | None, list[Candidate]]:
    """The intent, and the landings to finish: each task of it still in review, when the base
    holds the intent's commit (none: the intent never landed, and is void)."""
    intent = atomic.read_json(intent_path)
    if intent is None:
        return None, []
    root = st.paths.root
    base_now = git.rev(root, f"refs/heads/{st.config.base}")
    finish: list[Candidate] = []
    if base_now and git.rev(root, intent["to"]) and git.is_ancestor(root, intent["to"], base_now):
        for t in intent["tasks"]:
            p = st.packets.get(t["id"])
            if p is None or p.status is not Status.REVIEW:
                continue
            finish.append(Candidate(p, t["head"], t["merge_base"], confidence.Score(t["score"], t["parts"]),
                                    unsaved={} if t.get("unsaved") else None))
    return intent, finish
