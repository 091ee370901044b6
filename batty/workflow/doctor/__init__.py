"""doctor (SPEC 9): find faults and heal them, each heal one ``doctor.action`` event.

The stages run in order, each one finding what is wrong (a list of :class:`Finding`, each with
the fix it would apply) and then, unless ``check``, applying the fixes: the tamper check, leaked
batty locks, stale git ``index.lock`` files, worktrees, orphan branches, attempts over their
budget (stopped, the task blocked: SPEC 12), in-progress attempts
(requeue, context reset, kill past the runtime limit, respawn or escalate: decided by
:mod:`batty.core.health`), old runs and evidence, stale escalations. A later stage sees what an
earlier one healed (a re-added worktree is not requeued). docs/doctor.md tells every rule.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from batty.store.locks import hold
from batty.workflow.doctor.attempts import attempt_stage
from batty.workflow.doctor.base import LOCK, Doctor, Finding, Report
from batty.workflow.doctor.budget import budget_stage
from batty.workflow.doctor.housekeeping import disk_stage, escalation_stage
from batty.workflow.doctor.locks import git_lock_stage, stale_lock_stage
from batty.workflow.doctor.orphans import orphan_branch_stage, orphan_run_stage
from batty.workflow.doctor.tamper_heal import tamper_stage
from batty.workflow.doctor.worktrees import worktree_stage

if TYPE_CHECKING:
    from batty.workflow.session import Session
    from batty.workflow.state import State

__all__ = ["STAGES", "Doctor", "Finding", "Report", "doctor", "run"]


def doctor(app: Session, *, check: bool = False, accept: bool = False) -> Report:
    """``batty doctor``: every stage, then the run's one board commit; ``check`` only reports."""
    from batty.workflow.state import State

    st = State(app)
    report = run(st, check=check, accept=accept)
    if not check:
        st.finish()
    return report


def run(st: State, *, check: bool = False, accept: bool = False) -> Report:
    """The doctor step on a shared State (tick commits once at the end), under the doctor lock."""
    with hold(st.paths.state, LOCK, cmd=st.app.cmd, wait_s=getattr(st, "step_wait", None)):
        st.reload()  # plan from what is on disk now, under the lock
        doc = Doctor(st, check=check)
        if check:
            from batty.runner import sandbox

            standing = sandbox.standing_warning(sandbox.policy(st.config))
            if standing:
                st.app.warn(standing)
        if accept:
            from batty.workflow.doctor import tamper

            tamper.record(st.paths)
            st.app.say("doctor: the current git settings and hooks are the tamper baseline now")
        cut_short = {} if check else doc.journal.unlogged()
        for stage in STAGES:
            for f in stage(doc):
                doc.seen.add(f.key)
                f = doc.guard(f)
                doc.report.found.append(f)
                if not check and not f.wait:
                    doc.apply(f)
        if not check:
            doc.journal.settle(cut_short, doc.seen)
        return doc.report


#: In order: a later stage sees what an earlier one healed (a re-added worktree is not requeued).
STAGES: tuple[Callable[[Doctor], list[Finding]], ...] = (
    tamper_stage, stale_lock_stage, git_lock_stage, worktree_stage, orphan_branch_stage,
    orphan_run_stage, budget_stage, attempt_stage, disk_stage, escalation_stage)
