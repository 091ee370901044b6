"""Each attempt's checkout is a repository of its own (SPEC 11, issue 14).

``.batty/worktrees/<ID>/`` holds a ``.git`` folder of its own: its own refs, config, hooks and
index; it reads the control repository's objects through ``objects/info/alternates``, so making
one copies nothing. What the agent does to its refs (``update-ref`` of the base, ``git
replace``, another task's branch), its config or its hooks stays in that repository.

batty never runs git there under the agent's config. It reads the checkout's HEAD and branch
from the files (:func:`head`), brings its commits into the control repository with one hardened
`git fetch` run in the control repository (no replace objects, no hooks, no fsmonitor, the
control's drivers blanked: :mod:`batty.store.git`), and commits what the agent left
uncommitted from the control side, through a temporary index over the checkout's files
(:func:`collect`).

A checkout from an older batty, a linked worktree, is moved over in place (:func:`migrate`):
its commits are the control repository's already, its files stay as they are.
"""

from __future__ import annotations

import os
from pathlib import Path

from batty.store import git

LITTER = (".aider*",)  # worktrees.AGENT_LITTER: what agent CLIs drop that is not the task's


def is_own(folder: Path) -> bool:
    """The checkout has a ``.git`` folder of its own (not a link, not a linked worktree's file)."""
    dotgit = folder / ".git"
    return dotgit.is_dir() and not dotgit.is_symlink()


def is_linked(folder: Path) -> bool:
    """The checkout is a linked worktree of the control repository (batty before issue 14)."""
    dotgit = folder / ".git"
    try:
        return dotgit.is_file() and not dotgit.is_symlink() and dotgit.read_text().startswith("gitdir:")
    except OSError:
        return False


def head(folder: Path) -> tuple[str | None, str | None]:
    """(the branch HEAD names, the commit HEAD resolves to) of an own checkout, read from its
    files, never by git; (None, sha) on a detached HEAD, (None, None) when the files do not say."""
    gitdir = folder / ".git"
    try:
        text = (gitdir / "HEAD").read_text().strip()
    except OSError:
        return None, None
    if git.is_oid(text):
        return None, text
    if not text.startswith("ref: refs/heads/"):
        return None, None
    branch = text[16:].strip()
    if not branch or ".." in branch:
        return None, None
    found = git._read_ref(gitdir, f"refs/heads/{branch}")
    return branch, found if isinstance(found, str) else None


def _objects(root: Path) -> Path:
    return git.common_dir(root) / "objects"


def _config(sha: str) -> str:
    fmt = "\trepositoryformatversion = 1\n" if len(sha) == 64 else "\trepositoryformatversion = 0\n"
    text = f"[core]\n{fmt}\tfilemode = true\n\tbare = false\n\tlogallrefupdates = true\n"
    # no gc here, ever: a checkout that shares the control's object store (a scratch checkout)
    # knows none of its refs, and a prune from it would delete the control's objects
    text += "[gc]\n\tauto = 0\n[maintenance]\n\tauto = false\n"
    if len(sha) == 64:
        text += "[extensions]\n\tobjectformat = sha256\n"
    return text


def _write_ref(gitdir: Path, ref: str, sha: str) -> None:
    path = gitdir / ref
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".batty-tmp")
    tmp.write_text(sha + "\n")
    os.replace(tmp, path)


def create_ref(root: Path, ref: str, sha: str) -> bool:
    """Create branch ``ref`` of the control repository at ``sha`` when it does not exist, as git
    does (``<ref>.lock`` made exclusively, written, renamed into place; the packed refs checked
    under the lock): `git update-ref <ref> <sha> 0000...` without a process (issue 14: a task's
    dispatch ran one for its branch). False when the ref exists; git itself where the refs are
    not plain files (reftable)."""
    common = git.plain_common_dir(root)
    if common is None or ".." in ref or not ref.startswith("refs/heads/"):
        return git.update_ref(root, ref, sha, None, "batty: branch")
    path = common / ref
    path.parent.mkdir(parents=True, exist_ok=True)
    lock = path.with_name(path.name + ".lock")
    try:
        fd = os.open(lock, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    except FileExistsError:
        return False
    try:
        with os.fdopen(fd, "w") as f:
            f.write(sha + "\n")
        if path.exists() or git._read_ref(common, ref) is not None:
            return False
        os.replace(lock, path)
        return True
    finally:
        lock.unlink(missing_ok=True)


def set_ref(folder: Path, ref: str, sha: str) -> None:
    """Write ``ref`` of the checkout's repository (a loose ref file, as git writes one)."""
    _write_ref(folder / ".git", ref, sha)


def make_gitdir(root: Path, folder: Path, sha: str, *, branch: str | None,
                refs: dict[str, str] | None = None, shared: bool = False) -> Path:
    """``folder/.git``: a repository in the layout git documents (gitrepository-layout(5)) that
    reads ``root``'s objects through alternates, HEAD on ``branch`` at ``sha`` (or detached).
    ``shared``: its objects folder is the control's (a link): what batty's git commits there
    (a merge result built in a scratch checkout) is the control's at once."""
    gitdir = folder / ".git"
    (gitdir / "refs" / "tags").mkdir(parents=True)
    (gitdir / "refs" / "heads").mkdir()
    (gitdir / "info").mkdir()
    if shared:
        (gitdir / "objects").symlink_to(_objects(root))
    else:
        (gitdir / "objects" / "info").mkdir(parents=True)
        (gitdir / "objects" / "pack").mkdir()
        (gitdir / "objects" / "info" / "alternates").write_text(f"{_objects(root)}\n")
    (gitdir / "info" / "exclude").write_text("".join(f"{p}\n" for p in LITTER))
    (gitdir / "config").write_text(_config(sha))
    for ref, value in (refs or {}).items():
        _write_ref(gitdir, ref, value)
    if branch is not None:
        _write_ref(gitdir, f"refs/heads/{branch}", sha)
        (gitdir / "HEAD").write_text(f"ref: refs/heads/{branch}\n")
    else:
        (gitdir / "HEAD").write_text(f"{sha}\n")
    return gitdir


def make(root: Path, folder: Path, sha: str, *, branch: str | None,
         refs: dict[str, str] | None = None, checkout: bool = True, shared: bool = False) -> None:
    """A checkout of ``sha`` at ``folder``, a repository of its own (see the module): its files
    from one `git read-tree` run from the control repository into the checkout's index, before
    anything of the agent's is there. ``checkout=False`` leaves the files as they are (only the
    index is made: :func:`migrate`)."""
    folder.mkdir(parents=True, exist_ok=True)
    make_gitdir(root, folder, sha, branch=branch, refs=refs, shared=shared)
    args = ["read-tree", "--reset", *(["-u"] if checkout else []), sha]
    git.run(root, f"--work-tree={folder}", *args, env={"GIT_INDEX_FILE": str(folder / ".git" / "index")})


def fetch(root: Path, folder: Path, src: str, dest: str) -> bool:
    """Bring ``src`` (a ref of the checkout's repository) into the control repository's ``dest``
    (forced: the attempt's own branch is the agent's to rewrite). One `git fetch` run in the
    control repository, hardened (:mod:`batty.store.git`: no hooks, no fsmonitor, no replace
    objects, drivers blanked; no tags, no submodules, the objects checked). False when git
    refused (the ref is gone, the repository broken)."""
    proc = git.run(root, "-c", "fetch.fsckObjects=true", "-c", "transfer.fsckObjects=true",
                   "fetch", "--quiet", "--no-tags", "--no-write-fetch-head", "--no-recurse-submodules",
                   "--no-auto-gc", str(folder / ".git"), f"+{src}:{dest}", check=False)
    return proc.returncode == 0


def bring_back(root: Path, folder: Path, branch: str) -> str | None:
    """The attempt's branch in the control repository made what the checkout's branch holds
    (fetched when they differ); the commit, or None when the checkout's branch says nothing."""
    on, sha = head(folder)
    if on != branch:
        found = git._read_ref(folder / ".git", f"refs/heads/{branch}")
        sha = found if isinstance(found, str) else None
    if sha is None:
        return None
    if git.rev(root, f"refs/heads/{branch}") == sha:
        return sha
    if not fetch(root, folder, f"refs/heads/{branch}", f"refs/heads/{branch}"):
        return None
    return git.rev(root, f"refs/heads/{branch}")


def collect(root: Path, folder: Path, branch: str, head_sha: str, message: str,
            author: dict[str, str], tmp_dir: Path) -> str:
    """Commit what the checkout's files hold beyond ``head_sha`` on the control repository's
    ``branch``, from the control side: a temporary index over the checkout's files (the control
    repository's config, its drivers blanked, no hooks). Returns the new head (``head_sha`` when
    nothing was left uncommitted), and puts the checkout's own branch and index there too."""
    tmp_dir.mkdir(parents=True, exist_ok=True)
    index = tmp_dir / f"collect-{os.getpid()}-{folder.name}.index"
    env = {"GIT_INDEX_FILE": str(index)}
    wt = f"--work-tree={folder}"
    try:
        git.run(root, wt, "read-tree", head_sha, env=env)
        git.run(root, *_excludes(folder), wt, "add", "-A", env=env)
        tree = git.out(root, "write-tree", env=env)
    finally:
        index.unlink(missing_ok=True)
    if tree == git.out(root, "rev-parse", f"{head_sha}^{{tree}}"):
        return head_sha
    new = git.out(root, "commit-tree", tree, "-p", head_sha, "-m", message, env=author)
    if not git.update_ref(root, f"refs/heads/{branch}", new, head_sha, "batty: collect"):
        from batty.errors import GitError

        raise GitError(f"{branch} moved while its uncommitted work was collected")
    align(root, folder, branch, new)
    return new


def _excludes(folder: Path) -> list[str]:
    """The checkout's own info/exclude (what batty wrote there: agent litter, setup.link's links)
    for a git run from the control side. An agent can add to it: that hides only its own work."""
    exclude = folder / ".git" / "info" / "exclude"
    if exclude.is_file() and not exclude.is_symlink():
        return ["-c", f"core.excludesFile={exclude}"]
    return []


def status(root: Path, folder: Path, head_sha: str, tmp_dir: Path) -> str:
    """`git status --short` of the checkout's files against ``head_sha``, asked from the control
    side (a temporary index, the control's config)."""
    tmp_dir.mkdir(parents=True, exist_ok=True)
    index = tmp_dir / f"status-{os.getpid()}-{folder.name}.index"
    env = {"GIT_INDEX_FILE": str(index)}
    try:
        git.run(root, f"--work-tree={folder}", "read-tree", head_sha, env=env)
        return git.out(root, *_excludes(folder), f"--work-tree={folder}", "status", "--short", "--untracked-files=all",
                       env=env, check=False)
    finally:
        index.unlink(missing_ok=True)


def align(root: Path, folder: Path, branch: str, sha: str) -> None:
    """The checkout's branch and index put at ``sha`` (its files as they are): after batty
    committed its files from the control side, or before a next attempt starts from what the
    control repository has. The index is written from the control side, under its config."""
    gitdir = folder / ".git"
    _write_ref(gitdir, f"refs/heads/{branch}", sha)
    (gitdir / "HEAD").write_text(f"ref: refs/heads/{branch}\n")
    git.run(root, f"--work-tree={folder}", "read-tree", "--reset", sha,
            env={"GIT_INDEX_FILE": str(gitdir / "index")})


def migrate(root: Path, folder: Path, branch: str, entry: Path | None) -> None:
    """A linked worktree of the control repository made a repository of its own, in place: its
    branch (the control's already) checked out by name, its files kept as they are (what the agent
    left uncommitted stays uncommitted), the control's entry for it removed."""
    sha = git.rev(root, f"refs/heads/{branch}")
    dotgit = folder / ".git"
    if sha is None:
        sha = git.rev(folder, "HEAD") if entry is not None else None
        if sha is None:
            from batty.errors import GitError

            raise GitError(f"{branch} has no commit to move {folder.name} over with")
        git.update_ref(root, f"refs/heads/{branch}", sha, None, "batty: migrate")
    dotgit.unlink()
    if entry is not None:  # git's folder for it under the control's .git/worktrees/
        import shutil

        shutil.rmtree(entry, ignore_errors=True)
    make(root, folder, sha, branch=branch, checkout=False)


def oddities(folder: Path, branch: str, base: str, base_sha: str | None,
             root: Path | None = None) -> list[str]:
    """What an attempt did to its repository that batty ignores, for the evidence: replace refs,
    the base or other branches moved or made, hooks, a config batty did not write. Read from the
    files; nothing of it reaches the control repository."""
    gitdir = folder / ".git"
    out: list[str] = []
    replace = gitdir / "refs" / "replace"
    if replace.is_dir() and any(replace.iterdir()):
        out.append("git replace refs in its repository (ignored: batty's git reads no replace objects)")
    heads = gitdir / "refs" / "heads"
    names: set[str] = set()
    if heads.is_dir():
        for top, _dirs, files in os.walk(heads):
            for f in files:
                names.add(os.path.relpath(os.path.join(top, f), heads))
    try:
        for line in (gitdir / "packed-refs").read_text().splitlines():
            if line[:1] not in ("#", "^") and " refs/heads/" in line:
                names.add(line.split(" refs/heads/", 1)[1])
    except OSError:
        pass
    if base_sha is not None:
        found = git._read_ref(gitdir, f"refs/heads/{base}")
        if (isinstance(found, str) and found != base_sha
                and (root is None or not git.is_ancestor(root, found, base_sha))):
            out.append(f"moved its own {base} to {found[:12]} (ignored: only the gate moves {base})")
    others = sorted(n for n in names if n not in (branch, base))
    if others:
        out.append("made branches " + ", ".join(others[:10]) + " in its repository (ignored)")
    hooks = gitdir / "hooks"
    if hooks.is_dir() and any(not h.name.endswith(".sample") for h in hooks.iterdir()):
        out.append("hooks in its repository (never run by batty)")
    return out
