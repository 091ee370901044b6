"""What of a change needs a person, read from git (issue 15): the tree's links, the runner's
files, the agents' and git's config, an exposed .batty/. The pure rules are in
batty/core/fencepaths.py and batty/workflow/runnerfiles.py."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from batty.core import fencepaths
from batty.core.globs import matches
from batty.store.paths import Paths
from batty.workflow import gate, runnerfiles


def gitignore_exposed(root: Path, base_sha: str, head: str, files: Sequence[str]) -> list[str]:
    """The .gitignore files of a change that would let .batty/ be committed where the base's
    did not."""
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
    out = fencepaths.needs_person(files, extra=needs_approval)
    runner = runner_changes(root, base_sha, head, files, command)
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


def runner_changes(root: Path, base_sha: str, head: str, files: Sequence[str], command: str) -> list[str]:
    """The files of a change that change the test runner's behaviour from the base's: whole
    files that differ, shared files whose runner sections differ, and new top-level modules
    that stand in for one a run imports on its own (runnerfiles.shadows)."""
    whole = runnerfiles.whole_globs(command)
    wanted = [f for f in files if matches(f, whole) or runnerfiles.metadata(f)
              or any(matches(f, (g,)) for g in runnerfiles.SECTIONS)]
    modules = {f: m for f in files if f not in wanted and (m := runnerfiles.module_of(f)) is not None}
    if not wanted and not modules:
        return []
    # a module is top-level unless its folder is a package of the base's (the root never counts as
    # one: the report plugin puts it on sys.path; a package the change makes does not count)
    inits = sorted({f"{folder}/__init__.py" for _, folder in modules.values() if folder})
    before = gate.base_files(root, base_sha, [*wanted, *modules, *inits])
    new_top = [f for f, (name, folder) in modules.items() if before.get(f) is None
               and not (folder and before.get(f"{folder}/__init__.py") is not None)]
    # the names last: the installed distributions are read only for a new top-level module
    cache = Paths(root).cache
    shadows = [f for f in new_top if runnerfiles.shadows(modules[f][0], cache)]
    after = gate.base_files(root, head, [*wanted, *shadows])
    out = [f for f in shadows if after.get(f) is not None]
    for f in wanted:
        if before.get(f) == after.get(f):
            continue
        if matches(f, whole) or runnerfiles.metadata(f):
            out.append(f)
            continue
        glob = next(g for g in runnerfiles.SECTIONS if matches(f, (g,)))
        old, new = (b.decode("utf-8", "replace") if b is not None else None
                    for b in (before.get(f), after.get(f)))
        if runnerfiles.section(glob, old) != runnerfiles.section(glob, new):
            out.append(f)
    return out
