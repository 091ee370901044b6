"""The tamper room: git settings and hooks changed since the baseline are put back, kept aside
in a quarantine folder, and a person is told once (the detection is :mod:`.tamper`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from batty.core.kinds import Kind
from batty.core.lifecycle import Status
from batty.store import failpoints
from batty.workflow.doctor.base import A, Doctor, Finding
from batty.workflow.doctor.journal import logged_ids


def tamper_stage(doc: Doctor) -> list[Finding]:
    """Settings and hooks that can run code, changed since the baseline: put back, and the human
    told. Write-ahead (issue 5): the heal's record (``tamper.begin``) comes first, then the
    escalation, then the revert; a heal a crash cut short is completed by the next run, so a
    tamper always ends reverted, escalated once and logged once."""
    from batty.workflow.doctor import tamper

    if tamper.load(doc.paths) is None:
        if not doc.check:
            tamper.record(doc.paths)  # the first doctor run: what is there now is the baseline
        return []
    changes = tamper.check(doc.paths)
    pending = tamper.unfinished(doc.paths)
    if pending:
        logged = logged_ids(doc.paths, Kind.DOCTOR_ACTION, "quarantine", action=A.TAMPER_REVERT.value)
        for q in [q for q in pending if doc.paths.rel(q) in logged]:
            if not doc.check:
                tamper.note(q, done=True)  # cut short after its event: only the record was open
            pending.remove(q)
    if not changes and not pending:
        return []
    quarantine = pending[0] if pending else None
    if quarantine is None:
        listed = [str(c) for c in changes]
    else:  # completed with its own changes only: one that came since is the next heal's
        rec = tamper.heal_record(quarantine)
        listed = list(rec.get("changes") or [])
        ours = rec.get("keys") or []
        changes = [c for c in changes if c.ident in ours]
    made: dict[str, Path] = {}

    def fix() -> dict[str, Any]:
        if quarantine is None:
            suspects = sorted(p.id for p in doc.st.packets if p.status is Status.IN_PROGRESS)
            q = tamper.begin(doc.paths, changes, suspects=suspects)
        else:
            q = quarantine
        made["q"] = q
        failpoints.point("doctor.tamper.after-intent")
        rec = tamper.heal_record(q)
        if not rec.get("escalation") and not _tamper_escalated(doc, q):
            record = doc.escalate(
                None, tasks=list(rec.get("suspects") or []), reason="tamper",
                text=f"git settings or hooks that can run code were changed outside batty; doctor "
                     f"puts them back as they were, keeping what it takes out in {doc.paths.rel(q)}:\n"
                     + "\n".join(f"- {x}" for x in listed)
                     + "\n\nIf a person made the change on purpose: make it again, then run "
                     "`batty doctor --accept`.")
            failpoints.point("doctor.tamper.after-escalate")
            tamper.note(q, escalation=record["id"] if record else None, changes=listed)
        ours = tamper.heal_record(q).get("keys") or []
        # what is still not as it was (a crash may have put some of it back already)
        tamper.revert(doc.paths, [c for c in tamper.check(doc.paths) if c.ident in ours], q)
        return {"changes": listed, "quarantine": doc.paths.rel(q)}

    def done() -> None:
        tamper.note(made["q"], done=True)

    detail = "; ".join(listed) + ("; completing a heal a crash cut short" if quarantine else "")
    return [Finding(A.TAMPER_REVERT, detail, fix=fix, done=done, subject="tamper")]


def _tamper_escalated(doc: Doctor, quarantine: Path) -> bool:
    """A heal cut short between its escalation and the record of it: the escalation names the
    quarantine folder."""
    from batty.workflow import escalations

    where = doc.paths.rel(quarantine)
    return any(r.get("reason") == "tamper" and where in str(r.get("text") or "")
               for r in escalations.all_escalations(doc.st))
