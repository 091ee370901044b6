"""merge (SPEC 8): land reviewed tasks, tested on the exact merge result, base moved by CAS.

The base branch only ever moves to a tree that passed. With ``merge.batch: N`` the reviewed
tasks are built on top of each other and tested together; a failing batch is bisected to its
culprit, so N green tasks cost one test run.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from batty.core import clock, confidence
from batty.core.kinds import Kind, SkipReason
from batty.core.lifecycle import Actor, Status
from batty.core.packet import Packet
from batty.errors import BattyError, Busy
from batty.store import atomic, failpoints, git, locks
from batty.store.paths import branch_of
from batty.workflow import gate
from batty.workflow.landing import BATTY_COMMITTER, Candidate, record_landing, write_score

if TYPE_CHECKING:
    from batty.workflow.session import Session
    from batty.workflow.state import State

# batty's merges use no merge driver the repository's attributes name (issue 15): git's one
# built-in driver that resolves a conflict by itself, `union` (`* merge=union` in .gitattributes
# keeps both sides of every conflict), is replaced by git's plain three-way text merge, so a
# conflict stays a conflict. Drivers from config are blanked by the git module.
PLAIN_MERGE = ("-c", "merge.union.name=plain text merge (batty)",
               "-c", "merge.union.driver=git merge-file --marker-size=%L %A %O %B")
MAX_CAS_RETRIES = 3


def skip(st: State, task: str, reason: SkipReason, detail: str = "", p: Packet | None = None) -> None:
    st.events.emit(Kind.MERGE_SKIPPED, task=task, seat=p.assignee if p else None,
                   attempt=p.attempt if p else None, reason=reason.value, detail=detail[:500])
    st.app.say(f"{task}: merge skipped ({reason.value}){': ' + detail if detail else ''}")


def merge(app: Session, task_id: str | None = None, *, dry_run: bool = False) -> list[str]:
    from batty.workflow.state import State

    st = State(app)
    landed = run(st, task_id, dry_run=dry_run)
    st.finish()
    return landed


def run(st: State, task_id: str | None = None, *, dry_run: bool = False) -> list[str]:
    """The merge step on a shared State (tick commits once at the end): the plan, then, unless
    ``dry_run``, its application. A dry run prints the plan and changes nothing."""
    try:
        with locks.hold(st.paths.state, "merge", cmd=st.app.cmd, wait_s=st.step_wait):
            st.reload()  # plan from what is on disk now, under the lock
            decisions = plan(st, task_id)
            if dry_run:
                for d in decisions:
                    st.app.echo(d.describe())
                return []
            return apply(st, decisions)
    except Busy:
        # issue 16.8: a busy merge step with nothing to merge is no skipped merge
        if task_id or any(p.status is Status.REVIEW for p in st.packets):
            skip(st, task_id or "-", SkipReason.LOCKED, "another merge holds the merge lock")
        raise


@dataclass
class Decision:
    """What merge does with one reviewed task: land it (``candidate``), or skip it for
    ``reason``; ``requeue``: its branch moved since it was verified, so it goes back to verify;
    ``save``: the score of a newly verified commit, written now (the person who approves reads it
    in the packet)."""

    task: str
    packet: Packet | None = None
    candidate: Candidate | None = None
    reason: SkipReason | None = None
    detail: str = ""
    requeue: bool = False
    save: confidence.Score | None = None
    head: str | None = None  # the verified commit ``save`` scores
    held: tuple[str, ...] = ()  # the runner's, agents' or git's files it changes: a person looks

    def describe(self) -> str:
        if self.candidate is not None:
            return f"would merge {self.task} (confidence {self.candidate.score.score})"
        assert self.reason is not None
        return f"would skip {self.task} ({self.reason.value}): {self.detail}"


def plan(st: State, task_id: str | None = None) -> list[Decision]:
    """What merge would do with each reviewed task (or just ``task_id``), from what is on disk
    now; it writes nothing."""
    if task_id:
        p = st.packets.get(task_id)
        if p is None:
            return [Decision(task_id, reason=SkipReason.MISSING_PACKET,
                             detail=f"no packet board/tasks/{task_id}.yaml")]
        if p.status is not Status.REVIEW:
            return [Decision(task_id, p, reason=SkipReason.WRONG_STATUS, detail=f"{task_id} is {p.status.value}")]
        reviewed = [p]
    else:
        reviewed = sorted((p for p in st.packets if p.status is Status.REVIEW),
                          key=lambda p: (p.priority, p.id))
    return [_decide(st, p) for p in reviewed]


def apply(st: State, decisions: list[Decision]) -> list[str]:
    """Carry out a plan: the skips (each a ``merge.skipped``), the scores to write, then the
    landings, in batches of ``merge.batch``. The tasks that landed."""
    cfg = st.config
    ready: list[Candidate] = []
    for d in decisions:
        p = d.packet
        if d.save is not None and p is not None:
            write_score(st, p, d.save)
            record: dict[str, Any] = {"for_sha": d.head, "confidence": d.save.score, "parts": d.save.parts,
                      "at": clock.now_iso()}
            if d.held:  # what attention tells a person it waits for (workflow/attention.py)
                record["held"] = list(d.held)
            p = st.update(p, merge=record)
        if d.candidate is not None:
            ready.append(d.candidate)
            continue
        assert d.reason is not None
        skip(st, d.task, d.reason, d.detail, p)
        if d.requeue and p is not None:  # back to the gate: verify judges the branch as it is now
            v = p.verification or {}
            st.transition(p, Status.IN_PROGRESS, Actor.MERGE, "stale evidence: verify again",
                          assignee=None, verification={**v, "attempt": 0, "stale": True})
    base_sha = git.rev(st.paths.root, f"refs/heads/{cfg.base}") if ready else None
    if base_sha:  # the base's packet of each and its config, in one git process for all
        gate.prefetch(st.paths.root, base_sha,
                      ["board/config.yaml", *(f"board/tasks/{c.packet.id}.yaml" for c in ready)])
    landed: list[str] = []
    from batty.core.overlap import batches

    # tasks on the same files are not tested together while others can be (SPEC 13)
    groups = batches(ready, cfg.merge.batch, lambda c: c.packet.scope, mode=cfg.dispatch.overlap)
    gone: list[str] = []  # the branches of the tasks landed, deleted together at the end
    try:
        for group in groups:
            try:
                landed += _land(st, group, gone)
            except BattyError as e:
                st.app.warn(str(e))
    finally:
        git.delete_branches(st.paths.root, gone)
        for c in ready:  # the score of each that did not land: once per verified commit
            if c.unsaved is not None:
                try:
                    write_score(st, c.packet, c.score)
                    st.update(c.packet, merge=c.unsaved)
                except BattyError as e:  # its packet went meanwhile: the event has the score
                    st.app.warn(f"{c.packet.id}: {e}")
    return landed


def _decide(st: State, p: Packet) -> Decision:
    cfg = st.config
    root = st.paths.root
    head = git.rev(root, f"refs/heads/{branch_of(p.id)}")
    if head is not None:
        # a commit made in the task's checkout (a repository of its own) since verify fetched
        # it: the branch moved, as it did when the checkout shared the control's refs (verify
        # fetches it; read from the files here, so a dry run changes nothing)
        from batty.store import repos

        wt = st.paths.worktree(p.id)
        on, sha = repos.head(wt) if repos.is_own(wt) else (None, None)
        if on == branch_of(p.id) and sha is not None and sha != head:
            head = sha
    if head is None:
        return Decision(p.id, p, reason=SkipReason.NO_BRANCH, detail=f"{branch_of(p.id)} does not exist")
    v = p.verification or {}
    if v.get("result") != "pass" or v.get("sha") != head:
        return Decision(p.id, p, reason=SkipReason.STALE_EVIDENCE, requeue=True,
                        detail="the branch moved since it was verified; verifying again")
    base_sha = git.rev(root, f"refs/heads/{cfg.base}")
    if base_sha is None:
        raise BattyError(f"the base branch {cfg.base} does not exist", valid="base: in board/config.yaml")
    merge_base = gate.merge_base(root, base_sha, head)
    chs, lines = gate.changes_and_lines(root, merge_base, head)
    files = gate.touched(chs)
    from batty.workflow import approvals, gatechecks

    command = gate.base_test_command(root, base_sha, p.id, cfg.gates.test)
    person = gatechecks.review(root, base_sha, head, files, command=command,
                               needs_approval=cfg.gates.needs_approval)
    score = confidence.score(attempt=p.attempt, respawns=p.respawns, lines_changed=lines, files=files,
                             scope=p.scope, trusted=gate.trusted_globs(cfg.gates.trusted_tests),
                             added=[ch.path for ch in chs if ch.status == "A"], own_tests=int(v.get("own_tests") or 0),
                             person=person)
    known = p.merge or {}
    # approval is a `batty approve` event for this commit, never the packet's field alone: an
    # agent could write that (issue 15)
    approved = approvals.approved(st, p, head)
    held = gatechecks.held(person)
    waits = not approved and (cfg.merge.mode == "approve" or score.score < cfg.merge.min_confidence
                              or bool(held))
    new = known.get("for_sha") != head  # a commit not scored yet: its score is written once
    save = score if new and waits else None
    if held and not approved:
        return Decision(p.id, p, reason=SkipReason.NOT_APPROVED, save=save, head=head, held=tuple(held),
                        detail="it changes the test runner's, the agents' or git's own files "
                        f"({', '.join(held[:10])}): a person reviews them, then `batty approve {p.id}`")
    if cfg.merge.mode == "approve" and not approved:
        return Decision(p.id, p, reason=SkipReason.NOT_APPROVED, save=save, head=head,
                        detail="merge.mode is approve: `batty approve " + p.id + "`")
    if score.score < cfg.merge.min_confidence and not approved:
        return Decision(p.id, p, reason=SkipReason.LOW_CONFIDENCE, save=save, head=head,
                        detail=f"confidence {score.score} < {cfg.merge.min_confidence}: `batty approve {p.id}` to land it")
    unsaved = {"for_sha": head, "confidence": score.score, "parts": score.parts, "at": clock.now_iso()} if new else None
    return Decision(p.id, p, candidate=Candidate(p, head, merge_base, score, unsaved=unsaved, approved=approved))


def _apply(tree: Path, c: Candidate, strategy: str, onto: str) -> str | None:
    """Put task ``c`` on top of the scratch tree's HEAD (``onto``); the new HEAD, or None on a
    conflict."""
    p = c.packet
    seat = p.assignee or "agent"
    author = {"GIT_AUTHOR_NAME": f"{seat} (batty agent)", "GIT_AUTHOR_EMAIL": f"{seat}@batty.localhost"}
    if strategy == "rebase":
        proc = git.run(tree, *PLAIN_MERGE, "rebase", "--empty=drop", "--onto", onto, c.merge_base, c.head,
                       env=BATTY_COMMITTER, check=False)
        if proc.returncode != 0:
            git.run(tree, "rebase", "--abort", check=False)
            git.run(tree, "checkout", "-q", "--detach", onto, check=False)
            return None
    else:
        args = (["merge", "--squash", c.head] if strategy == "squash" else
                ["merge", "--no-ff", "--no-edit", "-m", f"Merge {branch_of(p.id)}: {p.title}", c.head])
        proc = git.run(tree, *PLAIN_MERGE, *args, env={**BATTY_COMMITTER, **author}, check=False)
        if proc.returncode != 0:
            git.run(tree, "merge", "--abort", check=False)
            git.run(tree, "reset", "-q", "--hard", onto, check=False)
            return None
        if strategy == "squash":
            if git.run(tree, "diff", "--cached", "--quiet", check=False).returncode == 0:
                return onto  # nothing left to add: the change is in the base already
            git.run(tree, "commit", "-q", "--no-verify", "-m", f"{p.id}: {p.title}",
                    env={**BATTY_COMMITTER, **author})
    return git.rev(tree, "HEAD")


def _conflict_files(st: State, c: Candidate, onto: str) -> list[str]:
    proc = git.run(st.paths.root, *PLAIN_MERGE, "merge-tree", "--write-tree", "--name-only", "--no-messages", onto, c.head,
                   check=False)
    lines = proc.stdout.splitlines()
    return lines[1:] if proc.returncode == 1 else []


def _test_tree(st: State, tree: Path, base_sha: str, name: str, head: str,
               chs: list[gate.Change] | None = None, tasks: list[str] | None = None) -> Any:
    """The gate's checks that run on merge, on this exact tree (``head``, what would land), as
    verify runs them (checks/suite.py): the trusted run with the trusted and test files as the
    base has them, then the change's own tests. ``chs``: the tree diff base..head, when the
    caller has it. Which files to put back is found from ``head`` before any run: the runs
    execute the branch's code, which may move the checkout's HEAD
    (tests/test_gates.py::test_a_branch_whose_tests_move_the_checkout_is_still_tested)."""
    from batty.workflow.checks import reuse, suite

    globs = suite.test_globs(st.config.gates.trusted_tests)
    known = (gate.trusted_in(chs, globs) if chs is not None
             else gate.trusted_changes(tree, base_sha, globs, head))
    st.app.say(f"{name}: testing the merge result ...")  # issue 16.7: a run shows it runs
    # a batch's name ("batch-T-1") has no packet: the config's checks, as before
    run = reuse.run(st, tree, base_sha, name, head, name, known, tasks or [name])
    took = sum(r.duration_s for r in run.verdict.results) if run.verdict is not None else 0.0
    st.app.say(f"{name}: tests on the merge result {'passed' if run.passed else 'failed'} ({took:.1f} s)")
    return run


def _land(st: State, group: list[Candidate], gone: list[str]) -> list[str]:
    cfg = st.config
    root = st.paths.root
    for _ in range(MAX_CAS_RETRIES):
        base_sha = git.rev(root, f"refs/heads/{cfg.base}")
        if base_sha is None:
            raise BattyError(f"the base branch {cfg.base} does not exist", valid="base: in board/config.yaml")
        name = group[0].packet.id if len(group) == 1 else f"batch-{group[0].packet.id}"
        already: list[Candidate] = []
        with gate.scratch(st.paths, f"merge-{name}", base_sha) as tree:
            final, landed, bounced = _try(st, tree, group, base_sha, base_sha, already, fresh=True)
        failpoints.point("merge.after-test")
        for c in already:  # a person (or another task) landed the same change: done, nothing to move
            record_landing(st, c, base_sha, base_sha, 0, why="its change is in the base already", gone=gone)
        if final == base_sha:
            break
        if len(landed) == 1 and landed[0].commits is not None:
            commits = landed[0].commits  # its one linear application: counted by the fence's log
        else:
            commits = int(git.out(root, "rev-list", "--count", f"{base_sha}..{final}") or 0)
        intent = st.paths.state / "merge-intent.json"
        # write-ahead: if we die after the base moved, reconcile finishes the bookkeeping
        atomic.write_json(intent, {"from": base_sha, "to": final, "commits": commits, "tasks": [
            {"id": c.packet.id, "head": c.head, "merge_base": c.merge_base, "score": c.score.score,
             "parts": c.score.parts, "unsaved": c.unsaved is not None} for c in landed]})
        failpoints.point("merge.before-cas")
        if _move_base(st, base_sha, final):
            gate.same_board(final, base_sha)  # every commit between was fenced off board/
            failpoints.point("merge.after-cas")
            if landed:  # the base's last passing run of each check, for the next runs to match
                from batty.workflow.checks import reuse

                reuse.record_baseline(st, final, landed[-1].landing)  # the run on `final`
            for c in landed:
                record_landing(st, c, final, base_sha, commits if len(landed) == 1 else None, gone=gone)
            intent.unlink(missing_ok=True)
            break
        intent.unlink(missing_ok=True)
        # asked only when the move failed (git refuses to overwrite local changes), not before
        # every landing: two git processes a task saved
        if git.rev(root, f"refs/heads/{cfg.base}") == base_sha and _dirty_in_the_way(st, base_sha, final):
            for c in landed:
                skip(st, c.packet.id, SkipReason.DIRTY_BASE,
                     "local changes in the control checkout are in the way; commit or stash them", c.packet)
            return []
        st.app.say(f"{cfg.base} moved while merging; building again")  # compare-and-swap lost
    else:
        raise BattyError(f"{cfg.base} kept moving; merge gave up for now")
    for c, reason, text in bounced:
        _bounce(st, c, reason, text)
    return [c.packet.id for c in landed] if final != base_sha else []


_scratches = itertools.count(1)  # names the checkouts of a bisection apart


def _try(st: State, tree: Path, group: list[Candidate], base_sha: str, onto: str,
         already: list[Candidate], *, fresh: bool = False,
         ) -> tuple[str, list[Candidate], list[tuple[Candidate, SkipReason, str]]]:
    """Build ``group`` on ``onto`` and test it; bisect a failing group to its culprits.

    Each half of a bisection is built in a checkout of its own: the one before ran the group's
    code, and what that leaves in a checkout's git state (an index flag, a sparse pattern, a
    deleted .git file) outlives `checkout` and `clean` (review finding)."""
    if not fresh:
        with gate.scratch(st.paths, f"merge-{group[0].packet.id}-{next(_scratches)}", onto) as new_tree:
            return _try(st, new_tree, group, base_sha, onto, already, fresh=True)
    cfg = st.config
    built: list[Candidate] = []
    bounced: list[tuple[Candidate, SkipReason, str]] = []
    last_changes: list[gate.Change] | None = None
    at = onto
    for c in group:
        before = at
        new = _apply(tree, c, cfg.merge.strategy, before)
        if new is None:
            files = _conflict_files(st, c, before)
            skip(st, c.packet.id, SkipReason.CONFLICT, ", ".join(files[:10]), c.packet)
            st.events.emit(Kind.MERGE_CONFLICT, task=c.packet.id, seat=c.packet.assignee,
                           attempt=c.packet.attempt, files=files)
            bounced.append((c, SkipReason.CONFLICT, gate.feedback(
                "merge", "conflict", f"your branch conflicts with {cfg.base} in: {', '.join(files) or '?'}. "
                f"Rebase it on {cfg.base} (`git rebase {cfg.base}`) and resolve the conflict.")))
            continue
        if new == before:
            already.append(c)  # nothing left to add: its change is in the base already
            continue
        at = new
        # what actually lands, commit by commit, is fenced again (defence in depth: verify fenced
        # the branch; this is the replayed result)
        landed = gate.history(st.paths.root, before, new, landing=True)
        chs = (landed.changes if landed.changes is not None and landed.since == before
               else gate.changes(st.paths.root, before, new))
        landed_fence = gate.fence(st.paths.root, chs, new, scope=c.packet.scope,
                                  protected=cfg.gates.protected, commits=landed.paths,
                                  submodules=cfg.gates.allow_submodules)
        if not landed_fence.ok:
            git.run(tree, "checkout", "-q", "--detach", before)
            at = before
            skip(st, c.packet.id, SkipReason.STALE_EVIDENCE, f"the merge result {landed_fence.detail}", c.packet)
            bounced.append((c, SkipReason.STALE_EVIDENCE, gate.feedback(
                "merge", landed_fence.reason, f"the merge result {landed_fence.detail}")))
            continue
        c.commits = landed.commits if cfg.merge.strategy != "merge" else None
        built.append(c)
        last_changes = chs  # of the one built, when it is one: base..head, on the base itself
    if not built:
        return onto, [], bounced
    head = at
    name = built[0].packet.id if len(built) == 1 else f"batch-{built[0].packet.id}"
    if len(built) == 1 and onto == base_sha:  # no test run twice on one tree (SPEC 14)
        from batty.workflow.checks import reuse

        c = built[0]
        relied = reuse.reusable(st, c.packet.id, c.packet.verification or {}, c.head, head, base_sha)
        if relied is not None:
            c.landing = reuse.Landing(True, reused=relied)
            # issue 16.7: say what stands in for the run a person would otherwise see
            st.app.say(f"{name}: the merge result is the tree verify tested: its run stands, not run again")
            return head, built, bounced
    run = _test_tree(st, tree, base_sha, name, head, last_changes if len(built) == 1 and onto == base_sha else None,
                     tasks=[c.packet.id for c in built])
    if run.passed:
        for c in built:
            c.landing = run
        return head, built, bounced
    if len(built) == 1:
        c = built[0]
        skip(st, c.packet.id, SkipReason.TESTS_FAILED_ON_MERGE, f"{run.reason}: {run.detail}", c.packet)
        bounced.append((c, SkipReason.TESTS_FAILED_ON_MERGE, gate.feedback(
            "merge", "tests-failed-on-merge", f"the tests fail on your branch merged onto {cfg.base} "
            f"({run.detail}). Bring {cfg.base} into your branch and fix what breaks.", run.tail)))
        return onto, [], bounced
    half = len(built) // 2
    mid, left, b1 = _try(st, tree, built[:half], base_sha, onto, already)
    final, right, b2 = _try(st, tree, built[half:], base_sha, mid, already)
    return final, left + right, bounced + b1 + b2


def _dirty_in_the_way(st: State, old: str, new: str) -> bool:
    root = st.paths.root
    if git.head_branch(root) != st.config.base:
        return False
    moving = set(git.out(root, "diff", "--name-only", "-z", old, new).split("\0")) - {""}
    dirty = set(git.changed_paths(root, ["."]))
    return bool(moving & dirty)


def _move_base(st: State, old: str, new: str) -> bool:
    """Compare-and-swap the base from ``old`` to ``new``; the control checkout's working tree
    moves with it when it has the base checked out (never left showing staged reversals)."""
    root = st.paths.root
    base = st.config.base
    if git.head_branch(root) == base:
        if git.rev(root, "HEAD") != old:
            return False
        proc = git.run(root, "merge", "--ff-only", "-q", new, check=False)
        return proc.returncode == 0 and git.rev(root, "HEAD") == new
    return git.update_ref(root, f"refs/heads/{base}", new, old, f"batty: merge to {new[:12]}")


def _bounce(st: State, c: Candidate, reason: SkipReason, text: str) -> None:
    """Back to the agent with feedback (conflict, or the tests failed on the merge result)."""
    from batty.workflow.attempt import block

    p = st.packets.require(c.packet.id)
    if p.attempts_used >= st.config.gates.max_attempts:
        block(st, p, f"merge failed ({reason.value}) after {p.attempt} attempts", text,
              reason=f"merge-{reason.value}", actor=Actor.MERGE)
        return
    st.transition(p, Status.IN_PROGRESS, Actor.MERGE, f"merge: {reason.value}", assignee=None, feedback=text)


def approve(st: State, task_id: str) -> Packet:
    p = st.packets.require(task_id)
    if p.status is not Status.REVIEW:
        from batty.errors import InvalidInput

        raise InvalidInput(f"{task_id} is {p.status.value}, not review", valid="approve a task in review")
    head = git.rev(st.paths.root, f"refs/heads/{branch_of(p.id)}")
    new = st.update(p, approved=True)
    # the event is the approval (merge reads it for this commit); the packet's field is a view
    st.events.emit(Kind.MERGE_APPROVED, task=p.id, seat=p.assignee, attempt=p.attempt, by="human",
                   sha=head)
    st.notes.append(f"{p.id} approved")
    return new


