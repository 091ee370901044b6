"""At most one board commit per command run (SPEC 1): notes gather, one commit at the end."""

from __future__ import annotations

from pathlib import Path

from batty.store import git

MAX_SUBJECT = 200


def subject(notes: list[str]) -> tuple[str, str]:
    """``batty: a; b; c`` for the subject, the whole list in the body when it is long."""
    notes = list(dict.fromkeys(n for n in notes if n))
    if not notes:
        return "batty: board files updated", ""
    line = "batty: " + "; ".join(notes)
    if len(line) <= MAX_SUBJECT:
        return line, ""
    head = "batty: " + "; ".join(notes[:3]) + f" and {len(notes) - 3} more"
    return head[:MAX_SUBJECT], "\n".join(notes)


def commit_board(root: Path, base: str, notes: list[str], *, valid: set[str] | None = None,
                 extra_paths: tuple[str, ...] = ()) -> str | None:
    """Commit every changed file under board/ whose content validates (``valid``: the paths that
    may go in; None means all), plus ``extra_paths``. A person's half-edited packet stays out."""
    changed = git.changed_paths(root, ["board/"])
    if valid is not None:
        changed = [p for p in changed if p in valid or not (root / p).exists()]
    changed += [p for p in extra_paths if p]
    if not changed:
        return None
    title, body = subject(notes)
    message = title + ("\n\n" + body if body else "") + "\n"
    return git.commit_paths(root, base, changed, message)
