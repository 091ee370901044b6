"""Where an attempt starts (issue 15, items 6 and 7).

- Every attempt after a judged one (verify refused it, merge sent it back, a person unblocked
  the task) starts fresh from the base as it is at dispatch: a retry resumed on a branch forked
  nine merges earlier and failed on an unrelated test, and a refused attempt's changelog line
  reached main four times. The previous attempt's diff is kept with the new run
  (``previous.diff``) and named in its prompt, with its feedback; its commits stay readable
  under ``refs/batty/attempts/<ID>/<N>`` and never reach the base.
- Dispatch never adopts a branch it did not create: a ``batty/<ID>`` that exists before the
  task's first attempt (an agent of another task made it, or a person) is moved aside to
  ``batty-stray/<ID>-<time>`` and logged, and the attempt starts from the base.

A preempted attempt, a respawn and a context reset resume on their branch: their work was never
judged.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from batty.core import clock
from batty.core.kinds import Kind
from batty.store import git, worktrees
from batty.store.paths import branch_of

if TYPE_CHECKING:
    from pathlib import Path

    from batty.core.packet import Packet
    from batty.workflow.state import State

MAX_DIFF = 200_000


def judged_before(p: Packet, attempt: int) -> bool:
    """The attempt before ``attempt`` got a verdict (refused, or passed and sent back by merge)."""
    v = p.verification or {}
    return attempt > 1 and int(v.get("attempt") or 0) == attempt - 1 and v.get("result") in ("pass", "fail")


def prepare(st: State, p: Packet, attempt: int, run_dir: Path) -> str | None:
    """Before the worktree is made for ``attempt``: move a stray branch aside, or clear the
    judged attempt's branch so that this one starts from the base. Returns the previous diff's
    file name in ``run_dir`` when there is one."""
    root = st.paths.root
    branch = branch_of(p.id)
    head = git.rev(root, f"refs/heads/{branch}")
    if head is None:
        return None
    wt = st.paths.worktree(p.id)
    if not p.attempt and not wt.exists():
        aside = f"batty-stray/{p.id}-{clock.now_iso()[:19].replace(':', '').replace('-', '')}"
        git.run(root, "branch", "-m", branch, aside)
        st.events.emit(Kind.BRANCH_MOVED_ASIDE, task=p.id, attempt=attempt, branch=branch, to=aside, sha=head)
        st.app.warn(f"{p.id}: {branch} existed before batty dispatched it; moved aside to {aside}")
        return None
    # only a new attempt (the packet still names the one before) and only once: a respawn of
    # this attempt, or a dispatch again after a crash, finds the fresh branch and keeps it
    if p.attempt != attempt - 1 or not judged_before(p, attempt) or (run_dir / "previous.diff").exists():
        return None
    base = st.config.base
    diff = git.run(root, "diff", "--no-ext-diff", "--no-textconv", "--binary", f"refs/heads/{base}...{head}",
                   check=False).stdout
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "previous.diff").write_text(diff[:MAX_DIFF], encoding="utf-8", errors="replace")
    git.run(root, "update-ref", f"refs/batty/attempts/{p.id}/{attempt - 1}", head)
    worktrees.remove(st.paths, p.id, branch=True)
    st.events.emit(Kind.ATTEMPT_FRESH, task=p.id, attempt=attempt, previous_sha=head,
                   previous_diff=st.paths.rel(run_dir / "previous.diff"))
    return "previous.diff"


def prompt_part(diff_file: str, truncated: bool) -> str:
    return ("\n## Your previous attempt\n\n"
            "This attempt starts fresh from the base branch as it is now. What the previous attempt\n"
            f"changed is in `$BATTY_PROMPT_FILE`'s folder as `{diff_file}`"
            + (" (cut short)" if truncated else "") + "; reuse what was right, and mind the feedback.\n")
