"""A set-up for each task checkout (issue 19, SPEC 13).

Before an agent starts in a checkout that has not been set up, dispatch calls :func:`prepare`:

1. the files ``.worktreeinclude`` lists (gitignore syntax) that the control checkout has and
   git ignores (``.env``, local settings) are copied into the checkout;
2. each path of ``setup.link`` (ignored paths of the control checkout: ``node_modules``, a
   ``.venv``, a shared cache) is linked into the checkout instead of copied or rebuilt;
3. the set-up command (the packet's ``setup``, else ``setup.command``) runs in the checkout,
   launched as the seat's agent is launched (an argv list, the agent's filtered environment,
   the checkout as working directory: :func:`launch_of`, so that it runs wherever the agent
   runs, a sandbox included), under ``setup.timeout_s``, killed with its process group when over
   time. Its output is ``setup.log`` in the run folder; ``setup.json`` sums it up; both are
   copied to the attempt's evidence folder.

A set-up that passed is marked in the checkout's git folder: a checkout made again (a new git
folder) is set up again, a next attempt in the same checkout is not. A failing set-up is not the
agent's failure: nothing is claimed and no attempt is spent; the task stays as it was and the
next dispatch tries again. After ``health.max_respawns`` failures in a row the task is blocked
and a person is told (an escalation, reason ``setup``).
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import subprocess
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from batty.core import clock
from batty.core.kinds import Kind
from batty.errors import BattyError
from batty.store import atomic, git

if TYPE_CHECKING:
    from batty.agents import Launch
    from batty.core.config import Seat
    from batty.core.packet import Packet
    from batty.workflow.state import State

INCLUDE_FILE = ".worktreeinclude"
MARKER = "batty-setup.json"          # in the checkout's git folder: this checkout was set up
NEVER = ("board", ".batty", ".git")  # never copied nor linked, whatever the list says
LOG_TAIL = 20


class SetupFailed(BattyError):
    """The set-up of a checkout failed: nothing was claimed, no attempt spent."""


def command_of(st: State, p: Packet) -> str:
    return (p.setup or st.config.setup.command or "").strip()


def _git_dir(wt: Path) -> Path | None:
    from batty.store import repos

    if repos.is_own(wt):  # a repository of its own (SPEC 11): never git under its own config
        return wt / ".git"
    proc = git.run(wt, "rev-parse", "--absolute-git-dir", check=False)
    return Path(proc.stdout.strip()) if proc.returncode == 0 and proc.stdout.strip() else None


def done(wt: Path) -> bool:
    gd = _git_dir(wt)
    return gd is not None and (gd / MARKER).is_file()


# ------------------------------------------------------------------ files into the checkout


def included(root: Path) -> list[str]:
    """The files of the control checkout that ``.worktreeinclude`` names and git ignores."""
    listing = root / INCLUDE_FILE
    if not listing.is_file() or listing.is_symlink():
        return []
    proc = git.run(root, "ls-files", "-z", "--others", "--ignored", f"--exclude-from={listing}",
                   "--", ".", *(f":(exclude){name}" for name in NEVER), check=False)
    candidates = [f for f in proc.stdout.split("\0") if f and f.split("/", 1)[0] not in NEVER]
    if not candidates:
        return []
    # only what the repository ignores: a tracked or merely untracked file is the agent's to make
    ignored = git.run(root, "check-ignore", "-z", "--stdin", input="\0".join(candidates) + "\0",
                      check=False)
    keep = {f for f in ignored.stdout.split("\0") if f}
    return [f for f in candidates if f in keep]


def copy_included(root: Path, wt: Path) -> tuple[list[str], list[str]]:
    """Copy the included files into ``wt`` (a file the checkout has already is left alone);
    (copied, not copied with why)."""
    copied: list[str] = []
    failed: list[str] = []
    for rel in included(root):
        src, dst = root / rel, wt / rel
        if dst.exists() or dst.is_symlink():
            continue
        try:
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dst, follow_symlinks=False)
        except OSError as e:  # said in the log; the set-up command may need it and fail
            failed.append(f"{rel}: {e.strerror or e}")
            continue
        copied.append(rel)
    return copied, failed


def link_shared(root: Path, wt: Path, links: tuple[str, ...]) -> tuple[list[str], list[str]]:
    """Symlink each path of ``setup.link`` from the control checkout into ``wt``; (linked,
    refused with why). Only ignored paths: a link in place of a tracked path would be a change."""
    linked: list[str] = []
    refused: list[str] = []
    excludes: list[str] = []
    for rel in links:
        rel = rel.strip("/")
        src, dst = root / rel, wt / rel
        if rel.split("/", 1)[0] in NEVER:
            refused.append(f"{rel}: batty's own folder")
            continue
        if not src.exists():
            refused.append(f"{rel}: not in the control checkout")
            continue
        if git.run(root, "check-ignore", "-q", rel, check=False).returncode != 0:
            refused.append(f"{rel}: not ignored by git (only ignored paths are linked)")
            continue
        if dst.exists() or dst.is_symlink():
            continue
        try:
            dst.parent.mkdir(parents=True, exist_ok=True)
            dst.symlink_to(src.resolve())
        except OSError as e:
            refused.append(f"{rel}: {e.strerror or e}")
            continue
        linked.append(rel)
        excludes.append("/" + rel)  # a link to a folder is no folder to a `dir/` pattern
    if excludes:
        path = git.run(wt, "rev-parse", "--git-path", "info/exclude").stdout.strip()
        exclude = Path(path) if os.path.isabs(path) else wt / path
        have = exclude.read_text(encoding="utf-8").splitlines() if exclude.is_file() else []
        new = [e for e in excludes if e not in have]
        if new:
            exclude.parent.mkdir(parents=True, exist_ok=True)
            with open(exclude, "a", encoding="utf-8") as f:
                f.write("".join(f"{e}\n" for e in new))
    return linked, refused


# ------------------------------------------------------------------ the command


def launch_of(agent_launch: Launch, command: str) -> Launch:
    """The set-up's launch: the agent's own (environment, working directory, and whatever wraps
    it), with ``bash -c COMMAND`` for its argv and no standard input. The command is one argv
    item, never pasted into a command line."""
    return dataclasses.replace(agent_launch, argv=["bash", "-c", command], stdin_path=None,
                               env={**agent_launch.env, "BATTY_SETUP": "1"})


@dataclasses.dataclass(frozen=True)
class Outcome:
    passed: bool
    reason: str | None      # exit, timeout, error
    exit_code: int | None
    duration_s: float


def run_launch(launch: Launch, *, timeout_s: float, log_path: Path) -> Outcome:
    """Run ``launch`` to its end (or its timeout), its output to ``log_path``; the whole process
    group goes at the end, whatever it left running."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    start = time.monotonic()
    with open(log_path, "ab") as log:
        log.write(f"$ {launch.argv[-1]}\n".encode())
        log.flush()
        try:
            proc = subprocess.Popen(launch.argv, cwd=launch.cwd, env=launch.env, stdin=subprocess.DEVNULL,
                                    stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                                    close_fds=True)
        except OSError as e:
            log.write(f"batty: could not start the set-up: {e}\n".encode())
            return Outcome(False, "error", None, 0.0)
        code: int | None
        try:
            code = proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            code = None
        from batty.workflow.gate import end_group

        end_group(proc)  # what the set-up started goes with it
        duration = round(time.monotonic() - start, 3)
        if code is None:
            log.write(f"\nbatty: the set-up ran past {timeout_s:g}s and was killed\n".encode())
            return Outcome(False, "timeout", None, duration)
    return Outcome(code == 0, None if code == 0 else "exit", code, duration)


# ------------------------------------------------------------------ dispatch's step


def prepare(st: State, p: Packet, seat: Seat, attempt: int, wt: Path, run_dir: Path,
            launch: Launch | None) -> dict[str, Any]:
    """Set up checkout ``wt`` unless it was; the packet changes to make with the claim (a count
    of failures to clear). ``launch``: the set-up command's (:func:`launch_of`, wrapped as the
    agent's launch is), None when there is no command. Raises :class:`SetupFailed` when the
    set-up fails (recorded, and escalated after ``health.max_respawns`` in a row)."""
    root = st.paths.root
    cfg = st.config
    command = command_of(st, p)
    if not command and not cfg.setup.link and not (root / INCLUDE_FILE).is_file():
        return {}  # nothing to set up (most repositories): nothing written, nothing logged
    if done(wt):
        return {}
    log_path = run_dir / "setup.log"
    log_path.unlink(missing_ok=True)  # this try's log (a failed try before is in its event)
    copied, not_copied = copy_included(root, wt)
    linked, refused = link_shared(root, wt, cfg.setup.link)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as log:
        for rel in copied:
            log.write(f"batty: copied {rel} ({INCLUDE_FILE})\n".encode())
        for why in not_copied:
            log.write(f"batty: not copied: {why}\n".encode())
        for rel in linked:
            log.write(f"batty: linked {rel} (setup.link)\n".encode())
        for why in refused:
            log.write(f"batty: not linked: {why}\n".encode())
    outcome = Outcome(True, None, 0, 0.0)
    if command and launch is not None:
        outcome = run_launch(launch, timeout_s=cfg.setup.timeout_s, log_path=log_path)
    record = {"task": p.id, "attempt": attempt, "seat": seat.name, "command": command or None,
              "result": "pass" if outcome.passed else "fail", "reason": outcome.reason,
              "exit_code": outcome.exit_code, "duration_s": outcome.duration_s, "copied": copied,
              "not_copied": not_copied, "linked": linked, "refused": refused, "at": clock.now_iso()}
    atomic.write_json(run_dir / "setup.json", record, durable=False)
    evidence = st.paths.evidence_dir(p.id, attempt)
    evidence.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(log_path, evidence / "setup.log")
    atomic.write_json(evidence / "setup.json", record, durable=False)
    log_rel = st.paths.rel(log_path)
    if outcome.passed:
        gd = _git_dir(wt)
        if gd is not None:
            atomic.write_json(gd / MARKER, record, durable=False)
        if command or copied or linked:
            st.events.emit(Kind.SETUP_PASSED, task=p.id, seat=seat.name, attempt=attempt, command=command or None,
                           duration_s=outcome.duration_s, copied=copied, linked=linked, log=log_rel)
        return {"setup_failures": None} if p.setup_failures else {}
    failures = p.setup_failures + 1
    limit = cfg.health.max_respawns
    st.events.emit(Kind.SETUP_FAILED, task=p.id, seat=seat.name, attempt=attempt, command=command,
                   reason=outcome.reason, exit_code=outcome.exit_code, duration_s=outcome.duration_s,
                   failures=failures, log=log_rel)
    what = {"timeout": f"ran past setup.timeout_s {cfg.setup.timeout_s}s",
            "error": "could not start"}.get(outcome.reason or "", f"exited {outcome.exit_code}")
    detail = f"set-up `{command}` {what} (failure {failures} of {limit} in a row; log: {log_rel})"
    _failed(st, p, failures, limit, detail, atomic.tail_lines(log_path, LOG_TAIL, 4000))
    raise SetupFailed(detail, valid="no attempt spent; the next dispatch tries again"
                      if failures < max(1, limit) else "escalated: see `batty escalations`")


def _failed(st: State, p: Packet, failures: int, limit: int, detail: str, tail: str) -> None:
    from batty.core.lifecycle import Actor, Status

    if failures < max(1, limit):
        st.update(p, setup_failures=failures)
        st.notes.append(f"{p.id} set-up failed ({failures} of {limit})")
        return
    from batty.workflow.escalations import raise_escalation

    text = f"{detail}\n\nLast lines of its output:\n{tail}" if tail else detail
    # told first, then blocked: a crash in between leaves an escalation and a count to reach again
    raise_escalation(st, tasks=[p.id], reason="setup", text=text, source="dispatch")
    st.transition(p, Status.BLOCKED, Actor.DISPATCH, f"set-up failed {failures} times in a row",
                  note=f"{p.id} {p.status.value} -> blocked (set-up failed)", setup_failures=None)
