"""batty's git hooks (issue 5): small shims in ``.git/hooks`` that call ``batty hooks run``.

Following pre-commit: a shim carries an id line so that install and uninstall recognise it; a
foreign hook found in its place is moved aside to ``<hook>.legacy`` and still runs first;
uninstall puts it back. The shims' source is ``batty/templates/hooks/`` (``hooks/`` at the top of
the source tree links there).

- ``pre-commit``: in the control checkout, ``batty task lint`` of the staged ``board/`` (what
  the commit holds, not the working tree) when the commit touches ``board/``; in an agent's worktree (under ``.batty/worktrees/``), a commit that touches
  ``board/`` is refused (the board is the supervisor's and the human's, SPEC 1).
- ``post-merge``, ``post-checkout`` (branch checkouts): a quiet reconcile in the control checkout.

Every worktree shares the repository's hooks, so the hooks tell the checkouts apart. batty's own
git runs with ``core.hooksPath=/dev/null`` (``batty.store.git.NEUTRAL``): its own commits never
run a hook, and a hook never starts batty from inside batty.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from pathlib import Path

from batty.errors import BattyError, InvalidInput
from batty.store import atomic, git
from batty.store.paths import Paths

HOOKS: tuple[str, ...] = ("pre-commit", "post-merge", "post-checkout")
ID_LINE = "# batty-hook-id: 4b61747479a7c3f0e1d2"
# In the package (shipped with it: an installed batty has no source tree); the source tree's
# top-level hooks/ links here
SOURCE = Path(__file__).resolve().parent.parent / "templates" / "hooks"


def is_ours(path: Path) -> bool:
    try:
        with open(path, "rb") as f:
            head = f.read(4096).decode("utf-8", errors="replace")
    except OSError:
        return False
    return ID_LINE in head.splitlines()[:5]


def shim(name: str) -> str:
    """The shim for hook ``name``, pointing at the Python batty runs under now."""
    template = SOURCE / name
    try:
        text = template.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise BattyError(f"the hook template {template} is missing",
                         valid="reinstall batty (the templates ship with the package)") from None
    return text.replace("'@PYTHON@'", shlex.quote(sys.executable))


def _hooks_dir(paths: Paths) -> Path:
    from batty.workflow.doctor import tamper

    return tamper.hooks_dir(paths.root)


def _hooks_path_setting(paths: Paths) -> str | None:
    """core.hooksPath from the repository's or the user's config (git would run those hooks)."""

    local = git.common_dir(paths.root) / "config"
    for args in (["--file", str(local)], ["--global"]):
        proc = git.run(paths.root, "config", *args, "--get", "core.hooksPath", check=False)
        if proc.returncode == 0 and proc.stdout.strip():
            return proc.stdout.strip()
    return None


def install(paths: Paths) -> list[str]:
    """Install (or upgrade) the shims; returns what it did, one line each."""
    setting = _hooks_path_setting(paths)
    if setting:
        raise InvalidInput(f"core.hooksPath is set ({setting}): git would not run hooks in "
                           ".git/hooks", valid="unset it (git config --unset-all core.hooksPath), "
                           "then run batty hooks install")
    folder = _hooks_dir(paths)
    folder.mkdir(parents=True, exist_ok=True)
    done: list[str] = []
    for name in HOOKS:
        target, legacy = folder / name, folder / f"{name}.legacy"
        text = shim(name)
        if target.exists() and not is_ours(target):
            if legacy.exists():
                raise InvalidInput(f"{target} and {legacy} both exist",
                                   valid="move one of them away, then run batty hooks install")
            os.replace(target, legacy)
            done.append(f"{name}: the hook that was there is kept as {name}.legacy and still runs")
        if target.exists() and target.read_text(encoding="utf-8", errors="replace") == text:
            continue
        atomic.write_text(target, text, mode=0o755)
        done.append(f"{name}: installed")
    _rebaseline(paths)
    return done


def uninstall(paths: Paths) -> list[str]:
    """Remove the shims; a hook kept as ``<hook>.legacy`` goes back in its place."""
    folder = _hooks_dir(paths)
    done: list[str] = []
    for name in HOOKS:
        target, legacy = folder / name, folder / f"{name}.legacy"
        if target.exists() and not is_ours(target):
            done.append(f"{name}: not batty's; left alone")
            continue
        if target.exists():
            target.unlink()
            done.append(f"{name}: removed")
        if legacy.exists():
            os.replace(legacy, target)
            done.append(f"{name}: {name}.legacy put back")
    _rebaseline(paths)
    return done


def _rebaseline(paths: Paths) -> None:
    """batty changed the hooks itself: the tamper baseline takes them (the config part stays)."""
    from batty.workflow.doctor import tamper

    tamper.record(paths, hooks_only=True)


# ------------------------------------------------------------------ running a hook


def run(name: str, args: list[str], cwd: Path | None = None) -> int:
    """What hook ``name`` does; its exit code is the hook's."""
    here = Path(cwd or os.getcwd())
    proc = git.run(here, "rev-parse", "--show-toplevel", "--git-common-dir", check=False)
    if proc.returncode != 0:
        return 0  # a bare repository, or git in a state we cannot read: never block git
    top_s, common_s = proc.stdout.splitlines()[:2]
    top = Path(top_s)
    common = Path(common_s) if os.path.isabs(common_s) else (here / common_s).resolve()
    control = common.parent
    agent = _under(top, control / ".batty" / "worktrees")
    if name == "pre-commit":
        env = _index_env(top)
        staged = _staged_board(top, env)
        if agent:
            if staged:
                print("batty: an agent's worktree may not commit board/ (the board is the "
                      "supervisor's and the human's); unstage: " + ", ".join(staged[:5]),
                      file=sys.stderr)
                return 1
            return 0
        if not staged or not (top / "board" / "config.yaml").is_file():
            return 0
        return _lint_staged(top, env)
    if agent or not (top / "board" / "config.yaml").is_file():
        return 0  # an agent's checkout never reconciles the board
    if name == "post-checkout" and args[2:3] == ["0"]:
        return 0  # a file checkout, not a branch switch
    _batty(top, "--quiet", "reconcile")
    return 0  # the checkout or merge is done whatever reconcile says; it reports on stderr


def _under(path: Path, folder: Path) -> bool:
    try:
        Path(os.path.realpath(path)).relative_to(os.path.realpath(folder))
        return True
    except ValueError:
        return False


def _index_env(top: Path) -> dict[str, str]:
    """git's own index for the commit being made: `git commit -a` or a partial commit keeps it
    in GIT_INDEX_FILE (relative to the checkout's top)."""
    index = os.environ.get("GIT_INDEX_FILE")
    return {"GIT_INDEX_FILE": os.path.join(top, index)} if index else {}


def _staged_board(top: Path, env: dict[str, str]) -> list[str]:
    """board/ paths in the commit being made."""
    if git.rev(top, "HEAD"):
        proc = git.run(top, "diff", "--cached", "--name-only", "--no-renames", "-z", env=env,
                       check=False)
    else:  # the first commit: everything staged is new
        proc = git.run(top, "ls-files", "-z", "--cached", env=env, check=False)
    names = [n for n in proc.stdout.split("\0") if n]
    return [n for n in names if n == "board" or n.startswith("board/")]


def _lint_staged(top: Path, env: dict[str, str]) -> int:
    """`batty task lint` of board/ as the commit will hold it: the index's blobs, not the
    working tree (issue 5 audit: a broken packet staged, then fixed on disk but not staged,
    passed the lint and landed). The staged board/ is written to a scratch folder and linted
    there whole, as dependencies between packets are checked too."""
    import tempfile

    from batty.workflow.lint import lint_all

    with tempfile.TemporaryDirectory(prefix="batty-pre-commit-") as scratch:
        _write_staged(top, Path(scratch), env)
        problems = lint_all(Paths(Path(scratch)), repo_checks=False)
    for problem in problems:
        print(f"batty: {problem}", file=sys.stderr)
    if problems:
        print("batty: the commit's board/ files do not lint (what is staged counts, not the "
              "working tree): fix them and `git add` them", file=sys.stderr)
    return 1 if problems else 0


def _write_staged(top: Path, dest: Path, env: dict[str, str]) -> None:
    """The index's regular files under board/, as blobs (cat-file: no filter, no checkout)."""
    listing = git.run(top, "ls-files", "--stage", "-z", "--", "board", env=env).stdout
    entries: list[tuple[str, str]] = []
    for record in listing.split("\0"):
        meta, _, path = record.partition("\t")
        fields = meta.split()
        if len(fields) == 3 and fields[0] in ("100644", "100755") and fields[2] == "0":
            entries.append((fields[1], path))
    if not entries:
        return
    batch = git.run(top, "cat-file", "--batch", input="".join(f"{sha}\n" for sha, _ in entries).encode(),
                    text=False).stdout
    pos = 0
    for _sha, path in entries:
        eol = batch.index(b"\n", pos)
        size = int(batch[pos:eol].split()[2])
        target = dest / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(batch[eol + 1:eol + 1 + size])
        pos = eol + 1 + size + 1  # the blob, then a newline


def _batty(top: Path, *args: str) -> int:
    argv = [sys.executable, "-m", "batty", "--repo", str(top), *args]
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    return subprocess.call(argv, cwd=top, env=env, stdin=subprocess.DEVNULL)
