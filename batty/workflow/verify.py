"""verify (SPEC 8): gate a finished attempt. collect, fence, test, evidence; feedback on failure."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from batty import runner
from batty.core import clock
from batty.core.kinds import Kind
from batty.core.lifecycle import Actor, Status
from batty.core.packet import Packet
from batty.errors import BattyError
from batty.store import atomic, failpoints, git, locks
from batty.store.paths import branch_of
from batty.workflow import gate
from batty.workflow.attempt import block

if TYPE_CHECKING:
    from batty.workflow.session import Session
    from batty.workflow.state import State


def pending(st: State) -> list[Packet]:
    """In-progress attempts whose agent has exited and that no gate has judged yet."""
    out = []
    for p in st.packets:
        if p.status is not Status.IN_PROGRESS or not p.attempt:
            continue
        if int((p.verification or {}).get("attempt") or 0) == p.attempt:
            continue
        run_dir = st.paths.run_dir(p.id, p.attempt)
        if runner.run_state(run_dir) != "exited":
            continue
        run = runner.read_run(run_dir) or {}
        if run.get("context_exhausted"):
            continue  # doctor's: a fresh agent with a hand-off note
        out.append(p)
    return sorted(out, key=lambda p: (p.priority, p.id))


def verify(app: Session, task_id: str | None = None, *, dry_run: bool = False) -> list[tuple[str, bool]]:
    from batty.workflow.state import State

    st = State(app)
    results = run(st, task_id, dry_run=dry_run)
    st.finish()
    return results


def run(st: State, task_id: str | None = None, *, dry_run: bool = False) -> list[tuple[str, bool]]:
    """The verify step on a shared State (tick commits once at the end): the plan (the finished
    attempts to judge), then, unless ``dry_run``, each one judged. A dry run prints the plan."""
    with locks.hold(st.paths.state, "verify", cmd=st.app.cmd, wait_s=st.step_wait):
        st.reload()  # plan from what is on disk now, under the lock
        todo = plan(st, task_id)
        if dry_run:
            for p in todo:
                st.app.echo(f"would verify {p.id} attempt {p.attempt}")
            return []
        if todo:
            from batty.runner import sandbox

            sandbox.require(sandbox.policy(st.config))  # no boundary, no test run (SPEC 11)
        return apply(st, todo)


def plan(st: State, task_id: str | None = None) -> list[Packet]:
    """The finished attempts verify would judge now (only ``task_id``'s when given)."""
    todo = pending(st)
    if task_id:
        todo = [p for p in todo if p.id == task_id]
        if not todo:
            p = st.packets.require(task_id)
            st.app.say(f"{task_id} has no finished attempt to verify ({p.status.value})")
    return todo


def apply(st: State, todo: list[Packet]) -> list[tuple[str, bool]]:
    """Judge each attempt of the plan: (task, passed) for each one judged."""
    results = []
    base_sha = git.rev(st.paths.root, f"refs/heads/{st.config.base}") if todo else None
    if base_sha:  # the base's packet of each and its config, in one git process for all
        gate.prefetch(st.paths.root, base_sha,
                      ["board/config.yaml", *(f"board/tasks/{p.id}.yaml" for p in todo)])
    import time

    for p in todo:
        start = time.monotonic()  # issue 16.7: a line per action, with how long it took
        st.app.say(f"{p.id}: verifying attempt {p.attempt} (fence, tests) ...")
        try:
            ok = verify_one(st, p)
            results.append((p.id, ok))
            st.app.say(f"{p.id}: verify {'passed: review' if ok else 'failed'} ({time.monotonic() - start:.1f} s)")
        except BattyError as e:
            st.app.warn(f"{p.id}: {e}")
    return results


def _phase(st: State, p: Packet, phase: str, result: str, detail: str = "") -> None:
    st.events.emit(Kind.VERIFY_PHASE, task=p.id, seat=p.assignee, attempt=p.attempt, phase=phase,
                   result=result, detail=detail[:500])


def verify_one(st: State, p: Packet) -> bool:
    cfg = st.config
    root = st.paths.root
    wt = st.paths.worktree(p.id)
    branch = branch_of(p.id)
    started = clock.monotonic()
    evidence_dir = st.paths.evidence_dir(p.id, p.attempt)
    base_sha = git.rev(root, f"refs/heads/{cfg.base}")
    if base_sha is None:
        raise BattyError(f"base branch {cfg.base} does not exist", valid="base: in board/config.yaml")
    record: dict[str, Any] = {"task": p.id, "attempt": p.attempt, "base": cfg.base, "base_sha": base_sha,
                              "phases": {}}

    def fail(phase: str, reason: str, detail: str, tail: str = "", sha: str | None = None) -> bool:
        _phase(st, p, phase, "fail", detail)
        record["phases"][phase] = "fail"
        return _finish(st, p, passed=False, sha=sha, phase=phase, reason=reason, detail=detail, tail=tail,
                       record=record, evidence_dir=evidence_dir, started=started)

    # 0. a question for a person (SPEC 13): not work to gate; the file never reaches the branch
    from batty.workflow import question

    asked = question.take(root, wt, branch, st.paths.state / "tmp") if wt.exists() else None
    if asked is not None:
        question.ask(st, p, asked)
        return False

    # the agent's own word: exit 0 means ready for the gate (SPEC 6)
    run_info = runner.read_run(st.paths.run_dir(p.id, p.attempt)) or {}
    if run_info.get("exit_code") not in (0, None):
        log = atomic.tail_lines(st.paths.run_dir(p.id, p.attempt) / "agent.log", gate.OUTPUT_TAIL)
        return fail("collect", "agent-exit", f"the agent exited {run_info['exit_code']} (not ready)", tail=log)

    # 1. collect: the checkout's commits fetched, what it left uncommitted committed (SPEC 11:
    # from the control side, never by git under the checkout's own config)
    from batty.store import repos, worktrees

    if wt.exists() and repos.is_linked(wt):  # made by an older batty: moved over first
        try:
            worktrees.ensure(st.paths, p.id, cfg.base)
        except BattyError:
            pass
    on, sha = repos.head(wt) if repos.is_own(wt) else (None, None)
    if not wt.exists() or on != branch:
        return fail("collect", "no-branch" if not wt.exists() else "wrong-branch",
                    f"the worktree is not on {branch}")
    if sha is None:
        # a deleted branch: committing now would make a root commit of the whole worktree
        # (tests/scenarios/test_branch_deleted.py; doctor restores the branch before this)
        return fail("collect", "no-branch", f"{branch} has no commit (the branch was deleted)")
    record["boundary"] = repos.oddities(wt, branch, cfg.base, base_sha, root)
    fetched = repos.bring_back(root, wt, branch)
    if fetched is None:
        return fail("collect", "no-branch", f"the commits of {branch} could not be fetched from its checkout")
    seat = p.assignee or "agent"
    head = repos.collect(root, wt, branch, fetched, f"{p.id}: uncommitted work of attempt {p.attempt}",
                         {"GIT_AUTHOR_NAME": f"{seat} (batty agent)", "GIT_AUTHOR_EMAIL": f"{seat}@batty.localhost",
                          "GIT_COMMITTER_NAME": "batty", "GIT_COMMITTER_EMAIL": "batty@localhost"},
                         st.paths.state / "tmp")
    failpoints.point("verify.after-collect")
    record["sha"] = head
    merge_base, commits = gate.branch_history(root, base_sha, head)
    chs = (commits.changes if commits.changes is not None and commits.since == merge_base
           else gate.changes(root, merge_base, head))
    if not chs:
        return fail("collect", "no-change", "the attempt changed nothing (only talk)", sha=head)
    _phase(st, p, "collect", "pass", f"{len(chs)} paths changed")
    record["phases"]["collect"] = "pass"

    planner = cfg.seat(p.assignee or "")
    if p.kind == "epic" and planner is not None and planner.role == "planner":
        return _plan(st, p, chs, head, record, fail, evidence_dir, started)

    # 2. fence: protected paths, the scope, links and submodules
    fenced = gate.fence(root, chs, head, scope=p.scope, protected=cfg.gates.protected,
                        commits=commits.paths, submodules=cfg.gates.allow_submodules)
    record["files"] = fenced.files
    if not fenced.ok:
        return fail("fence", fenced.reason or "fence", fenced.detail, sha=head)
    command = gate.base_test_command(root, base_sha, p.id, cfg.gates.test)
    refused = _gate_change(st, base_sha, head, fenced.files, command, record)
    if refused:
        return fail("fence", "gate-change", refused, sha=head)
    _phase(st, p, "fence", "pass")
    record["phases"]["fence"] = "pass"

    # 3. test: the checks, in a scratch checkout of the exact commit, the trusted run with the
    # trusted and test files as the base has them, then the change's own tests (checks/suite.py)
    from batty.runner import sandbox
    from batty.workflow.checks import suite

    pol = sandbox.policy(cfg)
    ctx = suite.Context(root, st.paths.state, cfg.gates, base_sha, head, p.id, evidence_dir, pol=pol,
                        phase=lambda ph, res, detail: _phase(st, p, ph, res, detail),
                        on_flaky=lambda check, tests: st.events.emit(
                            Kind.VERIFY_FLAKY, task=p.id, seat=p.assignee, attempt=p.attempt, check=check,
                            tests=tests),
                        checkout=lambda: gate.scratch(st.paths, f"verify-{p.id}-own", head))
    with gate.scratch(st.paths, f"verify-{p.id}", head) as tree:
        # which trusted files to put back, from the branch's own diff when that says it: no git
        # diff in the checkout for each task
        known = gate.trusted_from_branch(root, chs, merge_base, base_sha, suite.test_globs(cfg.gates.trusted_tests))
        failpoints.point("verify.before-test")
        verdict = suite.run_tree(ctx, tree, known)
    record.update(suite.evidence(verdict, head, cfg.gates.trusted_tests))
    from batty.workflow.checks import reuse

    reuse.write_outcomes(evidence_dir, verdict)
    if not verdict.passed:
        reason, detail, tail = verdict.feedback()
        return fail("test", reason, detail, tail=tail, sha=head)
    _phase(st, p, "test", "pass", f"{record['duration_s']}s")
    record["phases"]["test"] = "pass"
    return _finish(st, p, passed=True, sha=head, phase="test", reason=None, detail="", tail="",
                   record=record, evidence_dir=evidence_dir, started=started)


def _gate_change(st: State, base_sha: str, head: str, files: list[str], command: str,
                 record: dict[str, Any]) -> str | None:
    """What a person must see of this change (batty/workflow/gatechecks.py), kept in the evidence; the
    refusal's text when it changes the test runner's files and gates.on_gate_change is refuse."""
    from batty.workflow import gatechecks

    found = gatechecks.review(st.paths.root, base_sha, head, files, command=command,
                              needs_approval=st.config.gates.needs_approval)
    if found:
        record["needs_person"] = found
    runner_files = found.get("runner_files")
    if runner_files and st.config.gates.on_gate_change == "refuse":
        return ("changes the test runner's own files (or adds a module in the name of one a test run"
                " imports on its own), which the gate runs as the base has them: "
                + ", ".join(runner_files[:10]) + ". Leave them as the base has them and change the code"
                " (gates.on_gate_change is refuse)")
    return None


def _plan(st: State, p: Packet, chs: list[gate.Change], head: str, record: dict[str, Any], fail: Any,
          evidence_dir: Any, started: float) -> bool:
    """A planner's attempt: only plan.yaml may change; the plan is validated, then its tasks
    land on the board and the epic is done."""
    import yaml

    from batty.core import yamlx
    from batty.core.epic import PLAN_FILE, validate
    from batty.core.packet import PacketProblem

    cfg = st.config
    other = [f for f in gate.touched(chs) if f != PLAN_FILE]
    if other:
        return fail("fence", "scope", f"a planner changes only {PLAN_FILE}, not: {', '.join(other[:10])}", sha=head)
    _phase(st, p, "fence", "pass")
    text = git.run(st.paths.root, "show", f"{head}:{PLAN_FILE}", check=False).stdout
    try:
        data = yamlx.load(text, PLAN_FILE)  # anchors and aliases refused (issue 15)
        children = validate(data, max_children=cfg.planner.max_children, existing=set(st.packets.by_id))
    except yaml.YAMLError as e:
        return fail("test", "plan", f"{PLAN_FILE} is not valid YAML: {str(e).splitlines()[0]}", sha=head)
    except PacketProblem as e:
        line = yamlx.line_of(yamlx.lines(text, PLAN_FILE), e.path)
        return fail("test", "plan", f"{PLAN_FILE}:{line}: {e.what} ({e.valid})", sha=head)
    except BattyError as e:  # an anchor or alias (yamlx.plain), or YAML that does not parse
        return fail("test", "plan", str(e), sha=head)
    _phase(st, p, "test", "pass", f"a plan of {len(children)} tasks")
    ids: list[str] = []
    for child in children:
        deps = [ids[d] if isinstance(d, int) else d for d in child.depends_on]
        new = st.create(child.title, description=child.description, scope=list(child.scope),
                        priority=child.priority, depends_on=deps, test=child.test,
                        complexity=child.complexity, parent=p.id, by="planner")
        ids.append(new.id)
    record["children"] = ids
    ok = _finish(st, p, passed=True, sha=head, phase="test", reason=None, detail="", tail="",
                 record=record, evidence_dir=evidence_dir, started=started, epic_children=ids)
    from batty.store import worktrees

    worktrees.remove(st.paths, p.id, branch=True)
    return ok


def _finish(st: State, p: Packet, *, passed: bool, sha: str | None, phase: str, reason: str | None,
            detail: str, tail: str, record: dict[str, Any], evidence_dir: Any, started: float,
            epic_children: list[str] | None = None) -> bool:
    cfg = st.config
    duration = round(clock.monotonic() - started, 3)
    record.update(result="pass" if passed else "fail", phase=phase, reason=reason, detail=detail,
                  at=clock.now_iso(), verify_duration_s=duration)
    path = gate.evidence(evidence_dir, record)
    st.events.emit(Kind.VERIFY_PHASE, task=p.id, seat=p.assignee, attempt=p.attempt, phase="evidence",
                   result="pass", detail=st.paths.rel(path))
    st.events.emit(Kind.VERIFY_EVIDENCE, task=p.id, seat=p.assignee, attempt=p.attempt,
                   path=st.paths.rel(evidence_dir), sha=sha, exit_code=record.get("exit_code"),
                   duration_s=record.get("duration_s"))
    verification = {"attempt": p.attempt, "sha": sha, "result": record["result"], "phase": phase,
                    "reason": reason, "duration_s": duration, "evidence": st.paths.rel(evidence_dir),
                    "at": record["at"]}
    if record.get("own_tests_passed"):  # the confidence score credits a change's own passing tests
        verification["own_tests"] = record["own_tests_passed"]
    failpoints.point("verify.before-verdict")
    if passed and epic_children is not None:
        st.events.emit(Kind.VERIFY_PASSED, task=p.id, seat=p.assignee, attempt=p.attempt, sha=sha)
        st.transition(p, Status.DONE, Actor.VERIFY, f"split into {', '.join(epic_children)}",
                      note=f"{p.id} split into {', '.join(epic_children)}", verification=verification,
                      feedback=None)
        return True
    if passed:
        st.events.emit(Kind.VERIFY_PASSED, task=p.id, seat=p.assignee, attempt=p.attempt, sha=sha)
        st.transition(p, Status.REVIEW, Actor.VERIFY, "verify passed", verification=verification,
                      feedback=None, expect_attempt=p.attempt)
        return True
    st.events.emit(Kind.VERIFY_FAILED, task=p.id, seat=p.assignee, attempt=p.attempt, sha=sha,
                   reason=reason)
    text = gate.feedback(phase, reason, detail, tail)
    if p.attempts_used >= cfg.gates.max_attempts:
        block(st, p, f"verify failed {p.attempt} times (last: {reason})", text,
              reason=f"verify-{reason}", verification=verification, actor=Actor.VERIFY)
    else:
        st.transition(p, Status.IN_PROGRESS, Actor.VERIFY, f"verify failed: {reason}",
                      note=f"{p.id} attempt {p.attempt} failed verify ({reason})",
                      verification=verification, feedback=text, expect_attempt=p.attempt)
    return False
