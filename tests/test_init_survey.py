"""`batty init` reads the repository (issue 16.2) and trusted_tests follows it (issue 15.3).

Measured: on a real library whose tests live in `test/`, init wrote the default
`trusted_tests: [tests/**]`, which matched nothing, and lint, doctor and status said nothing;
an agent then put skip markers in three test files. Real git repositories, real subprocesses.
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import yaml

from tests.conftest import git, run_batty


def make(root: Path, files: dict[str, str]) -> Path:
    root.mkdir(parents=True)
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    git(root, "init", "-q", "-b", "trunk")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "the project")
    return root


LIBRARY = {  # laid out like the library of issue 15: tests in test/, pytest in pyproject.toml
    "pyproject.toml": '[project]\nname = "lib"\n\n[tool.pytest.ini_options]\naddopts = "-ra"\n',
    "src/lib/__init__.py": "def one():\n    return 1\n",
    "test/test_lib.py": "from lib import one\n\ndef test_one():\n    assert one() == 1\n",
    "test/conftest.py": "import sys, pathlib\nsys.path.insert(0, str(pathlib.Path(__file__).parent.parent / 'src'))\n",
}


def config_of(root: Path) -> dict:
    return yaml.safe_load((root / "board" / "config.yaml").read_text())


def test_init_reads_a_library_whose_tests_live_in_test(tmp_path: Path) -> None:
    root = make(tmp_path / "lib", LIBRARY)
    res = run_batty(root, "init", "--agent", "shell")
    assert res.code == 0, res.err
    cfg = config_of(root)
    assert cfg["base"] == "trunk"
    assert cfg["gates"]["test"] == "pytest -q"
    assert "test/**" in cfg["gates"]["trusted_tests"] and "tests/**" not in cfg["gates"]["trusted_tests"]
    # every choice is a line of the config with its reason, and is said on the terminal
    text = (root / "board" / "config.yaml").read_text()
    for key in ("base:", "test:", "trusted_tests:"):
        line = next(x for x in text.splitlines() if x.strip().startswith(key))
        assert "# init: " in line, line
    assert "chose gates.trusted_tests: test/**" in res.err
    assert "chose base: trunk (the branch checked out)" in res.err
    assert run_batty(root, "task", "lint").code == 0


def test_init_takes_pytests_configured_testpaths(tmp_path: Path) -> None:
    root = make(tmp_path / "p", {
        "pytest.ini": "[pytest]\ntestpaths = checks\n",
        "checks/test_a.py": "def test_a():\n    pass\n",
        "other/test_not_collected.py": "",
    })
    assert run_batty(root, "init", "--agent", "shell").code == 0
    trusted = config_of(root)["gates"]["trusted_tests"]
    assert trusted[0] == "checks/**", trusted
    assert "testpaths" in (root / "board" / "config.yaml").read_text()


def test_init_reads_pytest_9s_own_config_files(tmp_path: Path) -> None:
    """pytest 9 reads pytest.toml (and pyproject.toml's native [tool.pytest]) before the rest:
    init read only pytest.ini and [tool.pytest.ini_options], so it fell back to tests/** and
    trusted no test the project runs."""
    root = make(tmp_path / "p", {
        "pytest.toml": '[pytest]\ntestpaths = ["checks"]\n',
        "checks/test_a.py": "def test_a():\n    pass\n",
    })
    res = run_batty(root, "init", "--agent", "shell")
    assert res.code == 0, res.err
    cfg = config_of(root)
    assert cfg["gates"]["trusted_tests"][0] == "checks/**", cfg["gates"]["trusted_tests"]
    assert cfg["gates"]["test"] == "pytest -q"
    assert "pytest.toml [pytest] testpaths" in (root / "board" / "config.yaml").read_text()
    native = make(tmp_path / "n", {
        "pyproject.toml": '[project]\nname = "n"\n\n[tool.pytest]\ntestpaths = ["spec"]\n',
        "spec/test_b.py": "def test_b():\n    pass\n",
    })
    assert run_batty(native, "init", "--agent", "shell").code == 0
    assert config_of(native)["gates"]["trusted_tests"][0] == "spec/**"


def test_init_finds_the_test_command_of_other_runners(tmp_path: Path) -> None:
    cases = {
        "go": ({"go.mod": "module x\n", "x_test.go": "package x\n"}, "go test ./..."),
        "cargo": ({"Cargo.toml": "[package]\nname='x'\n", "tests/it.rs": ""}, "cargo test"),
        "pnpm": ({"package.json": json.dumps({"scripts": {"test": "vitest"}}), "pnpm-lock.yaml": "",
                  "src/a.test.js": ""}, "pnpm test"),
        "npm": ({"package.json": json.dumps({"scripts": {"test": "jest"}}), "__tests__/a.js": ""}, "npm test"),
        "make": ({"Makefile": "all:\n\ttrue\ntest:\n\t./check.sh\n"}, "make test"),
        "tox": ({"tox.ini": "[tox]\nenvlist = py3\n"}, "tox"),
    }
    for name, (files, want) in cases.items():
        root = make(tmp_path / name, files)
        res = run_batty(root, "init", "--agent", "shell")
        assert res.code == 0, (name, res.err)
        assert config_of(root)["gates"]["test"] == want, name
    assert "**/*_test.go" in config_of(tmp_path / "go")["gates"]["trusted_tests"]
    # --test wins over what the repository has
    root = make(tmp_path / "given", {"go.mod": "module x\n"})
    assert run_batty(root, "init", "--agent", "shell", "--test", "./run-checks").code == 0
    assert config_of(root)["gates"]["test"] == "./run-checks"


def test_init_picks_an_agent_cli_that_is_logged_in(tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name in ("claude", "codex"):
        exe = bin_dir / name
        exe.write_text("#!/bin/sh\nexit 0\n")
        exe.chmod(exe.stat().st_mode | stat.S_IEXEC)
    root = make(tmp_path / "p", {"README.md": "x\n"})
    env = {"PATH": f"{bin_dir}:{os.environ['PATH']}", "OPENAI_API_KEY": "sk-test"}
    env.pop("ANTHROPIC_API_KEY", None)
    res = run_batty(root, "init", env={**env, "ANTHROPIC_API_KEY": ""})
    assert res.code == 0, res.err
    assert config_of(root)["seats"][0]["agent"] == "codex"
    assert "found claude on PATH, not logged in" in res.err
    assert "found codex on PATH, logged in ($OPENAI_API_KEY)" in res.err


def project_with_test_dir(tmp_path: Path, trusted: list[str]) -> Path:
    root = make(tmp_path / "lib", LIBRARY)
    assert run_batty(root, "init", "--agent", "shell").code == 0
    cfg = config_of(root)
    cfg["gates"]["trusted_tests"] = trusted
    (root / "board" / "config.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    git(root, "commit", "-qam", "config")
    return root


def test_lint_status_and_doctor_say_when_trusted_tests_match_nothing(tmp_path: Path) -> None:
    root = project_with_test_dir(tmp_path, ["tests/**"])  # the old default, on a test/ layout
    lint = run_batty(root, "task", "lint")
    assert lint.code == 1
    assert "gates.trusted_tests (tests/**) matches no file on trunk" in lint.err
    assert "trusted_tests: [test/**" in lint.err  # what would be valid
    status = run_batty(root, "status")
    assert "gates.trusted_tests (tests/**) matches no file on trunk" in status.out + status.err
    doctor = run_batty(root, "doctor", "--check")
    assert "gates.trusted_tests (tests/**) matches no file on trunk" in doctor.out + doctor.err


def test_lint_says_when_collected_tests_lie_outside_trusted_tests(tmp_path: Path) -> None:
    root = project_with_test_dir(tmp_path, ["test/test_lib.py"])
    (root / "test" / "test_more.py").write_text("def test_more():\n    pass\n")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "more tests")
    lint = run_batty(root, "task", "lint")
    assert lint.code == 1
    assert "misses 2 test file(s) the runner collects: test/conftest.py, test/test_more.py" in lint.err
