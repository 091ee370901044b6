"""The one git module (STYLE 6): every git subprocess batty runs goes through :func:`run`.

batty's own git runs with settings an agent could have planted neutralised (hooks, fsmonitor,
aliases do not apply to plumbing), and always with a timeout.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

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


def _env(extra: Mapping[str, str] | None, cwd: Path | None = None) -> dict[str, str]:
    env = {k: os.environ[k] for k in GIT_ENV_KEYS if k in os.environ}
    env["GIT_TERMINAL_PROMPT"] = "0"
    env["LC_ALL"] = "C"
    # what a `git replace` (an agent's, issue 14) would make batty's git see instead of the
    # real objects: the gate's test command, a trusted test, the diff it fences
    env["GIT_NO_REPLACE_OBJECTS"] = "1"
    ceiling = _ceiling(cwd)
    if ceiling is not None:
        env["GIT_CEILING_DIRECTORIES"] = ceiling
    if extra:
        env.update(extra)
    return env


def _ceiling(cwd: Path | None) -> str | None:
    """For a checkout under .batty/ (an agent's worktree, a gate's scratch checkout): the folder
    that holds it. Code batty does not trust ran there and may have deleted its .git file; git
    would then look upward and act on the control checkout (a `reset --hard` moved the base
    there, review finding). Above the ceiling git does not look: it fails instead."""
    if cwd is None:
        return None
    text = os.path.abspath(cwd)
    if f"{os.sep}.batty{os.sep}" not in text + os.sep or text.endswith(f"{os.sep}.batty"):
        return None
    return os.path.dirname(text)


# Drivers a repository's config can name (a planted filter runs on `git add` and on checkout);
# -c cannot switch off a name it does not know, so batty reads the names and blanks each one.
DRIVERS_RE = r"^(filter|diff|merge)\..+\.(clean|smudge|process|textconv|command|driver|required)$|^include(if)?\."
# key -> (generation read at, the config files' stats, includes seen, the -c arguments)
_drivers: dict[str, tuple[int, tuple[Any, ...], bool, tuple[str, ...]]] = {}
_generation = 0


def forget_drivers() -> None:
    """Check the drivers again at the next git call (after code batty does not trust has run):
    read again when a config file changed (or the config includes other files)."""
    global _generation
    _generation += 1


def _config_stats(dirs: tuple[Path, Path] | None) -> tuple[Any, ...]:
    home = Path(os.environ.get("HOME", "/"))
    xdg = Path(os.environ.get("XDG_CONFIG_HOME") or home / ".config")
    files = [Path("/etc/gitconfig"), home / ".gitconfig", xdg / "git" / "config"]
    if dirs is not None:
        files += [dirs[1] / "config", dirs[0] / "config.worktree"]
    out: list[Any] = []
    for f in files:
        try:
            st = f.stat()
            out.append((st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns))
        except OSError:
            out.append(None)
    return tuple(out)


def _neutral_drivers(cwd: Path) -> tuple[str, ...]:
    # One reading a repository, not one a folder: a task's worktree and each scratch checkout
    # read the same config files as the control checkout, unless one has a config.worktree of
    # its own (then it is read on its own).
    key = str(cwd)
    dirs = _dirs(cwd)
    if dirs is not None and not (dirs[0] / "config.worktree").exists():
        key = str(dirs[1])
    known = _drivers.get(key)
    if known is not None:
        gen, stats, includes, args = known
        if gen == _generation:
            return args
        if not includes and dirs is not None and _config_stats(dirs) == stats:
            _drivers[key] = (_generation, stats, includes, args)
            return args
    stats = _config_stats(dirs)
    try:
        proc = subprocess.run(["git", *NEUTRAL, "config", "--get-regexp", DRIVERS_RE], cwd=cwd,
                              capture_output=True, text=True, timeout=30, env=_env(None, cwd),
                              stdin=subprocess.DEVNULL)
        names = {line.split(" ", 1)[0] for line in proc.stdout.splitlines() if line.strip()}
    except (OSError, subprocess.TimeoutExpired):
        names = set()
    includes = any(n.startswith("include") for n in names)
    out: list[str] = []
    for name in sorted(n for n in names if not n.startswith("include")):
        value = "false" if name.endswith(".required") else ""
        out += ["-c", f"{name}={value}"]
    _drivers[key] = (_generation, stats, includes, tuple(out))
    return tuple(out)


def run(cwd: Path, *args: str, check: bool = True, timeout: float = TIMEOUT_S,
        env: Mapping[str, str] | None = None, input: str | bytes | None = None,
        text: bool = True) -> subprocess.CompletedProcess:
    """``git args`` in ``cwd``; GitError (with git's own message) when it fails and ``check``."""
    argv = ["git", *NEUTRAL, *_neutral_drivers(cwd), *args]
    try:
        proc = subprocess.run(argv, cwd=cwd, capture_output=True, text=text, timeout=timeout,
                              env=_env(env, cwd), input=input, stdin=None if input is not None else subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        raise GitError(f"git {args[0]} timed out after {timeout:g}s") from None
    if check and proc.returncode != 0:
        msg = (proc.stderr if isinstance(proc.stderr, str) else proc.stderr.decode(errors="replace")).strip()
        raise GitError(f"git {' '.join(args[:2])} failed: {msg.splitlines()[-1] if msg else proc.returncode}")
    return proc


def out(cwd: Path, *args: str, **kw: object) -> str:
    return run(cwd, *args, **kw).stdout.strip()  # type: ignore[arg-type]


def _dirs(cwd: Path) -> tuple[Path, Path] | None:
    """(git dir, common dir) of the checkout whose top is ``cwd``, read from the files; None when
    ``cwd`` is not a checkout's top or the refs are not plain files (reftable): ask git then."""
    dotgit = cwd / ".git"
    try:
        if dotgit.is_dir():
            gitdir = dotgit
        else:
            text = dotgit.read_text()
            if not text.startswith("gitdir: "):
                return None
            gitdir = Path(text[8:].strip())
            if not gitdir.is_absolute():
                gitdir = cwd / gitdir
        try:
            common = Path((gitdir / "commondir").read_text().strip())
            # "../..", as git writes it: normalised, or each worktree would name the same
            # repository differently (its drivers read once for each: 3 git processes a task)
            common = common if common.is_absolute() else Path(os.path.normpath(gitdir / common))
        except FileNotFoundError:
            common = gitdir
    except OSError:
        return None
    if (common / "reftable").exists():
        return None
    return gitdir, common


def common_dir(root: Path) -> Path:
    """The repository's common git dir (shared by all its worktrees)."""
    dirs = _dirs(root)
    if dirs is not None:
        return dirs[1]
    common = Path(out(root, "rev-parse", "--git-common-dir"))
    return common if common.is_absolute() else (root / common).resolve()


def plain_common_dir(root: Path) -> Path | None:
    """The common git dir when the repository keeps its refs and worktrees as plain files (the
    files batty may read and write itself); None otherwise (reftable, or not a checkout's top)."""
    dirs = _dirs(root)
    return dirs[1] if dirs is not None else None


def is_oid(text: str) -> bool:
    return len(text) in (40, 64) and all(c in "0123456789abcdef" for c in text)


def _read_ref(common: Path, ref: str) -> str | None | bool:
    """The oid a branch ref holds (loose file first, then packed-refs), None when there is no
    such ref, False when the files do not say plainly (a symbolic ref): ask git then."""
    try:
        text = (common / ref).read_text().strip()
    except FileNotFoundError:
        text = None
    except OSError:
        return False
    if text is not None:
        return text if is_oid(text) else False
    try:
        packed = (common / "packed-refs").read_text()
    except FileNotFoundError:
        return None
    except OSError:
        return False
    tail = " " + ref
    for line in packed.splitlines():
        if line.endswith(tail) and not line.startswith(("#", "^")):
            oid = line[: -len(tail)]
            return oid if is_oid(oid) else False
    return None


def rev(cwd: Path, ref: str) -> str | None:
    """The commit ``ref`` names, or None. A branch (``refs/heads/...``) or ``HEAD`` at the top of
    a checkout is read from git's ref files, as git itself writes them (a lock file renamed
    into place): no subprocess; anything else asks ``git rev-parse``."""
    dirs = _dirs(cwd) if ref == "HEAD" or ref.startswith("refs/heads/") else None
    if dirs is not None:
        gitdir, common = dirs
        name: str | None = ref
        if ref == "HEAD":
            try:
                head = (gitdir / "HEAD").read_text().strip()
            except OSError:
                head = ""
            name = head[5:].strip() if head.startswith("ref: refs/heads/") else None
            if name is None and is_oid(head):
                return head
        if name is not None and ".." not in name:
            found = _read_ref(common, name)
            if found is not False:
                return found  # type: ignore[return-value]
    proc = run(cwd, "rev-parse", "--verify", "-q", f"{ref}^{{commit}}", check=False)
    return proc.stdout.strip() or None if proc.returncode == 0 else None


def head_branch(cwd: Path) -> str | None:
    dirs = _dirs(cwd)
    if dirs is not None:
        try:
            head = (dirs[0] / "HEAD").read_text().strip()
        except OSError:
            head = ""
        if head.startswith("ref: refs/heads/"):
            return head[16:].strip() or None
        if is_oid(head):
            return None
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


def delete_branches(cwd: Path, names: Sequence[str]) -> None:
    """Delete local branches ``names`` in one `git branch -D`: it deletes each it can and goes
    on past the others, and refuses, as it does for one, a branch some worktree has checked out
    (a person's checkout of it, or the control checkout: update-ref would delete it from under
    their HEAD)."""
    if names:
        run(cwd, "branch", "-D", *names, check=False)


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


def _quote(path: str) -> str:
    """A path as fast-import reads it: C-quoted, always."""
    out = path.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{out}"'


def _blob_id(data: bytes, hex_len: int) -> str:
    import hashlib

    h = hashlib.sha1() if hex_len == 40 else hashlib.sha256()
    h.update(b"blob %d\0" % len(data))
    h.update(data)
    return h.hexdigest()


def _worktree_entry(root: Path, path: str) -> tuple[str, bytes] | None:
    """(mode, content) of ``path`` as the working tree has it, None when it is gone."""
    full = root / path
    try:
        if full.is_symlink():
            return "120000", os.readlink(full).encode()
        if not full.is_file():
            return None
        data = full.read_bytes()
        return ("100755" if os.access(full, os.X_OK) else "100644"), data
    except FileNotFoundError:
        return None


def commit_paths(root: Path, branch: str, paths: Iterable[str], message: str,
                 *, author: Mapping[str, str] = BATTY_AUTHOR, tmp_dir: Path | None = None) -> str | None:
    """Commit the working-tree state of ``paths`` onto ``branch`` without touching any other file,
    the user's index, or what the checkout has staged elsewhere. Returns the new commit or None
    when nothing changed. Retries if the branch moved meanwhile.

    Three git processes, not nine: ``ls-tree`` reads what the parent holds at each path
    (nothing changed: no commit), ``fast-import`` writes the blobs, trees and commit
    onto a ref of this process's own, and one ``update-ref --stdin`` transaction moves the branch
    from the parent (compare-and-swap) and drops that ref. The bytes go in as the files hold
    them: no filter or attribute of the repository's applies to batty's board."""
    import time as _time

    wanted: set[str] = set()
    for path in paths:
        full = root / path
        if full.is_dir() and not full.is_symlink():  # a folder: the files in it
            wanted.update(str(f.relative_to(root)) for f in full.rglob("*") if not f.is_dir() or f.is_symlink())
        else:
            wanted.add(path.rstrip("/"))
    paths = sorted(wanted)
    if not paths:
        return None
    tmp_dir = tmp_dir or root / ".batty" / "cache"
    tmp_dir.mkdir(parents=True, exist_ok=True)
    name = lambda k: author.get(k, BATTY_AUTHOR[k])  # noqa: E731
    ident_a = f"{name('GIT_AUTHOR_NAME')} <{name('GIT_AUTHOR_EMAIL')}>"
    ident_c = f"{name('GIT_COMMITTER_NAME')} <{name('GIT_COMMITTER_EMAIL')}>"
    scratch_ref = f"refs/batty/commit-{os.getpid()}"
    marks = tmp_dir / f"marks.{os.getpid()}"
    for _ in range(3):
        parent = rev(root, f"refs/heads/{branch}")
        entries = {p: _worktree_entry(root, p) for p in paths}
        if parent:
            listing = run(root, "--literal-pathspecs", "ls-tree", "-z", parent, "--", *paths).stdout
            held: dict[str, tuple[str, str]] = {}
            for row in listing.split("\0"):
                meta, _, path = row.partition("\t")
                if path:
                    mode, _, oid = meta.split(" ")
                    held[path] = (mode, oid)
            same = True
            for p in paths:
                have, was = entries[p], held.get(p)
                if have is None or was is None:
                    same = same and have is None and was is None
                else:
                    same = same and have[0] == was[0] and _blob_id(have[1], len(parent)) == was[1]
            if same:
                return None
        elif all(e is None for e in entries.values()):
            return None
        when = f"{int(_time.time())} +0000"
        body = message.encode()
        stream = [b"feature done\n", f"commit {scratch_ref}\nmark :1\n".encode(),
                  f"author {ident_a} {when}\ncommitter {ident_c} {when}\n".encode(),
                  b"data %d\n" % len(body), body, b"\n"]
        if parent:
            stream.append(f"from {parent}\n".encode())
        for p in paths:
            have = entries[p]
            if have is None:
                stream.append(f"D {_quote(p)}\n".encode())
            else:
                stream += [f"M {have[0]} inline {_quote(p)}\n".encode(), b"data %d\n" % len(have[1]), have[1], b"\n"]
        stream.append(b"done\n")
        try:
            run(root, "fast-import", "--quiet", "--force", f"--export-marks={marks}", input=b"".join(stream),
                text=False)
            sha = marks.read_text().split()[1]
        finally:
            marks.unlink(missing_ok=True)
        old = parent or "0" * len(sha)
        moved = run(root, "update-ref", "-m", message.splitlines()[0], "--stdin",
                    input=f"update refs/heads/{branch} {sha} {old}\ndelete {scratch_ref}\n", check=False)
        if moved.returncode == 0:
            from batty.store import failpoints

            failpoints.point("git.after-board-commit")
            if head_branch(root) == branch:
                # The checkout is on the branch: its index learns the commit for these paths only.
                if parent:
                    run(root, "reset", "-q", sha, "--", *paths, check=False)
                else:
                    run(root, "read-tree", sha, check=False)
            return sha
        run(root, "update-ref", "-d", scratch_ref, check=False)
    raise GitError(f"{branch} kept moving while batty committed the board; try again")
