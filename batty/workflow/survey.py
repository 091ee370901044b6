"""Read a repository the way a new user's would be read (issue 16.2, 15.3): its base branch, its
test command, its test layout, the agent CLIs on PATH and whether they are logged in.

``batty init`` writes each choice as a line of board/config.yaml with the reason; lint, status
and ``doctor --check`` use :func:`trusted_gaps` to say when ``gates.trusted_tests`` matches no
file on the base, or misses test files the runner would collect (issue 15: a library whose
tests live in ``test/`` had the default ``tests/**`` trust nothing, and an agent skipped them).

The files are read from a list of paths and a reader, so the same code serves the working tree
(init) and the base branch's tree (lint, status, doctor).
"""

from __future__ import annotations

import configparser
import json
import re
import shutil
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from batty.core.config import Config

Reader = Callable[[str], str | None]

# folders no runner's discovery goes into (pytest's norecursedirs and the usual tool folders)
SKIP_DIRS = frozenset({".git", ".batty", "board", "node_modules", ".venv", "venv", ".tox", ".nox",
                       "build", "dist", "__pycache__", ".eggs", "site-packages", "target", "vendor"})
PY_TEST = re.compile(r"(?:^|/)(?:test_[^/]*|[^/]*_test)\.py$")
GO_TEST = re.compile(r"_test\.go$")
JS_TEST = re.compile(r"(?:^|/)(?:__tests__/.*|[^/]*\.(?:test|spec)\.[cm]?[jt]sx?)$")
RS_TEST = re.compile(r"^(?:[^/]+/)*tests/[^/]*\.rs$")
TEST_DIR_NAMES = ("tests", "test", "testing", "__tests__", "spec")


@dataclass
class Choice:
    key: str
    value: object
    why: str


@dataclass
class Survey:
    base: Choice
    test: Choice
    trusted: Choice
    agent: Choice
    agents_seen: list[tuple[str, bool, str]] = field(default_factory=list)  # (name, logged in, why)

    def choices(self) -> list[Choice]:
        return [self.base, self.test, self.trusted, self.agent]


# ------------------------------------------------------------------ files


def _visible(path: str) -> bool:
    parts = path.split("/")
    return not any(p in SKIP_DIRS or (p.startswith(".") and p not in (".", "..")) for p in parts[:-1])


def worktree_files(root: Path, limit: int = 200_000) -> list[str]:
    """The files git would track in the working tree (tracked and untracked, not ignored)."""
    from batty.store import git

    proc = git.run(root, "ls-files", "-z", "--cached", "--others", "--exclude-standard", check=False)
    names = [n for n in proc.stdout.split("\0") if n] if proc.returncode == 0 else []
    return names[:limit]


def tree_files(root: Path, ref: str) -> list[str] | None:
    from batty.store import git

    proc = git.run(root, "ls-tree", "-r", "-z", "--name-only", ref, check=False)
    if proc.returncode != 0:
        return None
    return [n for n in proc.stdout.split("\0") if n]


def tree_reader(root: Path, ref: str) -> Reader:
    from batty.store import git

    def read(rel: str) -> str | None:
        proc = git.run(root, "show", f"{ref}:{rel}", check=False)
        return proc.stdout if proc.returncode == 0 else None

    return read


def worktree_reader(root: Path) -> Reader:
    def read(rel: str) -> str | None:
        try:
            return (root / rel).read_text(encoding="utf-8", errors="replace")
        except OSError:
            return None

    return read


# ------------------------------------------------------------------ the runner


def runner_kind(test: str) -> str:
    """python | go | js | rust | other, from the test command."""
    words = test.split()
    if any(re.search(r"pytest|tox|nox|unittest|py\.test", w) for w in words):
        return "python"
    if words[:2] == ["go", "test"]:
        return "go"
    if words and words[0] in ("npm", "yarn", "pnpm", "npx", "node", "jest", "vitest", "mocha"):
        return "js"
    if words[:2] == ["cargo", "test"]:
        return "rust"
    return "other"


def pytest_testpaths(files: Iterable[str], read: Reader) -> tuple[list[str], str] | None:
    """pytest's configured ``testpaths`` and where they are set, in pytest's own order of
    configuration files (pytest 9's pytest.toml and .pytest.toml, pytest.ini, pyproject.toml,
    tox.ini, setup.cfg)."""
    have = set(files)
    for name in ("pytest.toml", ".pytest.toml"):
        if name in have:
            paths = _toml_testpaths(read(name), ("pytest",))
            if paths:
                return paths, f"{name} [pytest] testpaths"
    for name in ("pytest.ini", ".pytest.ini"):
        if name in have:
            got = _ini_testpaths(read(name), "pytest")
            if got is not None:
                return got, name
    if "pyproject.toml" in have:
        text = read("pyproject.toml") or ""
        try:
            import tomllib

            data = tomllib.loads(text)
        except ValueError:
            data = {}
        for table in (("tool", "pytest", "ini_options"), ("tool", "pytest")):  # pytest 9: native [tool.pytest]
            paths = _testpaths_in(data, table)
            if paths:
                return paths, f"pyproject.toml [{'.'.join(table)}] testpaths"
    for name, section in (("tox.ini", "pytest"), ("setup.cfg", "tool:pytest")):
        if name in have:
            got = _ini_testpaths(read(name), section)
            if got is not None:
                return got, f"{name} [{section}] testpaths"
    return None


def _ini_testpaths(text: str | None, section: str) -> list[str] | None:
    if not text:
        return None
    parser = configparser.ConfigParser(interpolation=None)
    try:
        parser.read_string(text)
    except configparser.Error:
        return None
    if parser.has_option(section, "testpaths"):
        return parser.get(section, "testpaths").split() or None
    return None


def collected(files: Iterable[str], test: str, read: Reader) -> list[str]:
    """The test files the runner of ``test`` would find, by its discovery's conventions."""
    kind = runner_kind(test)
    files = [f for f in files if _visible(f)]
    if kind == "python":
        configured = pytest_testpaths(files, read)
        roots = [p.strip("/").removeprefix("./") for p in configured[0]] if configured else None
        # a path named on the command line narrows discovery too (`pytest -q tests`)
        named = [w.strip("/") for w in test.split()[1:] if not w.startswith("-") and "/" not in w.strip("/")
                 and any(f.startswith(w.strip("/") + "/") for f in files)]
        roots = roots or named or None
        found = [f for f in files if PY_TEST.search(f) or f.endswith("/conftest.py") or f == "conftest.py"]
        if roots:
            found = [f for f in found if any(r in (".", "") or f == r or f.startswith(r + "/") for r in roots)]
        return found
    if kind == "go":
        return [f for f in files if GO_TEST.search(f)]
    if kind == "js":
        return [f for f in files if JS_TEST.search(f)
                or any(f.startswith(d + "/") for d in ("test", "tests", "__tests__"))]
    if kind == "rust":
        return [f for f in files if RS_TEST.search(f)]
    return []


def layout(files: list[str], test: str, read: Reader) -> tuple[list[str], str]:
    """Globs for ``gates.trusted_tests`` that cover what the runner collects, and why."""
    kind = runner_kind(test)
    if kind == "python":
        configured = pytest_testpaths(files, read)
        if configured:
            globs = [_tree_glob(p) for p in configured[0]]
            return _with_conftest(globs), f"pytest's testpaths ({configured[1]})"
    found = collected(files, test, read)
    if kind == "go" and found:
        return ["**/*_test.go", "**/testdata/**"], "go test runs every *_test.go"
    folders: list[str] = []
    loose: list[str] = []
    for f in found:
        parts = f.split("/")
        top = next((i for i, p in enumerate(parts[:-1]) if p in TEST_DIR_NAMES), None)
        if top is not None:
            d = "/".join(parts[: top + 1])
            if d not in folders:
                folders.append(d)
        elif not f.endswith("conftest.py"):
            loose.append(f)
    globs = [f"{d}/**" for d in sorted(folders)]
    if kind == "python":
        globs += sorted({"**/test_*.py" if "/" in f.split("test_")[0] or f.split("/")[-1].startswith("test_")
                         else "**/*_test.py" for f in loose})
        globs = _with_conftest(globs)
    elif kind == "js":
        globs += sorted({"**/*.test.*" if ".test." in f else "**/*.spec.*" for f in loose})
    if found and globs:
        where = ", ".join(sorted(folders)) or "beside the code"
        return globs, f"the test files {'pytest' if kind == 'python' else kind} would collect are in {where}"
    return ["tests/**"], "no test files found; the usual tests/ folder"


def _tree_glob(path: str) -> str:
    p = path.strip().removeprefix("./").rstrip("/")
    if p in ("", "."):
        return "**/test_*.py"
    return p if p.endswith(".py") else f"{p}/**"


def _with_conftest(globs: list[str]) -> list[str]:
    return globs if "**/conftest.py" in globs else [*globs, "**/conftest.py"]


def trusted_gaps(root: Path, config: Config, ref: str | None = None) -> list[tuple[str, str]]:
    """What is wrong with ``gates.trusted_tests`` on the base: (what, what would be valid)."""
    from batty.core.globs import matches

    ref = ref or f"refs/heads/{config.base}"
    files = tree_files(root, ref)
    if not files:
        return []  # no base yet (or an empty one): nothing to check against
    read = tree_reader(root, ref)
    globs = config.gates.trusted_tests
    test = config.gates.test
    found = collected(files, test, read)
    if not found:
        return []  # a runner batty does not know the layout of, or no tests yet
    suggest = layout(files, test, read)[0]
    valid = "trusted_tests: [" + ", ".join(suggest) + "]"
    if not any(matches(f, globs) for f in files if not f.startswith(("board/", ".batty/"))):
        return [(f"gates.trusted_tests ({', '.join(globs) or 'empty'}) matches no file on {config.base}: "
                 f"an agent may edit every test", valid)]
    outside = [f for f in found if not matches(f, globs)]
    if outside:
        shown = ", ".join(outside[:3]) + (f" and {len(outside) - 3} more" if len(outside) > 3 else "")
        return [(f"gates.trusted_tests misses {len(outside)} test file(s) the runner collects: {shown}",
                 valid)]
    return []


# ------------------------------------------------------------------ the test command


def _toml_testpaths(text: str | None, table: tuple[str, ...]) -> list[str] | None:
    import tomllib

    try:
        data = tomllib.loads(text or "")
    except ValueError:
        return None
    return _testpaths_in(data, table)


def _testpaths_in(data: Any, table: tuple[str, ...]) -> list[str] | None:
    for key in table:
        data = data.get(key) if isinstance(data, dict) else None
    paths = data.get("testpaths") if isinstance(data, dict) else None
    if isinstance(paths, str):
        paths = paths.split()
    if isinstance(paths, list) and paths and all(isinstance(p, str) for p in paths):
        return [str(p) for p in paths]
    return None


def test_command(files: list[str], read: Reader) -> tuple[str, str]:
    """The gate's test command for this repository, and why."""
    have = set(files)
    python = [f for f in files if _visible(f) and PY_TEST.search(f)]
    sections = {"pyproject.toml": "[tool.pytest", "tox.ini": "[pytest]", "setup.cfg": "[tool:pytest]"}
    pytest_cfg = (bool(have & {"pytest.toml", ".pytest.toml", "pytest.ini", ".pytest.ini"})
                  or any(name in have and mark in (read(name) or "") for name, mark in sections.items())
                  or any(f == "conftest.py" or f.endswith("/conftest.py") for f in files if _visible(f)))
    if pytest_cfg or python:
        why = "a pytest configuration" if pytest_cfg else f"{len(python)} pytest-style test file(s)"
        # python -m pytest would put the checkout first on sys.path; pytest is the runner's own
        return "pytest -q", f"{why}; pytest runs them (tox or nox would build environments each time)"
    if "tox.ini" in have:
        return "tox", "tox.ini"
    if "noxfile.py" in have:
        return "nox", "noxfile.py"
    if "package.json" in have:
        try:
            scripts = json.loads(read("package.json") or "{}").get("scripts", {})
        except (ValueError, AttributeError):
            scripts = {}
        if isinstance(scripts, dict) and scripts.get("test"):
            tool = ("pnpm" if "pnpm-lock.yaml" in have else "yarn" if "yarn.lock" in have else "npm")
            return f"{tool} test", f"package.json's test script ({tool}, by the lock file)"
    if "go.mod" in have:
        return "go test ./...", "go.mod"
    if "Cargo.toml" in have:
        return "cargo test", "Cargo.toml"
    for name in ("Makefile", "makefile", "GNUmakefile"):
        if name in have and re.search(r"^test\s*:", read(name) or "", re.M):
            return "make test", f"{name} has a test target"
    return "pytest -q", "nothing else found; batty's default"


# ------------------------------------------------------------------ agents

from batty.agents.logins import AGENT_LOGINS, login_of  # noqa: E402 (re-exported)


def agents_on_path(path: str | None = None) -> list[tuple[str, bool, str]]:
    out = []
    for agent, (program, _, _) in AGENT_LOGINS.items():
        if shutil.which(program, path=path):
            logged, why = login_of(agent)
            out.append((agent, logged, why))
    return out


# ------------------------------------------------------------------ all of it


def survey(root: Path, *, base: str | None, test: str | None, agent: str | None) -> Survey:
    from batty.store import git

    files = worktree_files(root)
    read = worktree_reader(root)
    if base is None:
        head = git.head_branch(root)
        origin = git.run(root, "symbolic-ref", "-q", "--short", "refs/remotes/origin/HEAD", check=False).stdout.strip()
        if head:
            base_c = Choice("base", head, "the branch checked out")
        elif origin:
            base_c = Choice("base", origin.split("/", 1)[-1], "origin/HEAD")
        else:
            base_c = Choice("base", "main", "no branch checked out; the usual name")
    else:
        base_c = Choice("base", base, "given")
    if test is None:
        cmd, why = test_command(files, read)
        test_c = Choice("gates.test", cmd, why)
    else:
        test_c = Choice("gates.test", test, "given with --test")
    globs, why = layout(files, str(test_c.value), read)
    trusted_c = Choice("gates.trusted_tests", globs, why)
    seen = agents_on_path()
    if agent is not None:
        agent_c = Choice("agent", agent, "given with --agent")
    else:
        logged = [a for a in seen if a[1]]
        if logged:
            agent_c = Choice("agent", logged[0][0], f"{logged[0][0]} is on PATH and logged in ({logged[0][2]})")
        elif seen:
            agent_c = Choice("agent", seen[0][0], f"{seen[0][0]} is on PATH but not logged in ({seen[0][2]})")
        else:
            agent_c = Choice("agent", "claude", "no agent CLI on PATH (claude, codex, gemini, aider); install one")
    return Survey(base_c, test_c, trusted_c, agent_c, seen)
