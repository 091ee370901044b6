"""Changes requested in words (issue 19, SPEC 13): a reviewed task goes back to its agent.

`batty review ID --request-changes TEXT`, `task move ID in-progress --why TEXT` and, on the
board, a card moved from Review back to In Progress with a note line under it all land here:
the task goes review -> in-progress (by the human), its approval is dropped, and TEXT is the
feedback of its next attempt, which dispatch starts on any free seat. `--approve` is
:func:`batty.merge.approve`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from batty.core.kinds import Kind
from batty.core.lifecycle import Actor, Status
from batty.errors import InvalidInput

if TYPE_CHECKING:
    from batty.core.packet import Packet
    from batty.workflow.state import State

MAX_TEXT = 4000  # a packet is a brief: longer words are cut (the event keeps what was kept)
TEXT_VALID = "say what to change: batty review ID --request-changes TEXT"


def feedback_text(text: str, by: str) -> str:
    return (f"A person reviewed your work ({by}) and asks for changes:\n\n{text.strip()}\n\n"
            "Your earlier commits are on this branch: change them as asked.\n")


def request_changes(st: State, task_id: str, text: str, *, by: str = "human") -> Packet:
    """Send a task in review back to its agent with ``text`` as the next attempt's feedback.

    ``by``: where the words came from (``review``, ``board``, ``task move``), kept in the event.
    """
    text = (text or "").strip()
    if not text:
        raise InvalidInput("the requested changes are empty", valid=TEXT_VALID)
    if "\0" in text:
        raise InvalidInput("the requested changes hold a NUL byte", valid="plain text")
    if len(text) > MAX_TEXT:
        text = text[:MAX_TEXT] + "\n... (cut)"
    p = st.packets.require(task_id)
    if p.status is not Status.REVIEW:
        raise InvalidInput(f"{task_id} is {p.status.value}, not review",
                           valid="request changes of a task in review")
    # The event first: a crash between it and the move leaves a request a person can make again;
    # the other order left a task sent back with no trace of why (trace and the digest read it)
    st.events.emit(Kind.REVIEW_CHANGES_REQUESTED, task=p.id, seat=p.assignee, attempt=p.attempt,
                   by=by, text=text)
    # assignee dropped: its seat may have another task now; dispatch gives it a free one (as
    # merge's bounce does)
    new = st.transition(p, Status.IN_PROGRESS, Actor.HUMAN, f"changes requested ({by})",
                        note=f"{p.id} review -> in-progress (changes requested)",
                        assignee=None, feedback=feedback_text(text, by))
    return new
