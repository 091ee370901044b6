"""The tamper check (SPEC 9, issue 5): git settings and hooks an agent could plant to run code.

Every worktree shares the repository's ``.git``: an agent in ``.batty/worktrees/T-3`` can write
``.git/config`` (``core.fsmonitor``, ``core.hooksPath``, an alias, a filter) or drop a hook, and
the next git command a *person* runs in the control checkout would run the agent's code.
batty's own git neutralises such settings (``batty.store.git.NEUTRAL``); this module protects
everybody else's.

A baseline is kept in ``.batty/tamper/``: the settings that can run code, from every config file
of the shared ``.git`` (``config``, ``config.worktree``, ``worktrees/*/config.worktree``), and a
copy of every file in ``.git/hooks`` (``*.sample`` files are inert and left out). It is recorded
by ``batty hooks install`` / ``uninstall`` (the hooks part) and by the first doctor run, and on
request by ``batty doctor --accept`` (after a person changed such a setting on purpose).
:func:`check` lists what changed since; :func:`revert` puts the baseline back, keeping what it
took out under ``.batty/tamper/quarantine/`` for the human to look at.
"""

from __future__ import annotations

import fnmatch
import hashlib
import os
import shutil
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from batty.core import clock
from batty.store import atomic, git
from batty.store.paths import Paths

VERSION = 1
UNREADABLE = "<unreadable>"  # a config file git could not read: all of it counts as changed

# Matched against the key lowercased, as git's --list writes it (subsections keep their case).
RISKY: tuple[str, ...] = (
    "core.fsmonitor", "core.hookspath", "core.sshcommand", "core.pager", "core.editor",
    "core.askpass", "core.gitproxy", "core.worktree", "core.attributesfile", "sequence.editor",
    "diff.external", "diff.*.textconv", "diff.*.command", "merge.*.driver", "filter.*", "alias.*",
    "include.path", "includeif.*", "credential.*", "gpg.program", "gpg.*.program", "pager.*",
    "interactive.difffilter", "remote.*.uploadpack", "remote.*.receivepack", "remote.*.vcs",
    "uploadpack.packobjectshook", "protocol.*", "extensions.worktreeconfig", "web.browser",
    "browser.*", "man.*", "difftool.*", "mergetool.*", "submodule.*.update", "sendemail.*",
    "ssh.variant", "core.fsmonitorhookversion",
)


@dataclass(frozen=True)
class Change:
    """One difference from the baseline. ``kind`` is ``config`` or ``hook``."""

    kind: str
    file: str            # relative to the git common dir: config, worktrees/x/config.worktree, hooks/pre-commit
    key: str             # the setting (config) or the hook's file name
    was: Any             # baseline values (config: list of str) or sha256 (hook); None: absent
    now: Any

    @property
    def ident(self) -> list[str]:
        """What changed, whatever it is now: a heal completed after a crash finds its own."""
        return [self.kind, self.file, self.key]

    def __str__(self) -> str:
        if self.kind == "hook":
            what = "added" if self.was is None else "removed" if self.now is None else "changed"
            return f".git/{self.file} {what}"
        if self.was is None:
            return f".git/{self.file}: {self.key} = {_show(self.now)} added"
        if self.now is None:
            return f".git/{self.file}: {self.key} removed (was {_show(self.was)})"
        return f".git/{self.file}: {self.key} = {_show(self.now)} (was {_show(self.was)})"


def _show(values: list[str]) -> str:
    text = ", ".join(repr(v) for v in values)
    return text if len(text) < 120 else text[:117] + "..."


def risky(key: str) -> bool:
    k = key.lower()
    return any(fnmatch.fnmatchcase(k, pat) for pat in RISKY)


# ------------------------------------------------------------------ where things are


def hooks_dir(root: Path) -> Path:
    # Not `git rev-parse --git-path hooks`: batty's git runs with core.hooksPath=/dev/null.
    return git.common_dir(root) / "hooks"


def _state(paths: Paths) -> Path:
    return paths.state / "tamper"


def config_files(gitdir: Path) -> list[Path]:
    files = [gitdir / "config", gitdir / "config.worktree"]
    wt = gitdir / "worktrees"
    if wt.is_dir():
        files += sorted(wt.glob("*/config.worktree"))
    return [f for f in files if f.is_file()]


# ------------------------------------------------------------------ reading


def read_config(path: Path, cache: Path | None = None) -> dict[str, list[str]]:
    """The risky settings of one config file: key -> values in file order (includes not followed);
    with ``cache``, kept by the file's stat (a git process a file a tick, and they nearly never change)."""
    from batty.store.views import by_stat

    return _read_config(path) if cache is None else by_stat(cache, "tamper-config", path, _read_config,
                                                            keep=lambda found: UNREADABLE not in found)


def _read_config(path: Path) -> dict[str, list[str]]:
    proc = git.run(path.parent, "config", "--file", str(path), "--no-includes", "--null", "--list",
                   check=False)
    out: dict[str, list[str]] = {}
    if proc.returncode != 0:
        # A file git cannot parse: every setting in it is unknown, so it all counts as changed.
        return {UNREADABLE: [proc.stderr.strip()[:200] or "git config failed"]}
    for item in proc.stdout.split("\0"):
        if not item:
            continue
        key, _, value = item.partition("\n")
        if risky(key):
            out.setdefault(key, []).append(value)
    return out


def _hash(path: Path) -> str:
    if path.is_symlink():
        return "symlink:" + os.readlink(path)
    return hashlib.sha256(path.read_bytes()).hexdigest()


def read_hooks(folder: Path) -> dict[str, str]:
    """Every hook file (not ``*.sample``) -> its sha256."""
    if not folder.is_dir():
        return {}
    out = {}
    for f in sorted(folder.iterdir()):
        if f.name.endswith(".sample") or (f.is_dir() and not f.is_symlink()):
            continue
        try:
            out[f.name] = _hash(f)
        except OSError:
            continue
    return out


def observe(root: Path, cache: Path | None = None) -> dict[str, Any]:
    gitdir = git.common_dir(root)
    configs = {str(f.relative_to(gitdir)): read_config(f, cache) for f in config_files(gitdir)}
    return {"config": configs, "hooks": read_hooks(gitdir / "hooks")}


# ------------------------------------------------------------------ the baseline


def load(paths: Paths) -> dict[str, Any] | None:
    data = atomic.read_json(_state(paths) / "baseline.json")
    if data is None or data.get("version") != VERSION:
        return None
    return data


def record(paths: Paths, *, hooks_only: bool = False) -> dict[str, Any]:
    """Take what is there now as the baseline (``hooks_only``: keep the config part as it was)."""
    now = observe(paths.root, paths.cache)
    old = load(paths)
    if hooks_only and old is not None:
        now["config"] = old["config"]
    folder = _state(paths)
    copies = folder / "hooks"
    if copies.exists():
        shutil.rmtree(copies)
    copies.mkdir(parents=True, exist_ok=True)
    src = hooks_dir(paths.root)
    modes = {}
    for name in now["hooks"]:
        f = src / name
        if f.is_symlink():
            os.symlink(os.readlink(f), copies / name)
        else:
            shutil.copy2(f, copies / name)
        modes[name] = f.lstat().st_mode & 0o7777
    data = {"version": VERSION, "at": clock.now_iso(), **now, "modes": modes}
    atomic.write_json(folder / "baseline.json", data)
    return data


def ensure(paths: Paths) -> bool:
    """Record the baseline if there is none yet; True when it was recorded now."""
    if load(paths) is not None:
        return False
    record(paths)
    return True


def check(paths: Paths) -> list[Change]:
    """What changed since the baseline (nothing when there is no baseline yet)."""
    base = load(paths)
    if base is None:
        return []
    now = observe(paths.root, paths.cache)
    changes: list[Change] = []
    files = sorted(set(base["config"]) | set(now["config"]))
    for file in files:
        was, cur = base["config"].get(file, {}), now["config"].get(file, {})
        for key in sorted(set(was) | set(cur)):
            if was.get(key) != cur.get(key):
                changes.append(Change("config", file, key, was.get(key), cur.get(key)))
    for name in sorted(set(base["hooks"]) | set(now["hooks"])):
        if base["hooks"].get(name) != now["hooks"].get(name):
            changes.append(Change("hook", f"hooks/{name}", name, base["hooks"].get(name),
                                  now["hooks"].get(name)))
    return changes


# ------------------------------------------------------------------ putting it back


HEAL = "heal.json"  # in a quarantine folder: the heal's write-ahead record


def begin(paths: Paths, changes: Iterable[Change], *, suspects: list[str]) -> Path:
    """The first write of a heal (issue 5): a quarantine folder holding a copy of each changed
    config file, then its ``heal.json`` (what changed, the suspects, ``done`` false). Written
    before anything is put back, so that a crash anywhere later leaves a record the next doctor
    run completes: a tamper is never put back unlogged and unescalated."""
    changes = list(changes)
    gitdir = git.common_dir(paths.root)
    stamp = clock.now().strftime("%Y%m%dT%H%M%S%f")
    quarantine = _state(paths) / "quarantine" / stamp
    quarantine.mkdir(parents=True, exist_ok=True)
    for file in sorted({c.file for c in changes if c.kind == "config"}):
        path = gitdir / file
        if path.exists():
            shutil.copy2(path, quarantine / file.replace("/", "__"))
    atomic.write_json(quarantine / HEAL, {"at": clock.now_iso(), "changes": [str(c) for c in changes],
                                          "keys": [c.ident for c in changes], "suspects": suspects,
                                          "done": False})
    return quarantine


def unfinished(paths: Paths) -> list[Path]:
    """Quarantine folders of heals a crash cut short (``heal.json`` not done), oldest first."""
    top = _state(paths) / "quarantine"
    if not top.is_dir():
        return []
    return [q for q in sorted(top.iterdir())
            if (rec := atomic.read_json(q / HEAL)) is not None and not rec.get("done")]


def heal_record(quarantine: Path) -> dict[str, Any]:
    return atomic.read_json(quarantine / HEAL) or {}


def note(quarantine: Path, **fields: Any) -> None:
    """Add ``fields`` to the heal's record (``escalation``, ``done``)."""
    atomic.write_json(quarantine / HEAL, {**heal_record(quarantine), **fields})


def revert(paths: Paths, changes: Iterable[Change], quarantine: Path | None = None) -> Path:
    """Put the baseline back for ``changes``. What is taken out (a hook file, the changed
    config files as they were) is kept in the quarantine folder (a new one unless given), which
    is returned. Run again after a crash it does what is left: a file already copied there is
    not copied again (the copy is of the file as the agent left it)."""
    changes = list(changes)
    gitdir = git.common_dir(paths.root)
    if quarantine is None:
        stamp = clock.now().strftime("%Y%m%dT%H%M%S%f")
        quarantine = _state(paths) / "quarantine" / stamp
    quarantine.mkdir(parents=True, exist_ok=True)
    base = load(paths) or {"config": {}, "hooks": {}, "modes": {}}
    for file in sorted({c.file for c in changes if c.kind == "config"}):
        path = gitdir / file
        dest = quarantine / file.replace("/", "__")
        if path.exists() and not dest.exists():
            shutil.copy2(path, dest)
    for c in changes:
        if c.kind == "config":
            _revert_setting(gitdir / c.file, c, base["config"].get(c.file, {}))
        else:
            _revert_hook(paths, gitdir / "hooks", c, quarantine, base.get("modes", {}))
    return quarantine


def _revert_setting(path: Path, c: Change, baseline: dict[str, list[str]]) -> None:
    if c.key == UNREADABLE:
        return  # nothing batty can edit with git config; the quarantine copy and the escalation tell
    cfg = ["config", "--file", str(path)]
    if path.exists():
        git.run(path.parent, *cfg, "--unset-all", c.key, check=False)
    for value in baseline.get(c.key, []):
        git.run(path.parent, *cfg, "--add", c.key, value)


def _revert_hook(paths: Paths, folder: Path, c: Change, quarantine: Path, modes: dict) -> None:
    target = folder / c.key
    if target.exists() or target.is_symlink():
        (quarantine / "hooks").mkdir(exist_ok=True)
        kept = quarantine / "hooks" / c.key
        n = 1
        while kept.exists() or kept.is_symlink():  # a hook changed again after a heal cut short
            n += 1
            kept = kept.with_name(f"{c.key}~{n}")
        shutil.move(str(target), str(kept))
    if c.was is None:
        return
    copy = _state(paths) / "hooks" / c.key
    if copy.is_symlink():
        os.symlink(os.readlink(copy), target)
    elif copy.exists():
        folder.mkdir(parents=True, exist_ok=True)
        shutil.copy2(copy, target)
        os.chmod(target, int(modes.get(c.key, 0o755)))
