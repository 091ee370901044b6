"""The one git module (STYLE 6): every git subprocess batty runs goes through :func:`run`.

batty's own git runs with settings an agent could have planted neutralised (hooks, fsmonitor,
aliases do not apply to plumbing), and always with a timeout.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from batty.errors import GitError

BATTY_AUTHOR = {"GIT_AUTHOR_NAME": "batty", "GIT_AUTHOR_EMAIL": "batty@localhost",
                "GIT_COMMITTER_NAME": "batty", "GIT_COMMITTER_EMAIL": "batty@localhost"}
# Settings an agent could plant in .git/config to run code inside batty's own git calls.
NEUTRAL = ("-c", "core.fsmonitor=false", "-c", "core.hooksPath=/dev/null",
           "-c", "credential.helper=", "-c", "core.askPass=", "-c", "protocol.ext.allow=never",
           "-c", "merge.verifySignatures=false",
           "-c", "core.sshCommand=ssh", "-c", "diff.external=", "-c", "core.pager=cat",
           "-c", "commit.gpgSign=false", "-c", "tag.gpgSign=false", "-c", "core.editor=true",
           "-c", "sequence.editor=true", "-c", "advice.detachedHead=false",
           "-c", "merge.conflictStyle=merge", "-c", "core.quotePath=false")
TIMEOUT_S = 120


# What batty's own git gets of batty's environment: no secret (a notify URL) reaches a git
# that runs inside an agent's worktree.
GIT_ENV_KEYS = ("PATH", "HOME", "LANG", "LANGUAGE", "TZ", "TMPDIR", "USER", "LOGNAME", "SSH_AUTH_SOCK",
                "GIT_AUTHOR_NAME", "GIT_AUTHOR_EMAIL", "GIT_COMMITTER_NAME", "GIT_COMMITTER_EMAIL",
                "GIT_CONFIG_NOSYSTEM", "GIT_SSH", "GIT_SSH_COMMAND")


def _env(extra: Mapping[str, str] | None) -> dict[str, str]:
    env = {k: os.environ[k] for k in GIT_ENV_KEYS if k in os.environ}
    env["GIT_TERMINAL_PROMPT"] = "0"
    env["LC_ALL"] = "C"
    if extra:
        env.update(extra)
    return env


# Drivers a repository's config can name (a planted filter runs on `git add` and on checkout);
# -c cannot switch off a name it does not know, so batty reads the names and blanks each one.
DRIVERS_RE = r"^(filter|diff|merge)\..+\.(clean|smudge|process|textconv|command|driver|required)$"
_drivers: dict[str, tuple[str, ...]] = {}


def _neutral_drivers(cwd: Path) -> tuple[str, ...]:
    key = str(cwd)
    if key not in _drivers:
        try:
            proc = subprocess.run(["git", *NEUTRAL, "config", "--get-regexp", DRIVERS_RE], cwd=cwd,
                                  capture_output=True, text=True, timeout=30, env=_env(None),
                                  stdin=subprocess.DEVNULL)
            names = {line.split(" ", 1)[0] for line in proc.stdout.splitlines() if line.strip()}
        except (OSError, subprocess.TimeoutExpired):
            names = set()
        out: list[str] = []
        for name in sorted(names):
            value = "false" if name.endswith(".required") else ""
            out += ["-c", f"{name}={value}"]
        _drivers[key] = tuple(out)
    return _drivers[key]


def run(cwd: Path, *args: str, check: bool = True, timeout: float = TIMEOUT_S,
        env: Mapping[str, str] | None = None, input: str | bytes | None = None,
        text: bool = True) -> subprocess.CompletedProcess:
    """``git args`` in ``cwd``; GitError (with git's own message) when it fails and ``check``."""
    argv = ["git", *NEUTRAL, *_neutral_drivers(cwd), *args]
    try:
        proc = subprocess.run(argv, cwd=cwd, capture_output=True, text=text, timeout=timeout,
                              env=_env(env), input=input, stdin=None if input is not None else subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        raise GitError(f"git {args[0]} timed out after {timeout:g}s") from None
    if check and proc.returncode != 0:
        msg = (proc.stderr if isinstance(proc.stderr, str) else proc.stderr.decode(errors="replace")).strip()
        raise GitError(f"git {' '.join(args[:2])} failed: {msg.splitlines()[-1] if msg else proc.returncode}")
    return proc


def out(cwd: Path, *args: str, **kw: object) -> str:
    return run(cwd, *args, **kw).stdout.strip()  # type: ignore[arg-type]


def rev(cwd: Path, ref: str) -> str | None:
    """The commit ``ref`` names, or None."""
    proc = run(cwd, "rev-parse", "--verify", "-q", f"{ref}^{{commit}}", check=False)
    return proc.stdout.strip() or None if proc.returncode == 0 else None


def head_branch(cwd: Path) -> str | None:
    proc = run(cwd, "symbolic-ref", "-q", "--short", "HEAD", check=False)
    return proc.stdout.strip() or None


def is_ancestor(cwd: Path, a: str, b: str) -> bool:
    return run(cwd, "merge-base", "--is-ancestor", a, b, check=False).returncode == 0


def update_ref(cwd: Path, ref: str, new: str, old: str | None, message: str = "batty") -> bool:
    """Move ``ref`` to ``new`` only if it still points at ``old`` (compare-and-swap)."""
    args = ["update-ref", "-m", message, ref, new]
    if old is not None:
        args.append(old)
    else:
        args.append("0" * 40)
    return run(cwd, *args, check=False).returncode == 0


def changed_paths(cwd: Path, pathspec: Sequence[str]) -> list[str]:
    """Paths under ``pathspec`` that differ from HEAD in the index or working tree, or are new."""
    proc = run(cwd, "status", "--porcelain=v1", "-z", "--untracked-files=all", "--", *pathspec,
               check=False)
    paths: list[str] = []
    items = proc.stdout.split("\0")
    i = 0
    while i < len(items):
        item = items[i]
        if len(item) > 3:
            paths.append(item[3:])
            if item[0] in "RC":
                i += 1
                if i < len(items) and items[i]:
                    paths.append(items[i])
        i += 1
    return paths


def commit_paths(root: Path, branch: str, paths: Iterable[str], message: str,
                 *, author: Mapping[str, str] = BATTY_AUTHOR, tmp_dir: Path | None = None) -> str | None:
    """Commit the working-tree state of ``paths`` onto ``branch`` without touching any other file,
    the user's index, or what the checkout has staged elsewhere. Returns the new commit or None
    when nothing changed. Retries once if the branch moved meanwhile."""
    paths = sorted(set(paths))
    if not paths:
        return None
    tmp_dir = tmp_dir or root / ".batty" / "cache"
    tmp_dir.mkdir(parents=True, exist_ok=True)
    for _ in range(3):
        parent = rev(root, f"refs/heads/{branch}")
        index = tmp_dir / f"index.{os.getpid()}"
        env = {"GIT_INDEX_FILE": str(index)}
        try:
            if parent:
                run(root, "read-tree", parent, env=env)
            else:
                run(root, "read-tree", "--empty", env=env)
            run(root, "add", "-A", "--", *paths, env=env)
            tree = out(root, "write-tree", env=env)
        finally:
            index.unlink(missing_ok=True)
        if parent and tree == out(root, "rev-parse", f"{parent}^{{tree}}"):
            return None
        args = ["commit-tree", tree, "-m", message]
        if parent:
            args[2:2] = ["-p", parent]
        sha = out(root, *args, env=dict(author))
        if update_ref(root, f"refs/heads/{branch}", sha, parent, message.splitlines()[0]):
            from batty import failpoints

            failpoints.point("git.after-board-commit")
            if head_branch(root) == branch:
                # The checkout is on the branch: its index learns the commit for these paths only.
                if parent:
                    run(root, "reset", "-q", sha, "--", *paths, check=False)
                else:
                    run(root, "read-tree", sha, check=False)
            return sha
    raise GitError(f"{branch} kept moving while batty committed the board; try again")
