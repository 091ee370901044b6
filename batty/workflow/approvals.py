"""Approval is a person's `batty approve` (issue 15, item 6): a `merge.approved` event for the
commit that was reviewed, never the packet's `approved` field alone, which anything that can
write the control checkout's board/ could set (an agent wrote `approved: true` into its own
packet and it merged in `merge.mode: approve`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from batty.core.kinds import Kind

if TYPE_CHECKING:
    from batty.core.packet import Packet
    from batty.workflow.state import State


def approved(st: State, p: Packet, head: str) -> bool:
    """A `merge.approved` event for this task's current attempt and ``head`` (the branch tip
    that was approved). The log is read only when the packet claims an approval."""
    if not p.approved:
        return False
    from batty.store import events

    for e in events.read(st.paths.events):
        if e.get("kind") != Kind.MERGE_APPROVED.value or e.get("task") != p.id:
            continue
        sha = (e.get("data") or {}).get("sha")
        if e.get("attempt") == p.attempt and (sha is None or sha == head):
            return True
    return False
