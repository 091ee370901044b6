"""The housekeeping room: old runs and evidence when the disk runs low, and escalations whose
tasks are all done or archived demoted."""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Any

from batty.core.kinds import Kind
from batty.core.lifecycle import Status
from batty.store import failpoints
from batty.workflow.doctor.base import A, Doctor, Finding


def disk_stage(doc: Doctor) -> list[Finding]:
    """Runs and evidence older than ``disk.keep_runs_days`` of tasks that are done or archived."""
    keep_s = doc.cfg.disk.keep_runs_days * 86400
    now = time.time()
    old: list[Path] = []
    for p in doc.st.packets:
        if p.status not in (Status.DONE, Status.ARCHIVED):
            continue
        for top in (doc.paths.runs_of(p.id), doc.paths.evidence_of(p.id)):
            if not top.is_dir():
                continue
            for d in sorted(top.iterdir()):
                if d.is_dir() and now - _newest(d) > keep_s:
                    old.append(d)
    if not old:
        return []

    def fix() -> dict[str, Any]:
        freed = 0
        removed = []
        for d in old:
            freed += _size(d)
            shutil.rmtree(d, ignore_errors=True)
            failpoints.point("doctor.disk-cleanup.after-remove")
            removed.append(doc.paths.rel(d))
            try:
                d.parent.rmdir()  # the task's folder, when it is empty now
            except OSError:
                pass
        freed_mb = round(freed / (1 << 20), 3)
        doc.st.events.emit(Kind.DISK_CLEANUP, removed=removed, freed_mb=freed_mb)
        return {"removed": len(removed), "freed_mb": freed_mb}

    return [Finding(A.DISK_CLEANUP, f"{len(old)} run or evidence folder(s) of finished tasks older"
                    f" than disk.keep_runs_days {doc.cfg.disk.keep_runs_days}", fix=fix)]


def _newest(folder: Path) -> float:
    newest = folder.lstat().st_mtime
    for f in folder.rglob("*"):
        try:
            newest = max(newest, f.lstat().st_mtime)
        except OSError:
            continue
    return newest


def _size(folder: Path) -> int:
    total = 0
    for f in folder.rglob("*"):
        try:
            if f.is_file() and not f.is_symlink():
                total += f.stat().st_size
        except OSError:
            continue
    return total


def escalation_stage(doc: Doctor) -> list[Finding]:
    try:
        from batty.workflow import escalations
    except ImportError:  # pragma: no cover - the escalation module ships with batty
        return []
    if not doc.check:
        for done in escalations.flush(doc.st):  # what a crash cut short after the record
            doc.st.app.say(f"doctor: escalation {done}: announced (a crash had cut it short)")
    packets = doc.st.packets
    stale = []
    for r in escalations.open_escalations(doc.st):
        tasks = list(r.get("tasks") or [])
        if tasks and not any(t in packets.invalid_ids for t in tasks) and all(
                packets.get(t) is None or packets.by_id[t].status in (Status.DONE, Status.ARCHIVED)
                for t in tasks):
            stale.append(r)
    if not stale:
        return []

    def fix() -> dict[str, Any]:
        done = escalations.demote_stale(doc.st)
        return {"escalations": [r["id"] for r in done]}

    ids = ", ".join(str(r.get("id")) for r in stale)
    return [Finding(A.ESCALATION_DEMOTE, f"{ids}: every task is done or archived; no longer "
                    "shown as actionable", fix=fix, subject=ids)]
