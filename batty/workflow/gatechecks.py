"""What of a change needs a person, read from git (issue 15): the tree's links, the runner's
files, the agents' and git's config, an exposed .batty/. The pure rules are in
batty/core/fencepaths.py and batty/workflow/runnerfiles.py."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from batty.core import fencepaths
from batty.store import git

_links: dict[str, dict[str, str]] = {}


def links_in(root: Path, rev: str) -> dict[str, str]:
    """Every symbolic link in commit ``rev``'s tree: path -> target (two git processes)."""
    known = _links.get(rev)
    if known is not None:
        return known
    raw = git.run(root, "ls-tree", "-r", "-z", "--full-tree", rev).stdout
    paths = []
    for row in raw.split("\0"):
        if row.startswith("120000 "):
            paths.append(row.split("\t", 1)[1])
    out: dict[str, str] = {}
    if paths:
        from batty.workflow import gate

        blobs = gate._read_blobs(root, rev, paths)
        out = {p: (b or b"").decode("utf-8", "surrogateescape") for p, b in blobs.items()}
    if git.is_oid(rev):
        if len(_links) > 64:
            _links.clear()
        _links[rev] = out
    return out


def gitignore_exposed(root: Path, base_sha: str, head: str, files: Sequence[str]) -> list[str]:
    """The .gitignore files of a change that would let .batty/ be committed where the base's
    did not."""
    from batty.workflow import gate

    ignores = [f for f in files if f == ".gitignore" or f.endswith("/.gitignore")]
    if not ignores:
        return []
    before = gate.base_files(root, base_sha, ignores)
    after = gate.base_files(root, head, ignores)
    out = []
    for f in ignores:
        folder = f.rsplit("/", 1)[0] if "/" in f else ""
        old = (before.get(f) or b"").decode("utf-8", "replace")
        new = (after.get(f) or b"").decode("utf-8", "replace")
        if fencepaths.gitignore_exposes(new, folder) and not fencepaths.gitignore_exposes(old, folder):
            out.append(f)
    return out


def review(root: Path, base_sha: str, head: str, files: Sequence[str], *, command: str,
           needs_approval: Sequence[str] = ()) -> dict[str, list[str]]:
    """What of a change a person must see before it lands: ``runner_files`` (the test runner's
    own files changed from the base's), ``agent_config``, ``git_config`` (with a .gitignore that
    would expose .batty/), and ``binaries`` (which only lower the confidence)."""
    from batty.workflow import runnerfiles

    out = fencepaths.needs_person(files, extra=needs_approval)
    runner = runnerfiles.gate_changes(root, base_sha, head, files, command)
    if runner:
        out["runner_files"] = runner
    exposed = gitignore_exposed(root, base_sha, head, files)
    if exposed:
        out.setdefault("git_config", []).extend(exposed)
    return out


HELD = ("runner_files", "agent_config", "git_config")  # the parts that wait for a person


def held(found: dict[str, list[str]]) -> list[str]:
    """The files of :func:`review` that hold a change for ``batty approve``."""
    return [f for k in HELD for f in found.get(k, [])]
