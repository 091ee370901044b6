"""batty installed from its wheel, not run from the source tree (roadmap T-11): the hook shims and
the cron script ship inside the package, so `batty hooks install` and the crontab line work where
there is no source tree to find them in.

The wheel is built from this tree (`pip wheel`, as `pip install .` builds it) and installed with
`pip install --prefix` into a folder of its own; batty then runs from there, with its
dependencies from this venv.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from batty.workflow import hooks
from tests.conftest import git

ROOT = Path(__file__).resolve().parent.parent
# one worker for the module: its wheel is built once, from the one source tree (pytest-xdist)
pytestmark = pytest.mark.xdist_group("wheel")


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The site-packages folder the wheel was installed into."""
    work = tmp_path_factory.mktemp("wheel")
    # built from a copy of what the package is made of: pip builds in the tree it is given (a
    # build/ folder), and a stale build/ must not decide what the wheel holds
    src = work / "src"
    shutil.copytree(ROOT / "batty", src / "batty", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, src / name)
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(work / "dist"),
                            str(src)], capture_output=True, text=True, timeout=600)
    if built.returncode != 0:
        pytest.skip(f"pip could not build the wheel here: {built.stderr.strip().splitlines()[-1:]}")
    (wheel,) = (work / "dist").glob("batty_fleet-*.whl")
    prefix = work / "prefix"
    # --ignore-installed: this venv's batty (the editable one under test) is neither looked at
    # nor touched
    done = subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "--no-index", "-q",
                           "--ignore-installed", "--prefix", str(prefix), str(wheel)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    site = Path(sysconfig.get_path("purelib", vars={"base": str(prefix), "platbase": str(prefix)}))
    assert (site / "batty" / "__init__.py").exists(), sorted(str(p) for p in prefix.rglob("__init__.py"))[:5]
    return site


def from_wheel(site: Path, *args: str, cwd: Path, env: dict[str, str] | None = None,
               ) -> subprocess.CompletedProcess:
    deps = sysconfig.get_path("purelib")  # click, PyYAML...: this venv's
    full = {**os.environ, **(env or {}), "PYTHONPATH": f"{site}{os.pathsep}{deps}"}
    return subprocess.run([sys.executable, *args], cwd=cwd, env=full, capture_output=True,
                          text=True, timeout=120)


def test_the_installed_package_is_the_one_that_runs(installed: Path, tmp_path: Path) -> None:
    out = from_wheel(installed, "-c", "import batty; print(batty.__file__)", cwd=tmp_path)
    assert out.stdout.strip() == str(installed / "batty" / "__init__.py")
    # issue 16.1: the distribution does not collide with PyPI's unrelated "batty"; the command
    # stays batty and says its version
    assert list(installed.glob("batty_fleet-*.dist-info")), sorted(p.name for p in installed.iterdir())
    version = from_wheel(installed, "-m", "batty", "--version", cwd=tmp_path)
    from batty import __version__

    assert version.returncode == 0 and version.stdout.strip() == f"batty {__version__}"


def test_hooks_install_from_the_installed_package(installed: Path, git_repo: Path) -> None:
    assert from_wheel(installed, "-m", "batty", "init", "--agent", "shell", cwd=git_repo).returncode == 0
    res = from_wheel(installed, "-m", "batty", "hooks", "install", cwd=git_repo)
    assert res.returncode == 0, res.stderr
    for name in hooks.HOOKS:
        shim = git_repo / ".git" / "hooks" / name
        assert hooks.ID_LINE in shim.read_text() and os.access(shim, os.X_OK)
    # the installed pre-commit hook runs batty's lint: a broken packet staged is refused
    (git_repo / "board" / "tasks" / "T-1.yaml").write_text("id: T-1\ntitle: [unclosed\n")
    git(git_repo, "add", "-A")
    commit = subprocess.run(["git", "commit", "-qm", "broken"], cwd=git_repo, capture_output=True,
                            text=True, timeout=60,
                            env={**os.environ, "PYTHONPATH": f"{installed}{os.pathsep}{sysconfig.get_path('purelib')}"})
    assert commit.returncode != 0 and "T-1.yaml" in commit.stderr


def test_the_cron_script_ships_and_ticks(installed: Path, git_repo: Path) -> None:
    assert from_wheel(installed, "-m", "batty", "init", "--agent", "shell", cwd=git_repo).returncode == 0
    line = from_wheel(installed, "-c", "from pathlib import Path; from batty.services import cron; from batty.store.paths import Paths; "
                      f"print(cron.line(Paths(Path({str(git_repo)!r}))))", cwd=git_repo)
    assert line.returncode == 0, line.stderr
    script = installed / "batty" / "templates" / "batty-cron"
    assert str(script) in line.stdout and os.access(script, os.X_OK)
    deps = sysconfig.get_path("purelib")
    res = subprocess.run([str(script), str(git_repo)], capture_output=True, text=True, timeout=120, cwd="/",
                         env={**os.environ, "BATTY_PYTHON": sys.executable,
                              "PYTHONPATH": f"{installed}{os.pathsep}{deps}"})
    assert res.returncode == 0, res.stderr
    log = (git_repo / ".batty" / "cron.log").read_text()
    assert "batty-cron: exit 0" in log
