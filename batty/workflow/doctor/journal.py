"""The doctor's write-ahead journal: a heal is recorded before it starts and closed once its
``doctor.action`` is logged, so a heal a crash cut short is logged once by the next run."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from batty.core import clock
from batty.core.kinds import Kind
from batty.store import atomic

if TYPE_CHECKING:
    from batty.workflow.doctor.base import Doctor, Finding



def _with_subject(data: dict[str, Any], subject: str | None) -> dict[str, Any]:
    return {**data, "subject": subject} if subject is not None else data


def logged_ids(paths: Any, kind: str, field: str, **match: Any) -> set[Any]:
    """The values of ``data[field]`` in the ``kind`` events that match ``match`` (top-level keys
    task and attempt, or data keys): a scan of the whole log, for the recovery after a crash."""
    from batty.store import events

    out = set()
    for e in events.read(paths.events):
        if e.get("kind") != kind:
            continue
        data = e.get("data") or {}
        if all((e.get(k) if k in ("task", "attempt") else data.get(k)) == v for k, v in match.items()):
            out.add(data.get(field))
    return out


# The heals a fault can come back after (agent faults count the packet's respawns instead).


class Journal:
    """Write-ahead for heals (issue 5): ``.batty/doctor/journal/<id>.json`` is written before a
    heal starts and removed once its ``doctor.action`` (data ``heal``: the id) is logged. An entry
    a crash left is settled by the next run: logged already, it goes; its fault found again, the
    new heal's event covers it; else the run cut short healed it, and its event is logged now
    (``recovered``). So no heal goes unlogged, and none is logged twice but the one in flight."""

    def __init__(self, doc: Doctor) -> None:
        self.doc = doc
        self.folder = doc.paths.state / "doctor" / "journal"

    def begin(self, f: Finding) -> str:
        from batty.store.events import new_id

        heal = new_id()
        atomic.write_json(self.folder / f"{heal}.json", {
            "id": heal, "key": f.key, "action": f.action.value, "task": f.task, "attempt": f.attempt,
            "seat": f.seat, "detail": f.detail, "data": _with_subject(f.data, f.subject),
            "at": clock.now_iso()})
        return heal

    def end(self, heal: str, key: str | None = None) -> None:
        (self.folder / f"{heal}.json").unlink(missing_ok=True)
        if key is None:
            return
        for entry in self._entries():  # entries of the same fault a crash left: covered now
            if entry.get("key") == key:
                (self.folder / f"{entry['id']}.json").unlink(missing_ok=True)

    def _entries(self) -> list[dict[str, Any]]:
        if not self.folder.is_dir():
            return []
        out = []
        for path in sorted(self.folder.glob("*.json")):
            entry = atomic.read_json(path)
            if isinstance(entry, dict) and entry.get("id"):
                out.append(entry)
            else:
                path.unlink(missing_ok=True)  # torn by a crash before the heal began
        return out

    def unlogged(self) -> dict[str, dict[str, Any]]:
        """The entries a crash left whose event is not in the log (those logged go now)."""
        entries = self._entries()
        if not entries:
            return {}
        logged = logged_ids(self.doc.paths, Kind.DOCTOR_ACTION, "heal")
        out = {}
        for entry in entries:
            if entry["id"] in logged:
                self.end(entry["id"])
            else:
                out[entry["id"]] = entry
        return out

    def settle(self, cut_short: dict[str, dict[str, Any]], seen: set[str]) -> None:
        for heal, entry in cut_short.items():
            if not (self.folder / f"{heal}.json").exists() or entry.get("key") in seen:
                continue  # healed again by this run, or still there: the next run settles it
            self.doc.st.events.emit(
                Kind.DOCTOR_ACTION, task=entry.get("task"), attempt=entry.get("attempt") or None,
                seat=entry.get("seat"), action=entry["action"], detail=entry.get("detail"),
                **(entry.get("data") or {}), heal=heal, recovered=True)
            self.end(heal)
