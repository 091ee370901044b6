"""Event kinds (SPEC 7), merge skip reasons (SPEC 8) and doctor actions (SPEC 9) as str enums.

The data each kind carries is listed in docs/events.md; telemetry views read those fields.
"""

from __future__ import annotations

from enum import StrEnum


class Kind(StrEnum):
    TICK_STARTED = "tick.started"
    TICK_FINISHED = "tick.finished"
    TASK_CREATED = "task.created"
    TASK_STATUS = "task.status"
    TASK_DISPATCHED = "task.dispatched"
    PACKET_INVALID = "packet.invalid"
    AGENT_STARTED = "agent.started"
    AGENT_EXITED = "agent.exited"
    AGENT_STALLED = "agent.stalled"
    AGENT_RESPAWNED = "agent.respawned"
    AGENT_CONTEXT_EXHAUSTED = "agent.context_exhausted"
    AGENT_STOPPED = "agent.stopped"
    VERIFY_PHASE = "verify.phase"
    VERIFY_EVIDENCE = "verify.evidence"
    VERIFY_PASSED = "verify.passed"
    VERIFY_FAILED = "verify.failed"
    VERIFY_FLAKY = "verify.flaky"
    MERGE_SKIPPED = "merge.skipped"
    MERGE_CONFIDENCE = "merge.confidence"
    MERGE_MERGED = "merge.merged"
    MERGE_CONFLICT = "merge.conflict"
    MERGE_APPROVED = "merge.approved"
    REVIEW_CHANGES_REQUESTED = "review.changes_requested"
    SETUP_PASSED = "setup.passed"
    SETUP_FAILED = "setup.failed"
    QUESTION_ASKED = "question.asked"
    QUESTION_ANSWERED = "question.answered"
    DOCTOR_ACTION = "doctor.action"
    RECONCILE_STATE = "reconcile.state"
    RECONCILE_WORKTREE = "reconcile.worktree"
    RECONCILE_BOARD = "reconcile.board"
    ESCALATION_RAISED = "escalation.raised"
    ESCALATION_DEMOTED = "escalation.demoted"
    ESCALATION_RESOLVED = "escalation.resolved"
    NOTIFY_SENT = "notify.sent"
    NOTIFY_FAILED = "notify.failed"
    DISK_CLEANUP = "disk.cleanup"
    LOCK_BROKEN = "lock.broken"
    BUDGET_WARNED = "budget.warned"
    BUDGET_EXCEEDED = "budget.exceeded"
    BRANCH_MOVED_ASIDE = "branch.moved_aside"  # a batty/<ID> dispatch did not create (issue 15)
    ATTEMPT_FRESH = "attempt.fresh"            # a retry starts from the base (issue 15)


class SkipReason(StrEnum):
    WRONG_STATUS = "wrong-status"
    MISSING_PACKET = "missing-packet"
    NO_BRANCH = "no-branch"
    STALE_EVIDENCE = "stale-evidence"
    NOT_APPROVED = "not-approved"
    LOW_CONFIDENCE = "low-confidence"
    LOCKED = "locked"
    DIRTY_BASE = "dirty-base"
    CONFLICT = "conflict"
    TESTS_FAILED_ON_MERGE = "tests-failed-on-merge"


class DoctorAction(StrEnum):
    RESPAWN = "respawn"
    CONTEXT_RESET = "context-reset"
    KILL_OVERTIME = "kill-overtime"
    STALE_LOCK = "stale-lock"
    GIT_LOCK = "git-lock"
    WORKTREE_PRUNE = "worktree-prune"
    WORKTREE_REPAIR = "worktree-repair"
    ORPHAN_BRANCH = "orphan-branch"
    ORPHAN_RUN = "orphan-run"
    REQUEUE = "requeue"
    DISK_CLEANUP = "disk-cleanup"
    ESCALATION_DEMOTE = "escalation-demote"
    TAMPER_REVERT = "tamper-revert"
    ESCALATE = "escalate"
    BUDGET_STOP = "budget-stop"
