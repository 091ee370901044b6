"""Questions answered (issue 19, SPEC 13).

An agent that needs a person writes its question to ``.batty-question.md`` at the top of its
checkout and exits. verify finds it before anything else (:func:`take`): the file is taken out of
the checkout (never committed, never gated), the task is blocked with an escalation (reason
``question``, the question as its text: INBOX.md shows it and a person is told once), and the
attempt is judged a question, not a failure.

``batty answer ID TEXT`` (:func:`answer`) keeps the answer in the packet (``answer``), resolves
the escalation, and the task goes back to todo with a fresh budget of attempts (as any task a
person unblocks), so the attempt that carries the answer in its prompt counts against nothing
spent before. The next dispatch resumes it on its branch.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import TYPE_CHECKING, Any

from batty.core import clock
from batty.core.kinds import Kind
from batty.core.lifecycle import Actor, Status
from batty.errors import InvalidInput
from batty.store import git

if TYPE_CHECKING:
    from batty.core.packet import Packet
    from batty.workflow.state import State

QUESTION_FILE = ".batty-question.md"
REASON = "question"
MAX_BYTES = 16_000   # the escalation keeps 4,000 characters of it
MAX_ANSWER = 8_000


def take(root: Path, wt: Path, branch: str, tmp_dir: Path) -> str | None:
    """The question the agent left in checkout ``wt``, taken out of it and off ``branch``; None
    when there is none.

    Only a regular file is read: a link could point at any file batty can read, whose text would
    land in INBOX.md and a notification (the agent is not trusted). A committed question leaves
    the branch through a commit made from the control repository (SPEC 11: never git under the
    checkout's own config, whose hooks and fsmonitor are the agent's)."""
    path = wt / QUESTION_FILE
    try:
        info: os.stat_result | None = os.lstat(path)
    except OSError:
        info = None
    head = _committed(root, wt, branch)
    if info is None and head is None:
        return None
    text = "(the question file was not a regular file; it was not read)"
    if info is not None and stat.S_ISREG(info.st_mode):
        try:
            with open(path, "rb") as f:
                text = f.read(MAX_BYTES).decode("utf-8", errors="replace").strip() or "(an empty question)"
        except OSError:
            pass
    if info is not None:
        if stat.S_ISDIR(info.st_mode):
            import shutil

            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
    if head is not None:
        _drop(root, wt, branch, head, tmp_dir)
    return text


def _committed(root: Path, wt: Path, branch: str) -> str | None:
    """The branch's head (its commits fetched from the checkout first) when it holds the
    question file; else None."""
    from batty.store import repos

    if not wt.exists() or not repos.is_own(wt):
        return None
    head = repos.bring_back(root, wt, branch)
    if head is None:
        return None
    found = git.run(root, "cat-file", "-e", f"{head}:{QUESTION_FILE}", check=False).returncode == 0
    return head if found else None


def _drop(root: Path, wt: Path, branch: str, head: str, tmp_dir: Path) -> None:
    """A commit on ``branch`` without the question file, made from the control side (a temporary
    index, the control's config); the checkout's branch and index follow."""
    from batty.store import repos

    tmp_dir.mkdir(parents=True, exist_ok=True)
    index = tmp_dir / f"question-{os.getpid()}-{wt.name}.index"
    env = {"GIT_INDEX_FILE": str(index)}
    try:
        git.run(root, "read-tree", head, env=env)
        git.run(root, "rm", "-q", "-r", "--cached", "--ignore-unmatch", "--", QUESTION_FILE, env=env)
        tree = git.out(root, "write-tree", env=env)
    finally:
        index.unlink(missing_ok=True)
    who = {"GIT_AUTHOR_NAME": "batty", "GIT_AUTHOR_EMAIL": "batty@localhost",
           "GIT_COMMITTER_NAME": "batty", "GIT_COMMITTER_EMAIL": "batty@localhost"}
    new = git.out(root, "commit-tree", tree, "-p", head, "-m", f"batty: {QUESTION_FILE} is not part of the work",
                  env=who)
    if git.update_ref(root, f"refs/heads/{branch}", new, head, "batty: question taken off"):
        repos.align(root, wt, branch, new)


def ask(st: State, p: Packet, question: str) -> Packet:
    """Block ``p``'s task on its agent's question: an escalation (told once), then blocked."""
    from batty.workflow.escalations import raise_escalation

    st.events.emit(Kind.QUESTION_ASKED, task=p.id, seat=p.assignee, attempt=p.attempt,
                   question=question[:2000])
    record = raise_escalation(st, tasks=[p.id], reason=REASON, text=question, source="verify")
    return st.transition(p, Status.BLOCKED, Actor.VERIFY, f"its agent asks a question ({record['id']})",
                         note=f"{p.id} in-progress -> blocked (a question: {record['id']})",
                         expect_attempt=p.attempt,
                         verification={"attempt": p.attempt, "result": "question", "at": clock.now_iso()})


def open_question(st: State, task_id: str) -> dict[str, Any]:
    from batty.workflow.escalations import open_escalations

    for e in open_escalations(st):
        if e.get("reason") == REASON and task_id in (e.get("tasks") or []):
            return e
    raise InvalidInput(f"{task_id} has no open question",
                       valid="see `batty escalations`; a question is asked by its agent")


def answer(st: State, task_id: str, text: str) -> dict[str, Any]:
    """Answer the open question of ``task_id``: kept in the packet for the next prompt, the
    escalation resolved, the task back to todo. Returns the resolved escalation."""
    from batty.workflow.escalations import resolve

    text = (text or "").strip()
    if not text:
        raise InvalidInput("the answer is empty", valid="batty answer ID TEXT")
    if "\0" in text:
        raise InvalidInput("the answer holds a NUL byte", valid="plain text")
    if len(text) > MAX_ANSWER:
        raise InvalidInput(f"the answer is {len(text)} characters long", valid=f"at most {MAX_ANSWER}")
    p = st.packets.require(task_id)
    esc = open_question(st, task_id)
    if p.status is not Status.BLOCKED:
        raise InvalidInput(f"{task_id} is {p.status.value}, not blocked on its question",
                           valid=f"resolve {esc['id']} with `batty escalations resolve {esc['id']}`")
    st.update(p, answer={"question": str(esc.get("text") or ""), "text": text, "escalation": esc["id"],
                         "attempt": p.attempt, "at": clock.now_iso()})
    st.events.emit(Kind.QUESTION_ANSWERED, task=p.id, attempt=p.attempt, escalation=esc["id"],
                   text=text[:2000])
    return resolve(st, esc["id"], note=f"answered: {text.splitlines()[0][:200]}")
