"""batty preflight (issue 16.3): what the first unattended night needs, checked the way cron
runs batty. Measured: a Claude Code seat worked from the shell and failed every minute under
cron ("Not logged in"); nothing said so before the night."""

from __future__ import annotations

import json
import os
from pathlib import Path

from tests.project import Project


def fake_cli(tmp_path: Path, name: str = "claude") -> Path:
    bin_dir = tmp_path / "clis"
    bin_dir.mkdir(exist_ok=True)
    exe = bin_dir / name
    exe.write_text("#!/bin/sh\necho '2.1.197 (Claude Code)'\n")
    exe.chmod(0o755)
    return bin_dir


def checks(res) -> dict[str, dict]:  # type: ignore[no-untyped-def]
    return {c["name"]: c for c in json.loads(res.out)["checks"]}


def test_an_agent_logged_in_only_by_the_shells_variable_fails_under_crons_env(tmp_path: Path) -> None:
    proj = Project(tmp_path / "p", config={"seats": [{"name": "eng-1", "agent": "claude"}]})
    env_file = tmp_path / "cron-env"
    env = {"PATH": f"{fake_cli(tmp_path)}:{os.environ['PATH']}", "ANTHROPIC_API_KEY": "sk-in-the-shell",
           "BATTY_ENV_FILE": str(env_file)}
    res = proj.batty("preflight", "--no-test", "--json", env=env)
    assert res.code == 1
    agent = checks(res)["agent claude"]
    assert agent["state"] == "FAIL" and "not logged in under cron's environment" in agent["what"]
    assert "batty cron install" in agent["fix"]
    # the key in the env file bin/batty-cron reads: logged in under cron
    env_file.write_text("ANTHROPIC_API_KEY=sk-kept-for-cron\n")
    env_file.chmod(0o600)
    res = proj.batty("preflight", "--no-test", "--json", env=env)
    agent = checks(res)["agent claude"]
    assert agent["state"] == "ok" and "$ANTHROPIC_API_KEY" in agent["what"], agent


def test_the_test_command_must_pass_on_the_base(tmp_path: Path) -> None:
    proj = Project(tmp_path / "p")
    res = proj.batty("preflight", "--json")
    assert checks(res)["test"]["state"] == "ok", res.out
    (proj.root / "tests" / "test_app.py").write_text("def test_broken():\n    assert False\n")
    from tests.conftest import git

    git(proj.root, "commit", "-qam", "a broken test on the base")
    res = proj.batty("preflight")
    assert res.code == 1
    assert "FAIL  test: " in res.out and "on main" in res.out and ".batty/preflight/test.log" in res.out
    # every other check is there, each ok, warn, FAIL or skip
    for name in ("trusted_tests", "agent shell", "cron", "cron daemon", "sandbox", "disk", "notify"):
        assert f"  {name}: " in res.out, name
