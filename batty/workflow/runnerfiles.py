"""The test runner's own files (issue 15, item 1): trusted by the runner's conventions, not
only by gates.trusted_tests.

An agent that cannot make the tests pass can make the runner run none of them: a root
``pytest.py`` that prints "1 passed", ``addopts = --collect-only`` in pyproject.toml, a new
``.pytest.ini``, a ``sitecustomize.py``. Two kinds of files:

- **whole files** (``ALWAYS``, and per runner ``WHOLE``): a change to one is a gate change; the
  ones in ``ALWAYS`` are also put back as the base has them before every test run (gate.py's
  trusted files), so the gate runs them as the base has them whatever the policy;
- **sections** of shared files (``SECTIONS``: pyproject.toml's ``[tool.pytest...]``, setup.cfg's
  ``[tool:pytest]``, tox.ini's ``[pytest]``, package.json's ``scripts`` and test-runner keys,
  Cargo.toml's test targets): the file also holds dependencies, so it is not put back; a
  change to the section is a gate change.

A gate change is refused at verify (``gates.on_gate_change: refuse``, the default) or waits
for ``batty approve`` (``approve``); never auto-merged. Which runners apply is read from the
test command (:func:`runners_of`); pytest's files always apply (a Python project's runner is
often behind make, tox or nox).
"""

from __future__ import annotations

import functools
import re
import shlex
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

# pytest's: its config files (pytest 9 reads pytest.toml and .pytest.toml before pyproject.toml),
# anything that would be imported as pytest or its plugin manager (a module or package of that
# name anywhere a run could put on sys.path), what Python runs at interpreter start
# (sitecustomize, usercustomize, .pth files), and a distribution's metadata: pytest loads the
# `pytest11` entry points of every distribution on sys.path, and a `*.dist-info` or `*.egg-info`
# in a folder the project's pythonpath names is one (a red team landed a broken library with a
# plugin declared that way, all of it inside the task's scope).
PYTEST = ("**/conftest.py", "**/pytest.ini", "**/.pytest.ini", "**/pytest.toml", "**/.pytest.toml",
          "**/pytest.py", "**/pytest/**", "**/_pytest/**", "**/py.py", "**/pluggy.py", "**/pluggy/**",
          "**/sitecustomize.py", "**/usercustomize.py", "**/*.pth", "**/*.dist-info", "**/*.dist-info/**",
          "**/*.egg-info", "**/*.egg-info/**")
# Test-only config of the JavaScript runners, Cargo's and Go's: nothing else lives in them, so
# they are put back like pytest's.
JS_TEST = ("**/jest.config.*", "**/vitest.config.*", "**/vitest.workspace.*", "**/.mocharc*",
           "**/karma.conf.*", "**/ava.config.*", "**/playwright.config.*", "**/.npmrc",
           "**/.yarnrc", "**/.yarnrc.yml", "**/.pnpmfile.cjs")
CARGO_TEST = ("**/.cargo/config", "**/.cargo/config.toml", "rust-toolchain", "rust-toolchain.toml")
GO_TEST = ("go.work", "go.work.sum")
ALWAYS = (*PYTEST, *JS_TEST, *CARGO_TEST, *GO_TEST)

# Whole files that are gate changes only when the test command goes through that runner (they
# hold the build too: put back, they would undo a legitimate build change).
WHOLE: dict[str, tuple[str, ...]] = {
    "make": ("**/Makefile", "**/makefile", "**/GNUmakefile", "**/*.mk"),
    "tox": ("tox.ini",),
    "nox": ("noxfile.py",),
}


def _toml(text: str) -> Any:
    import tomllib

    return tomllib.loads(text)


def _ini(text: str) -> Any:
    import configparser

    cp = configparser.RawConfigParser(strict=False, interpolation=None)
    cp.read_string(text)
    return {s: dict(cp.items(s)) for s in cp.sections()}


def _json(text: str) -> Any:
    import json

    return json.loads(text)


# file glob -> (parse, the keys (dotted) whose values configure a runner)
SECTIONS: dict[str, tuple[Callable[[str], Any], tuple[str, ...]]] = {
    "**/pyproject.toml": (_toml, ("tool.pytest", "tool.tox", "tool.nox", "tool.coverage.run")),
    "**/setup.cfg": (_ini, ("tool:pytest",)),
    "**/tox.ini": (_ini, ("pytest", "tox", "testenv")),
    "**/package.json": (_json, ("scripts", "jest", "mocha", "ava", "vitest", "c8", "nyc")),
    "**/Cargo.toml": (_toml, ("test", "lib", "profile.test")),
}


# A module of these names imported by a test run comes first from the folders the run puts before
# the standard library on sys.path (the checkout's root, the project's pythonpath): a new
# `src/cmd.py` ran in every pytest run (pdb imports cmd and code at configure) and patched the
# library back, inside the scope, at confidence 1.0 (a red team, this session).
SHADOWED = frozenset(sys.stdlib_module_names) | {
    "pytest", "_pytest", "py", "pluggy", "iniconfig", "packaging", "exceptiongroup", "tomli",
    "colorama", "pygments"}
MODULE_SUFFIXES = (".py", ".pyc", ".pyw", ".so", ".pyd")
_REQ_NAME = re.compile(r"[\s<>=!~;\[(]")  # where a requirement's name ends


def metadata(path: str) -> bool:
    """A file of a distribution's metadata (`*.dist-info`, `*.egg-info`, in any case:
    importlib.metadata lower-cases the names it looks at), which a test run on whose sys.path
    it lies loads plugins from (pytest's `pytest11` entry points)."""
    return any(part.lower().endswith((".dist-info", ".egg-info")) for part in path.split("/"))


def module_of(path: str) -> tuple[str, str] | None:
    """(module name, the folder it would be imported from) when ``path`` is a module or a
    package's ``__init__.py``, else None. Whether that folder is a package (then the module is
    not top-level, and shadows nothing) is the caller's question."""
    parts = path.split("/")
    name = parts[-1]
    if name == "__init__.py" and len(parts) >= 2:
        return parts[-2], "/".join(parts[:-2])
    stem, dot, _ = name.partition(".")
    if not dot or not stem.isidentifier() or not name.endswith(MODULE_SUFFIXES):
        return None
    return stem, "/".join(parts[:-1])


def shadows(module: str, cache: Path | None = None) -> bool:
    """A top-level module of this name would stand in for one a test run imports without the
    tests asking for it: the standard library's, the runner's, or an installed distribution's
    (a red team's root `typing_extensions.py` and `execnet.py` stood in for what installed pytest
    plugins import). The distributions are this interpreter's: the test run's own when the
    project's venv is batty's, as it often is."""
    return module in SHADOWED or module in _installed(cache) or module in _runner_imports(cache)


_IMPORTS = re.compile(r"^[ \t]*(?:import[ \t]+([A-Za-z_][\w.]*(?:[ \t]*,[ \t]*[A-Za-z_][\w.]*)*)"
                      r"|from[ \t]+([A-Za-z_]\w*)[\w.]*[ \t]+import\b)"
                      r"|import_module\([ \t]*[\"']([A-Za-z_]\w*)", re.M)
RUNNER_TOPS = frozenset({"pytest", "_pytest", "pluggy"})


def _interpreter_path() -> list[str]:
    """sys.path but the folder Python put first for the script (``python -m batty`` in the
    repository puts the repository there): what a repository holds is the gate's to judge (a new
    ``*.dist-info`` there is a gate change), not what is installed, and that folder's stat moves
    with every file made at its top. Any other entry stays, the same folder named again included
    (``PYTHONPATH=.``, an editable install's .pth)."""
    import os

    path = list(sys.path)
    if path and not getattr(sys.flags, "safe_path", False):
        try:
            here = {os.getcwd(), os.path.realpath(os.getcwd())}
        except OSError:
            here = set()
        if os.path.abspath(path[0] or ".") in here:
            path = path[1:]
    return path


METADATA_FILES = ("top_level.txt", "METADATA", "PKG-INFO", "requires.txt", "entry_points.txt", "RECORD")


def _interpreter_key(path: list[str], racy_ns: int) -> str | None:
    """The stat of each folder of ``path``, and of each distribution's metadata folder and files
    in it (a distribution finished or rewritten in place moves no folder's stat): the key of what
    was read there. None when any of it changed within the racy window (an install under way)."""
    import hashlib
    import os
    import time

    racy_after = time.time_ns() - racy_ns
    parts: list[str] = [sys.executable, sys.version]

    def add(p: str) -> bool:
        try:
            st = os.stat(p)
        except OSError:
            return True
        if st.st_mtime_ns >= racy_after or st.st_ctime_ns >= racy_after:
            return False
        parts.append(f"{p}:{st.st_ino}:{st.st_size}:{st.st_mtime_ns}:{st.st_ctime_ns}")
        return True

    for entry in path:
        folder = entry or "."
        if not add(folder):
            return None
        try:
            names = sorted(n for n in os.listdir(folder) if n.lower().endswith((".dist-info", ".egg-info")))
        except OSError:
            continue
        for name in names:
            meta = os.path.join(folder, name)
            if not add(meta) or not all(add(os.path.join(meta, f)) for f in METADATA_FILES):
                return None
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()


def _cached(kind: str, scan: Callable[[list[str]], frozenset[str]], cache: Path | None) -> frozenset[str]:
    """What ``scan`` reads of this interpreter's installed distributions, kept in ``cache`` (the
    control repository's .batty/cache, which no sandbox shows: a list an agent could write would
    let its module through) while the interpreter's folders and metadata keep their stat: each is
    50 to 100 ms of reading, which every verify or merge of a new top-level module paid. An empty
    answer (a broken distribution's metadata) is neither kept nor taken."""
    import json

    from batty.store.packets import RACY_NS

    path = _interpreter_path()
    key = _interpreter_key(path, RACY_NS) if cache is not None else None
    if cache is None or key is None:
        return scan(path)
    kept = cache / f"{kind}.json"
    try:
        data = json.loads(kept.read_text())
        names = data.get("names") if isinstance(data, dict) and data.get("key") == key else None
        if isinstance(names, list) and names and all(isinstance(n, str) for n in names):
            return frozenset(names)
    except (OSError, ValueError):
        pass
    found = scan(path)
    if found and _interpreter_key(path, RACY_NS) == key:  # nothing moved while it was read
        try:
            from batty.store import atomic

            atomic.write_text(kept, json.dumps({"key": key, "names": sorted(found)}), durable=False)
        except OSError:
            pass
    return found


@functools.cache
def _runner_imports(cache: Path | None = None) -> frozenset[str]:
    """Every top-level name the test runner's own code imports anywhere, optional imports
    included: pytest's and pluggy's, and each installed pytest plugin's (a ``pytest11`` entry
    point). An optional import of something not installed and declared by no distribution
    (anyio's ``import sniffio`` in a try) is found by a project's module of that name. Read from
    their source only for a change that adds a top-level module, and kept (:func:`_cached`)."""
    return _cached("runner-imports", _scan_runner_imports, cache)


def _scan_runner_imports(path: list[str]) -> frozenset[str]:
    try:
        from importlib.metadata import distributions

        names: set[str] = set()
        for dist in distributions(path=path):
            top = set((dist.read_text("top_level.txt") or "").split())
            if "[pytest11]" not in (dist.read_text("entry_points.txt") or "") and not top & RUNNER_TOPS:
                continue
            for f in dist.files or ():
                if f.suffix != ".py":
                    continue
                try:
                    text = f.read_binary().decode("utf-8", "replace")
                except OSError:
                    continue
                for plain, source, dynamic in _IMPORTS.findall(text):
                    if source or dynamic:
                        names.add(source or dynamic)
                    else:
                        names.update(part.strip().split(".")[0] for part in plain.split(","))
        return frozenset(names)
    except Exception:  # noqa: BLE001 - a broken distribution's files: the other lists still hold
        return frozenset()


@functools.cache
def _installed(cache: Path | None = None) -> frozenset[str]:
    """The top-level names of the distributions installed here, and of what they require (an
    optional one missing is tried at run time: anyio's plugin imports trio when it can); kept
    (:func:`_cached`)."""
    return _cached("installed", _scan_installed, cache)


def _scan_installed(path: list[str]) -> frozenset[str]:
    """importlib.metadata's packages_distributions() and requires, read straight from the files:
    they parse every distribution's METADATA as an email message for its name, which a verify
    or merge of a new module paid 60-90 ms for."""
    try:
        from importlib.metadata import distributions

        names: set[str] = set()
        for dist in distributions(path=path):
            top = dist.read_text("top_level.txt")
            if top:
                names.update(top.split())
            else:  # packages_distributions()' inference from RECORD
                names.update(f.parts[0] if len(f.parts) > 1 else f.with_suffix("").name
                             for f in dist.files or () if f.suffix == ".py")
            meta = dist.read_text("METADATA") or dist.read_text("PKG-INFO") or ""
            reqs = re.findall(r"^Requires-Dist:[ \t]*(.+)$", meta.split("\n\n", 1)[0], re.M)
            reqs += [line for line in (dist.read_text("requires.txt") or "").splitlines()
                     if line.strip() and not line.startswith("[")]
            for req in reqs:
                name = _REQ_NAME.split(req.strip(), maxsplit=1)[0]
                names.add(name.lower().replace("-", "_").replace(".", "_"))
        return frozenset(names)
    except Exception:  # noqa: BLE001 - a broken distribution's metadata: the fixed list still holds
        return frozenset()


def runners_of(command: str) -> set[str]:
    """The runners a test command goes through (pytest always)."""
    found = {"pytest"}
    try:
        words = shlex.split(command)
    except ValueError:
        words = command.split()
    names = {Path(w).name for w in words}
    for name in names:
        if name in ("make", "gmake"):
            found.add("make")
        if name in ("tox", "nox"):
            found.add(name)
        if name in ("npm", "yarn", "pnpm", "npx", "bun", "node"):
            found.add("npm")
        if name == "cargo":
            found.add("cargo")
        if name == "go":
            found.add("go")
    if re.search(r"\b-m\s+(tox|nox)\b", command):
        found.add(re.search(r"\b-m\s+(tox|nox)\b", command).group(1))  # type: ignore[union-attr]
    return found


def whole_globs(command: str) -> tuple[str, ...]:
    out = list(ALWAYS)
    for runner in sorted(runners_of(command)):
        out += WHOLE.get(runner, ())
    return tuple(out)


def _pick(data: Any, dotted: str) -> Any:
    for key in dotted.split("."):
        if not isinstance(data, dict) or key not in data:
            return None
        data = data[key]
    return data


def section(glob: str, text: str | None) -> Any:
    """What the runner reads of a shared file: its runner sections, or the whole text when it
    does not parse (then any change to it counts)."""
    if text is None:
        return None
    parse, keys = SECTIONS[glob]
    try:
        data = parse(text)
    except Exception:  # noqa: BLE001 - any parser's error: the file as text, compared whole
        return ("unparsed", text)
    return {k: _pick(data, k) for k in keys}
