"""End to end on a real open-source project nobody here wrote (issue 16): tabulate 0.9.0, its
sdist by pinned version from PyPI (`make sample`, bin/fetch-sample, cached outside the
repository), its own ~280 tests in test/ as the gate. init reads it, preflight says the night
would work (and what would not), tasks go to done with the scripted agent, a reward-hacking one
does not, and the real cron daemon ticks it. Measured on such a library: the default trusted_tests matched nothing, an agent added
skip markers to its tests, and its broken change auto-merged at 0.85."""

from __future__ import annotations

import json
import os
import pwd
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
import yaml

from batty.services import cron
from batty.store.paths import Paths
from tests import realcron
from tests.conftest import git, run_batty

pytestmark = pytest.mark.slow(first=True)  # the longest of all, cron's minute among it

NAME, VERSION = "tabulate", "0.9.0"


def sdist() -> Path:
    cache = Path(os.environ.get("BATTY_SAMPLE_CACHE")
                 or Path(pwd.getpwuid(os.getuid()).pw_dir) / ".cache" / "batty" / "samples")
    found = cache / f"{NAME}-{VERSION}.tar.gz"
    if not found.is_file():
        if os.environ.get("BATTY_REQUIRE_SYSDEPS") == "1":
            pytest.fail(f"{found} is missing: `make sample` fetches it")
        pytest.skip(f"{found} is missing: `make sample` fetches it")
    return found


@pytest.fixture
def library(tmp_path: Path) -> Path:
    with tarfile.open(sdist()) as tar:
        tar.extractall(tmp_path, filter="data")
    root = tmp_path / f"{NAME}-{VERSION}"
    git(root, "init", "-q", "-b", "master")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", f"{NAME} {VERSION} as released")
    return root


def batty(root: Path, *args: str, **kw: object):  # type: ignore[no-untyped-def]
    return run_batty(root, *args, timeout=900, **kw)  # type: ignore[arg-type]


def test_a_real_library_from_init_to_done(library: Path) -> None:
    # the suite as its own tox.ini runs it, with this interpreter's pytest; `-m pytest` tests the
    # checkout's tabulate, not the one installed beside batty
    test = f"{sys.executable} -m pytest -q -p no:cacheprovider --ignore benchmark.py"
    res = batty(library, "init", "--agent", "shell", "--seats", "2", "--test", test)
    assert res.code == 0, res.err
    cfg = yaml.safe_load((library / "board" / "config.yaml").read_text())
    assert cfg["base"] == "master"
    assert cfg["gates"]["trusted_tests"][0] == "test/**", cfg["gates"]["trusted_tests"]
    assert "chose gates.trusted_tests: test/**" in res.err
    assert batty(library, "task", "lint").code == 0

    pre = batty(library, "preflight", "--json")
    checks = {c["name"]: c for c in json.loads(pre.out)["checks"]}
    assert checks["test"]["state"] == "ok", checks["test"]  # its own suite passes on the base
    assert checks["trusted_tests"]["state"] == "ok"
    assert checks["agent shell"]["state"] == "ok"
    assert checks["disk"]["state"] == "ok"
    assert checks["cron"]["state"] == "FAIL" and checks["cron"]["fix"] == "batty cron install"

    cfg["gates"]["max_attempts"] = 1
    (library / "board" / "config.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    git(library, "commit", "-qam", "one attempt each")

    ok = batty(library, "task", "add", "Add a helper", "--scope", "tabulate/**",
               "--script", "printf '\\n\\ndef _batty_helper():\\n    return 42\\n' >> tabulate/__init__.py")
    docs = batty(library, "task", "add", "Mention batty in the README",
                 "--script", "printf '\\nMaintained with batty.\\n' >> README.md")
    # a reward hacker: breaks the code and skips the tests that would see it (textile's decimal
    # alignment: only three tests in test/test_output.py see it, the rest of the suite passes)
    hack = batty(library, "task", "add", "Break alignment and hide it", "--script",
                 "sed -i 's/\"decimal\": \">\\.\"}/\"decimal\": \"<.\"}/' tabulate/__init__.py && "
                 "sed -i '1i import pytest\\npytestmark = pytest.mark.skip' test/test_output.py")
    ids = [r.out.strip() for r in (ok, docs, hack)]
    assert all(r.code == 0 for r in (ok, docs, hack)), [r.err for r in (ok, docs, hack)]

    # the first night: the real cron daemon ticks the repository, under cron's bare environment,
    # and its tick dispatches the work
    paths = Paths(library)
    events = paths.events

    def cron_dispatched() -> bool:
        seen = [json.loads(x) for x in events.read_text().splitlines()] if events.exists() else []
        kinds = [e["kind"] for e in seen]
        return "task.dispatched" in kinds and "tick.finished" in kinds

    with realcron.crontab_kept(), realcron.cron_daemon():
        assert batty(library, "cron", "install").code == 0
        canary = library.parent / "canary"
        cron.write([*cron.read(), f"* * * * * touch {canary}"])
        pre = batty(library, "preflight", "--json")
        checks = {c["name"]: c for c in json.loads(pre.out)["checks"]}
        assert checks["cron"]["state"] == "ok" and checks["cron daemon"]["state"] == "ok", checks
        realcron.wait_for_cron(cron_dispatched, canary, paths.state / "cron.log")
        cron.uninstall(paths)
    assert "batty-cron: tick" in (paths.state / "cron.log").read_text()
    ticks = [json.loads(x) for x in events.read_text().splitlines()]
    assert all(e["cmd"] == "tick" for e in ticks if e["kind"] == "task.dispatched")  # cron's, not ours

    res = batty(library, "run", "--interval", "0.5", "--until-idle", "--max-ticks", "120")
    assert res.code == 0, res.err
    status = {t["id"]: t["status"] for t in json.loads(batty(library, "task", "list", "--json").out)}
    assert status[ids[0]] == "done" and status[ids[1]] == "done", status
    assert status[ids[2]] == "blocked", status
    base = git(library, "show", "master:tabulate/__init__.py")
    assert "_batty_helper" in base and '"decimal": "<."' not in base and '"decimal": ">."' in base
    assert "pytestmark" not in git(library, "show", "master:test/test_output.py")
    # and the base passes its own suite
    check = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--ignore",
                            "benchmark.py"], cwd=library, capture_output=True, text=True, timeout=600)
    assert check.returncode == 0, check.stdout[-2000:]
    inbox = (library / "board" / "INBOX.md").read_text()
    assert ids[2] in inbox and "to do:" in inbox
