"""sync (SPEC 10): share the board with the other machines through the repository's remote.

The remote is the only coordination point. One run: fetch the base, then

- the remote is ahead: fast-forward the local base (and the control checkout);
- this clone is ahead: push;
- both moved: replay this clone's unpushed commits on the remote's base. Board files are
  taken file by file, the remote winning where both sides changed a file; a claim of ours
  the remote does not have is lost (our agent is stopped, its worktree, branch and run go);
  a new packet whose id the remote also created is renumbered. Commits that change code are
  rebased in a scratch checkout and the gate's test step runs on the result: the base only
  ever moves to a tree that passed, else sync refuses and escalates (docs/sync.md).

Then push; a push the remote rejects (another machine pushed meanwhile) starts the round
again, at most ``MAX_ROUNDS`` times.
"""

from __future__ import annotations

import os
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from batty.core import clock
from batty.core.ids import ID_RE
from batty.core.kinds import Kind
from batty.errors import BattyError, GitError
from batty.store import atomic, git, locks
from batty.store.paths import branch_of

if TYPE_CHECKING:
    from batty.workflow.session import Session
    from batty.workflow.state import State

MAX_ROUNDS = 5
NET_TIMEOUT_S = 60
TASKS = "board/tasks/"
# The remote moved since we fetched: another round. A remote that refuses for another reason
# (a protected branch, a hook) is an error, not a reason to try again.
MOVED = re.compile(r"non-fast-forward|fetch first|stale info|failed to update ref|cannot lock ref"
                   r"|incorrect old value")


class SyncRefused(BattyError):
    """The remote moved and this clone's code commits cannot be put on it safely."""


@dataclass(frozen=True)
class LostClaim:
    task: str
    seat: str | None
    attempt: int
    remote_status: str | None   # None: the remote deleted the packet


@dataclass
class Plan:
    """What one round does, computed from git objects only (nothing written)."""

    case: str                       # up-to-date | fast-forward | push | diverged
    local: str | None
    remote: str | None
    merge_base: str | None = None
    ours: list[str] = field(default_factory=list)        # unpushed commits, oldest first
    code: list[str] = field(default_factory=list)        # those that change more than board/
    take: dict[str, bytes | None] = field(default_factory=dict)  # our board files put on top
    remote_wins: list[str] = field(default_factory=list)
    lost: list[LostClaim] = field(default_factory=list)
    renumber: dict[str, str] = field(default_factory=dict)

    def describe(self, remote: str, base: str) -> list[str]:
        lines = {"up-to-date": [f"{base} is the same as {remote}/{base}: nothing to do"],
                 "fast-forward": [f"would fast-forward {base} to {remote}/{base} ({_short(self.remote)})"],
                 "push": [f"would push {len(self.ours)} commit(s) to {remote}/{base}"]}.get(self.case)
        if lines:
            return lines
        out = [f"{base} and {remote}/{base} have diverged: would replay {len(self.ours)} local "
               f"commit(s) on {remote}/{base}"]
        out += [f"would lose the claim on {c.task} ({c.seat}, attempt {c.attempt}): the remote has "
                f"it {c.remote_status or 'deleted'}" for c in self.lost]
        out += [f"would renumber {old} -> {new} (the remote created {old} too)"
                for old, new in self.renumber.items()]
        out += [f"would keep the remote's {path} (changed on both sides)" for path in self.remote_wins
                if not any(path == f"{TASKS}{c.task}.yaml" for c in self.lost)]
        if self.code:
            out.append(f"would rebase {len(self.code)} code commit(s) and run the tests on the result")
        return out + [f"would push to {remote}/{base}"]


@dataclass
class Result:
    case: str = "up-to-date"
    pushed: bool = False
    rounds: int = 0
    lost: list[LostClaim] = field(default_factory=list)
    renumbered: dict[str, str] = field(default_factory=dict)


# ---------------------------------------------------------------- the command


def sync(app: Session, *, remote: str = "origin", dry_run: bool = False) -> Result:
    from batty.workflow.state import State

    st = State(app)
    root = st.paths.root
    if git.run(root, "remote", "get-url", remote, check=False).returncode != 0:
        raise BattyError(f"this repository has no remote {remote!r}",
                         valid=f"add one with `git remote add {remote} URL`, or pass --remote NAME")
    base = st.config.base
    result = Result()
    with locks.hold(st.paths.state, "sync", cmd=app.cmd), \
            locks.hold(st.paths.state, "merge", cmd=app.cmd):  # the base must not move under us
        for result.rounds in range(1, MAX_ROUNDS + 1):
            remote_sha = fetch(root, remote, base, dry_run=dry_run)
            p = plan(root, base, git.rev(root, f"refs/heads/{base}"), remote_sha)
            if dry_run:
                for line in p.describe(remote, base):
                    app.echo(line)
                return result
            if result.case == "up-to-date" or p.case == "diverged":
                result.case = p.case
            if p.case == "up-to-date":
                return result
            before = p.local
            if p.case == "fast-forward":
                _fast_forward(st, base, p)
            elif p.case == "diverged":
                _replay(st, base, remote, p)
                result.lost += p.lost
                result.renumbered.update(p.renumber)
            if p.case != "push":
                _take_board(st)
                # a later round replays this round's commit again: still one on the remote's
                st.finish(force=True)
                _squash_own(st, base, p.remote, since=before)
            local = git.rev(root, f"refs/heads/{base}")
            if local is None or local == p.remote:
                return result
            if push(root, remote, base, local):
                result.pushed = True
                app.say(f"pushed {base} to {remote} ({local[:12]})")
                return result
            app.say(f"{remote}/{base} moved while pushing; fetching again")
    raise BattyError(f"{remote}/{base} kept moving: gave up after {MAX_ROUNDS} rounds",
                     valid="nothing is lost; run `batty sync` again")


def fetch(root: Path, remote: str, base: str, *, dry_run: bool = False) -> str | None:
    """The remote's base, its objects fetched; None when the remote has no such branch.
    A dry run writes no ref (``--refmap=`` with no destination)."""
    probe = git.run(root, "ls-remote", "--heads", remote, f"refs/heads/{base}", timeout=NET_TIMEOUT_S,
                    check=False)
    if probe.returncode != 0:
        raise GitError(f"cannot reach {remote}: {(probe.stderr.strip().splitlines() or ['?'])[-1]}")
    if not probe.stdout.strip():
        return None
    if dry_run:
        git.run(root, "fetch", "-q", "--no-tags", "--refmap=", "--no-write-fetch-head", remote,
                f"refs/heads/{base}", timeout=NET_TIMEOUT_S)
        return probe.stdout.split()[0]
    tracking = f"refs/remotes/{remote}/{base}"
    git.run(root, "fetch", "-q", "--no-tags", "--refmap=", remote, f"+refs/heads/{base}:{tracking}",
            timeout=NET_TIMEOUT_S)
    return git.rev(root, tracking)


def push(root: Path, remote: str, base: str, sha: str) -> bool:
    """Push ``sha`` as the remote's base; False when the remote rejects it (it moved)."""
    proc = git.run(root, "push", "--porcelain", "--no-verify", remote, f"{sha}:refs/heads/{base}",
                   timeout=NET_TIMEOUT_S, check=False)
    if proc.returncode == 0:
        git.run(root, "update-ref", f"refs/remotes/{remote}/{base}", sha, check=False)
        return True
    if MOVED.search(proc.stdout + proc.stderr):
        return False
    raise GitError(f"git push to {remote} failed: {(proc.stderr.strip().splitlines() or ['?'])[-1]}")


# ---------------------------------------------------------------- the plan


def plan(root: Path, base: str, local: str | None, remote: str | None) -> Plan:
    if local is None:
        raise BattyError(f"no local branch {base}", valid="board.config base names a branch that exists")
    if remote is None:
        return Plan("push", local, None, ours=_commits(root, None, local))
    if local == remote:
        return Plan("up-to-date", local, remote)
    if git.is_ancestor(root, local, remote):
        return Plan("fast-forward", local, remote, merge_base=local)
    mb = git.out(root, "merge-base", local, remote, check=False) or None
    ours = _commits(root, mb, local)
    if mb == remote:
        return Plan("push", local, remote, merge_base=mb, ours=ours)
    p = Plan("diverged", local, remote, merge_base=mb, ours=ours)
    p.code = [c for c in ours if _changes_code(root, c)]
    _plan_board(root, p)
    return p


def _commits(root: Path, since: str | None, until: str) -> list[str]:
    span = f"{since}..{until}" if since else until
    return git.out(root, "rev-list", "--reverse", "--topo-order", span).split()


def _changes_code(root: Path, sha: str) -> bool:
    files = git.out(root, "diff-tree", "--no-commit-id", "-r", "-m", "--first-parent", "--name-only",
                    "-z", "--root", sha).split("\0")
    return any(f and not f.startswith("board/") for f in files)


def _changed(root: Path, a: str | None, b: str) -> set[str]:
    args = ["diff", "--name-only", "--no-renames", "-z", a or git.out(root, "hash-object", "-t", "tree",
                                                                      "/dev/null"), b, "--", "board/"]
    return set(git.out(root, *args).split("\0")) - {""}


def blob(root: Path, sha: str | None, path: str) -> bytes | None:
    if sha is None:
        return None
    proc = git.run(root, "cat-file", "blob", f"{sha}:{path}", check=False, text=False)
    return proc.stdout if proc.returncode == 0 else None


def _plan_board(root: Path, p: Plan) -> None:
    assert p.local and p.remote
    ours, theirs = _changed(root, p.merge_base, p.local), _changed(root, p.merge_base, p.remote)
    collided: list[str] = []
    for path in sorted(ours):
        mine = blob(root, p.local, path)
        if path not in theirs:
            p.take[path] = mine
            continue
        other = blob(root, p.remote, path)
        if mine == other:
            continue
        task = _task_of(path)
        if task and blob(root, p.merge_base, path) is None and mine is not None and other is not None:
            collided.append(task)  # both created this id: ours is renumbered, nothing lost
            p.take[path] = mine
            continue
        p.remote_wins.append(path)
        claim = _claim(mine) if task else None
        if claim is not None:
            p.lost.append(LostClaim(task or "", claim[0], claim[1], _status(other)))
    if collided:
        taken = _ids(root, p.remote) | _ids(root, p.local)
        for old in sorted(collided, key=_id_key):
            prefix = old.rpartition("-")[0]
            high = max((int(t.rpartition("-")[2]) for t in taken if t.rpartition("-")[0] == prefix),
                       default=0)
            new = f"{prefix}-{high + 1}"
            taken.add(new)
            p.renumber[old] = new
        p.take = {_renamed(path, p.renumber): data for path, data in p.take.items()}


def _task_of(path: str) -> str | None:
    if not path.startswith(TASKS) or not path.endswith(".yaml"):
        return None
    stem = path[len(TASKS):-5]
    return stem if ID_RE.match(stem) and "/" not in stem else None


def _renamed(path: str, renumber: dict[str, str]) -> str:
    task = _task_of(path)
    return f"{TASKS}{renumber[task]}.yaml" if task in renumber else path


def _id_key(tid: str) -> tuple[str, int]:
    head, _, num = tid.rpartition("-")
    return head, int(num)


def _ids(root: Path, sha: str | None) -> set[str]:
    if sha is None:
        return set()
    names = git.out(root, "ls-tree", "--name-only", "-z", f"{sha}:board/tasks", check=False).split("\0")
    return {n[:-5] for n in names if n.endswith(".yaml") and ID_RE.match(n[:-5])}


def _load(data: bytes | None) -> dict[str, Any]:
    if not data:
        return {}
    import yaml

    from batty.core.yamlx import Loader

    try:
        doc = yaml.load(data.decode("utf-8"), Loader=Loader)
    except (yaml.YAMLError, UnicodeDecodeError):
        return {}
    return doc if isinstance(doc, dict) else {}


def _status(data: bytes | None) -> str | None:
    value = _load(data).get("status")
    return str(value) if value is not None else None


def _claim(data: bytes | None) -> tuple[str | None, int] | None:
    """(seat, attempt) when this packet text is an in-progress claim on a seat."""
    doc = _load(data)
    if doc.get("status") != "in-progress" or not doc.get("assignee"):
        return None
    attempt = doc.get("attempt")
    return str(doc["assignee"]), attempt if isinstance(attempt, int) else 0


# ---------------------------------------------------------------- applying


def _fast_forward(st: State, base: str, p: Plan) -> None:
    assert p.remote
    root = st.paths.root
    if git.head_branch(root) == base:
        proc = git.run(root, "merge", "--ff-only", "-q", p.remote, check=False)
        if proc.returncode != 0:
            raise BattyError(f"cannot fast-forward {base}: "
                             f"{(proc.stderr.strip().splitlines() or ['?'])[-1]}",
                             valid="commit or stash the local changes in the way, then sync again")
    elif not git.update_ref(root, f"refs/heads/{base}", p.remote, p.local, "batty: sync fast-forward"):
        raise BattyError(f"{base} moved during sync", valid="run `batty sync` again")
    st.app.say(f"{base} fast-forwarded to {p.remote[:12]}")


def _replay(st: State, base: str, remote: str, p: Plan) -> None:
    """Put our unpushed work on the remote's base; move the local base there (CAS)."""
    assert p.remote and p.local
    onto = p.remote
    if p.code:
        onto = _rebase_code(st, remote, base, p)
    # A lost claim: stop our agent first; a crash after this finds the same plan again
    for claim in p.lost:
        _drop_claim(st, claim)
    new = _board_commit(st, onto, p, remote, base)
    _move(st, base, p.local, new)
    for old, tid in p.renumber.items():
        _rename_runtime(st, old, tid)


def _rebase_code(st: State, remote: str, base: str, p: Plan) -> str:
    """Our code commits, rebased on the remote's base in a scratch checkout and tested there.
    The base never points at a tree that did not pass: anything else refuses (and escalates)."""
    from batty.workflow import gate
    from batty.workflow.landing import BATTY_COMMITTER

    assert p.remote
    root = st.paths.root
    with gate.scratch(st.paths, "sync", p.remote) as tree:
        for sha in p.code:
            parents = git.out(root, "rev-list", "--parents", "-n", "1", sha).split()[1:]
            args = ["cherry-pick", "-n", *(["-m", "1"] if len(parents) > 1 else []), sha]
            proc = git.run(tree, *args, env=BATTY_COMMITTER, check=False)
            if proc.returncode != 0:
                files = git.out(tree, "diff", "--name-only", "--diff-filter=U", check=False).split()
                git.run(tree, "cherry-pick", "--abort", check=False)
                _refuse(st, remote, base, f"local commit {sha[:12]} conflicts with {remote}/{base}"
                        f" in: {', '.join(files) or '?'}")
            git.run(tree, "reset", "-q", "HEAD", "--", "board/", check=False)
            git.run(tree, "checkout", "-q", "HEAD", "--", "board/", check=False)
            git.run(tree, "clean", "-qfd", "--", "board/", check=False)
            if git.run(tree, "diff", "--cached", "--quiet", check=False).returncode == 0:
                continue  # the remote has this change already
            git.run(tree, "commit", "-q", "--no-verify", "-C", sha, env=BATTY_COMMITTER)
        head = git.out(tree, "rev-parse", "HEAD")
        command = gate.base_test_command(root, p.remote, "-", st.config.gates.test)
        log = st.paths.state / "sync-logs" / f"{clock.now().strftime('%Y%m%dT%H%M%S')}.log"
        from batty.runner import sandbox

        run = gate.run_tests(tree, command, timeout_s=st.config.gates.test_timeout_s, log_path=log,
                             pol=sandbox.policy(st.config))
        if not run.passed:
            _refuse(st, remote, base, f"the tests fail on this clone's code rebased onto {remote}/{base}"
                    f" (`{command}` {run.reason}, log {st.paths.rel(log)})", run.output_tail)
        st.app.say(f"{len(p.code)} code commit(s) rebased onto {remote}/{base}; the tests pass")
        return head


def _refuse(st: State, remote: str, base: str, why: str, tail: str = "") -> None:
    from batty.workflow.escalations import raise_escalation

    text = (f"{why}.\nThis clone's {base} was left as it was and nothing was pushed. Bring "
            f"{remote}/{base} in by hand (`git pull --rebase {remote} {base}`), make the tests pass, "
            "push, then `batty sync`.")
    raise_escalation(st, tasks=[], reason=f"sync refused: {base} diverged from {remote}/{base}",
                     text=text + ("\n\n" + tail if tail else ""), source="sync")
    st.finish()
    raise SyncRefused(f"sync refused: {why}", valid="escalated; see `batty escalations`")


def _board_commit(st: State, onto: str, p: Plan, remote: str, base: str) -> str:
    """One commit on ``onto`` with our board files (renumbered, references rewritten)."""
    import os

    root = st.paths.root
    tmp = st.paths.cache
    tmp.mkdir(parents=True, exist_ok=True)
    env = {"GIT_INDEX_FILE": str(tmp / f"sync-index.{os.getpid()}")}
    try:
        git.run(root, "read-tree", onto, env=env)
        for path, data in sorted(p.take.items()):
            if data is None:
                git.run(root, "update-index", "--force-remove", "--", path, env=env)
                continue
            task = _task_of(path)
            if task:
                data = _rewrite(data, task, p.renumber)
            sha = _hash(root, data)
            git.run(root, "update-index", "--add", "--cacheinfo", f"100644,{sha},{path}", env=env)
        tree = git.out(root, "write-tree", env=env)
    finally:
        Path(env["GIT_INDEX_FILE"]).unlink(missing_ok=True)
    if tree == git.out(root, "rev-parse", f"{onto}^{{tree}}"):
        return onto
    subjects = [git.out(root, "log", "-1", "--format=%s", c) for c in p.ours if c not in p.code]
    head = f"batty: sync: {len(subjects)} board commit(s) replayed onto {remote}/{base}"
    extra = [f"{o} renumbered {n}" for o, n in p.renumber.items()]
    extra += [f"{c.task} claim lost to {remote}" for c in p.lost]
    message = head + ("; " + "; ".join(extra) if extra else "") + "\n\n" + "\n".join(subjects) + "\n"
    from batty.store.git import BATTY_AUTHOR

    return git.out(root, "commit-tree", tree, "-p", onto, "-m", message, env=dict(BATTY_AUTHOR))


def _hash(root: Path, data: bytes) -> str:
    proc = git.run(root, "hash-object", "-w", "--stdin", input=data, text=False)
    return proc.stdout.decode().strip()  # type: ignore[no-any-return]


def _rewrite(data: bytes, task: str, renumber: dict[str, str]) -> bytes:
    """A packet's text with renumbered ids: its own, and its depends_on and parent."""
    if not renumber:
        return data
    from batty.store.packets import update_text

    doc = _load(data)
    changes: dict[str, Any] = {}
    if doc.get("id") in renumber:
        changes["id"] = renumber[doc["id"]]
    deps = doc.get("depends_on")
    if isinstance(deps, list) and any(d in renumber for d in deps):
        changes["depends_on"] = [renumber.get(d, d) for d in deps]
    if doc.get("parent") in renumber:
        changes["parent"] = renumber[doc["parent"]]
    if doc.get("branch") and doc.get("id") in renumber:
        changes["branch"] = branch_of(renumber[doc["id"]])
    if not changes:
        return data
    return update_text(data.decode("utf-8"), changes).encode("utf-8")


def _move(st: State, base: str, old: str, new: str) -> None:
    """Compare-and-swap the local base from ``old`` to ``new``; the control checkout follows
    (``reset --keep`` refuses rather than overwrite a local change)."""
    root = st.paths.root
    if git.head_branch(root) == base:
        if git.rev(root, "HEAD") != old:
            raise BattyError(f"{base} moved during sync", valid="run `batty sync` again")
        proc = git.run(root, "reset", "-q", "--keep", new, check=False)
        if proc.returncode != 0:
            raise BattyError(f"cannot move {base} onto the remote's: "
                             f"{(proc.stderr.strip().splitlines() or ['?'])[-1]}",
                             valid="commit or stash the local changes in the way, then sync again")
    elif not git.update_ref(root, f"refs/heads/{base}", new, old, "batty: sync"):
        raise BattyError(f"{base} moved during sync", valid="run `batty sync` again")


def _drop_claim(st: State, claim: LostClaim) -> None:
    """Our claim did not reach the remote first: nothing of it stays (agent, worktree, branch,
    run folder); the remote's packet is the one that counts."""
    from batty import runner
    from batty.store import worktrees

    paths = st.paths
    stopped = False
    if claim.attempt:
        run_dir = paths.run_dir(claim.task, claim.attempt)
        stopped = runner.stop(run_dir)
        if run_dir.exists():  # kept for the record, out of the way of dispatch and doctor
            aside = paths.state / "sync" / "lost" / f"{claim.task}-{claim.attempt}-{clock.now().strftime('%Y%m%dT%H%M%S')}"
            aside.parent.mkdir(parents=True, exist_ok=True)
            shutil.move(str(run_dir), str(aside))
    st.events.emit(Kind.AGENT_STOPPED, task=claim.task, seat=claim.seat, attempt=claim.attempt or None,
                   reason="lost-claim", running=stopped)
    worktrees.remove(paths, claim.task, branch=True)
    st.events.emit(Kind.RECONCILE_STATE, task=claim.task, seat=claim.seat, attempt=claim.attempt or None,
                   **{"from": "in-progress", "to": claim.remote_status,
                      "why": "lost claim: another machine's claim reached the remote first"})
    st.notes.append(f"{claim.task} claim on {claim.seat} lost to the remote")
    st.app.say(f"{claim.task}: claim lost to the remote; agent stopped, {claim.seat} is free")


def _rename_runtime(st: State, old: str, new: str) -> None:
    """A renumbered task's worktree, branch, runs and evidence follow its new id."""
    from batty import runner

    paths, root = st.paths, st.paths.root
    runs = paths.runs_of(old)
    if runs.exists():
        for attempt in runs.iterdir():
            if attempt.name.isdigit():
                runner.stop(attempt)
    wt_old, wt_new = paths.worktree(old), paths.worktree(new)
    from batty.store import repos

    if wt_old.exists() and not wt_new.exists():
        if repos.is_own(wt_old):  # a repository of its own (issue 14): its commits, then its folder
            repos.bring_back(root, wt_old, branch_of(old))
            os.rename(wt_old, wt_new)
            (wt_new / ".git" / "refs" / "heads" / branch_of(old)).unlink(missing_ok=True)
        else:
            git.run(root, "worktree", "move", str(wt_old), str(wt_new), check=False)
    if git.rev(root, f"refs/heads/{branch_of(old)}") and not git.rev(root, f"refs/heads/{branch_of(new)}"):
        git.run(root, "branch", "-m", branch_of(old), branch_of(new), check=False)
    tip = git.rev(root, f"refs/heads/{branch_of(new)}")
    if wt_new.exists() and repos.is_own(wt_new):
        if tip is not None:  # never git under the checkout's own config: its HEAD named anew
            repos.align(root, wt_new, branch_of(new), tip)
    elif wt_new.exists():
        git.run(wt_new, "checkout", "-q", branch_of(new), check=False)
    for a, b in ((runs, paths.runs_of(new)), (paths.evidence_of(old), paths.evidence_of(new))):
        if a.exists() and not b.exists():
            a.rename(b)
    st.events.emit(Kind.RECONCILE_STATE, task=new, **{"from": None, "to": _status(paths.packet(new).read_bytes()
                   if paths.packet(new).exists() else None),
                   "why": f"renumbered from {old}: the remote created {old} too", "renumbered_from": old})
    st.events.emit(Kind.RECONCILE_BOARD, change=f"{old} renumbered {new}", detail="id taken on the remote")
    st.app.say(f"{old} renumbered {new}: the remote created {old} too")


def _take_board(st: State) -> None:
    """BOARD.md now is the base's: record it as what batty last rendered (so no card is taken
    for a person's move), then render it again from the packets."""
    board = st.paths.board_md
    if board.exists():
        atomic.write_text(st.paths.cache / "board.base.md", board.read_text(encoding="utf-8"))
    st.reload()
    report = st.sync_board()
    for warning in report.warnings:
        st.app.warn(warning)


def _squash_own(st: State, base: str, remote: str | None, *, since: str | None) -> None:
    """At most one board commit per run: when the render commit sits on the replay commit this
    run made, both become one (same tree, so the checkout does not change)."""
    root = st.paths.root
    head = git.rev(root, f"refs/heads/{base}")
    if head is None or remote is None or since is None:
        return
    mine = [c for c in _commits(root, remote, head)
            if not git.is_ancestor(root, c, since) and not _changes_code(root, c)]
    if len(mine) < 2 or mine[-1] != head:
        return
    parent = git.out(root, "rev-parse", f"{mine[0]}^")
    message = "\n".join(git.out(root, "log", "-1", "--format=%B", c) for c in mine) + "\n"
    from batty.store.git import BATTY_AUTHOR

    sha = git.out(root, "commit-tree", f"{head}^{{tree}}", "-p", parent, "-m", message, env=dict(BATTY_AUTHOR))
    git.update_ref(root, f"refs/heads/{base}", sha, head, "batty: sync (one commit)")


def _short(sha: str | None) -> str:
    return sha[:12] if sha else "-"
