"""The sandbox (SPEC 11, issue 14): its config keys, what a gate test run sees inside it, and
what batty does when bubblewrap cannot run (real bwrap, git and processes).

The agents' side, move by move, is tests/scenarios/test_sandbox_escape.py."""

from __future__ import annotations

import http.server
import os
import shutil
import subprocess
import threading
import time
from pathlib import Path

import pytest

from batty.runner import sandbox
from batty.store.paths import Paths
from batty.workflow import gate
from tests.conftest import git
from tests.project import Project
from tests.test_foundation_cli import one_line_error

needs_bwrap = pytest.mark.skipif(sandbox.problem() is not None, reason=str(sandbox.problem()))


def _config(repo: Paths, text: str) -> None:
    repo.config.write_text(repo.config.read_text() + text)


def test_sandbox_keys_are_checked(batty, repo: Paths) -> None:  # type: ignore[no-untyped-def]
    before = repo.config.read_text()
    _config(repo, "sandbox:\n  mode: docker\n")
    line = one_line_error(batty("status"))
    assert "sandbox.mode 'docker' is not valid (bwrap or none)" in line, line
    repo.config.write_text(before + "sandbox:\n  binds: [relative/path]\n")
    line = one_line_error(batty("status"))
    assert "sandbox.binds: 'relative/path' is not an absolute path" in line, line
    # a bare `on` (YAML 1.1 reads it as true) is `on`; `gates.network` takes none | on
    repo.config.write_text(before + "sandbox:\n  network: on\n  binds: [/opt/tools, '/srv/cache:rw']\n"
                           "gates:\n  network: on\n")
    assert batty("status").code == 0
    repo.config.write_text(before + "gates:\n  network: maybe\n")
    assert "gates.network 'maybe' is not valid (none or on)" in one_line_error(batty("status"))


def test_with_mode_none_status_and_doctor_check_warn_every_time(batty, repo: Paths) -> None:  # type: ignore[no-untyped-def]
    _config(repo, "sandbox:\n  mode: none\n")
    for args in (("status",), ("doctor", "--check")):
        res = batty(*args)
        assert "warning: sandbox.mode is none" in res.err, res.err
    repo.config.write_text(repo.config.read_text().replace("mode: none", "mode: bwrap"))
    if sandbox.problem() is None:
        assert "sandbox.mode" not in batty("status").err


def test_without_bubblewrap_nothing_is_dispatched_and_batty_says_what_to_do(tmp_path: Path) -> None:
    proj = Project(tmp_path / "proj", seats=1)
    tid = proj.task("Anything", ["echo hi > src/hi.py", "git add -A", "git commit -qm hi"])
    bare = tmp_path / "bin"  # a PATH with git and a shell, and no bwrap
    bare.mkdir()
    for tool in ("git", "bash", "sh"):
        found = shutil.which(tool)
        assert found is not None
        os.symlink(found, bare / tool)
    res = proj.batty("dispatch", env={"PATH": str(bare)})
    line = one_line_error(res)
    assert "bubblewrap is not installed" in line and "apt-get install bubblewrap" in line, line
    assert "sandbox.mode: none" in line
    assert proj.status(tid) == "todo"
    assert not proj.paths.runs_of(tid).exists()
    assert "bubblewrap is not installed" in proj.batty("status", env={"PATH": str(bare)}).err
    # said the same by a tick, which dispatches nothing either
    res = proj.batty("tick", env={"PATH": str(bare)})
    assert "bubblewrap is not installed" in res.err
    assert proj.status(tid) == "todo"


class _Hits(http.server.BaseHTTPRequestHandler):
    hits: list[str] = []

    def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
        _Hits.hits.append(self.path)
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args: object) -> None:
        pass


PROBE = """
import os, subprocess, sys, urllib.request
out = []
try:
    urllib.request.urlopen("http://127.0.0.1:{port}/from-the-tests", timeout=3).read()
    out.append("network: reached")
except Exception:
    out.append("network: cut")
out.append("pids: " + str(sorted(int(p) for p in os.listdir("/proc") if p.isdigit())[:3]))
out.append("key: " + ("read" if os.path.exists({key!r}) else "unseen"))
out.append("control: " + ("seen" if os.path.exists({control!r}) else "unseen"))
out.append("objects: " + ("seen" if os.path.isdir({objects!r}) else "unseen"))
try:
    open({objects!r} + "/planted", "w").write("x")
    out.append("objects-write: done")
except OSError:
    out.append("objects-write: refused")
subprocess.Popen(["setsid", "bash", "-c", "exec -a {daemon} sleep 600"], start_new_session=True)
git = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True)
out.append("git: " + git.stdout.strip())
print("\\n".join(out))
"""


def _daemons(marker: str) -> list[int]:
    import psutil

    return [p.pid for p in psutil.process_iter(["cmdline"]) if marker in " ".join(p.info.get("cmdline") or [])]


@needs_bwrap
@pytest.mark.parametrize("network", [False, True])
def test_a_gate_run_sees_its_checkout_and_nothing_of_the_host(repo: Paths, tmp_path: Path, network: bool) -> None:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Hits)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    key = Path(os.environ["HOME"]) / ".ssh" / "id_ed25519"
    key.parent.mkdir(parents=True)
    key.write_text("PRIVATE\n")
    daemon = f"batty-gate-daemon-{os.getpid()}-{network}"
    objects = str(repo.root / ".git" / "objects")
    (repo.root / "probe.py").write_text(PROBE.format(port=server.server_address[1], key=str(key),
                                                     control=str(repo.config), objects=objects,
                                                     daemon=daemon))
    git(repo.root, "add", "probe.py")
    git(repo.root, "commit", "-qm", "probe")
    sha = git(repo.root, "rev-parse", "HEAD")
    import sys

    try:
        with gate.scratch(repo, "verify-T-1", sha) as tree:
            run = gate.run_tests(tree, f"{sys.executable} probe.py", timeout_s=60,
                                 log_path=tmp_path / "test.log",
                                 pol=sandbox.Policy(gate_network=network))
        log = (tmp_path / "test.log").read_text()
        assert run.passed, log
        assert ("network: reached" if network else "network: cut") in log, log
        assert "pids: [1, 2" in log  # its own PID namespace
        assert "key: unseen" in log and "control: unseen" in log, log
        assert "objects: seen" in log and "objects-write: refused" in log, log
        assert f"git: {sha}" in log  # tests that ask git about their checkout get answers
        assert not (repo.root / ".git" / "objects" / "planted").exists()
        deadline = time.monotonic() + 5
        while _daemons(daemon) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _daemons(daemon) == []  # nothing the tests started outlived the run
    finally:
        server.shutdown()
        for pid in _daemons(daemon):
            os.kill(pid, 9)


@needs_bwrap
def test_the_agent_boundary_hides_other_checkouts_and_shows_its_own(repo: Paths) -> None:
    from batty.store import worktrees

    mine = worktrees.ensure(repo, "T-1", "main")
    other = worktrees.ensure(repo, "T-2", "main")
    home = repo.state / "seats" / "eng-1"
    home.mkdir(parents=True)
    argv = sandbox.agent_argv(["bash", "-c", f"ls {other} ; ls {repo.board} ; touch mine.txt ; "
                               "git status --short ; git commit -qm x --allow-empty && echo committed"],
                              pol=sandbox.Policy(), checkout=mine, home=home,
                              env_path=os.environ["PATH"], hide=(repo.root,))
    env = {"PATH": os.environ["PATH"], "HOME": str(home), "GIT_AUTHOR_NAME": "a", "GIT_AUTHOR_EMAIL": "a@b",
           "GIT_COMMITTER_NAME": "a", "GIT_COMMITTER_EMAIL": "a@b"}
    out = subprocess.run(argv, capture_output=True, text=True, timeout=60, env=env)
    assert f"ls: cannot access '{other}'" in out.stderr and f"ls: cannot access '{repo.board}'" in out.stderr
    assert "?? mine.txt" in out.stdout and "committed" in out.stdout, out
    assert (mine / "mine.txt").exists()
    assert git(repo.root, "rev-parse", "batty/T-1") == git(repo.root, "rev-parse", "main")


def test_sandbox_none_runs_the_command_as_it_is() -> None:
    pol = sandbox.Policy(mode="none")
    assert sandbox.gate_argv(["true"], pol=pol, tree=Path("/x"), home=Path("/h"), env_path="") == ["true"]
    assert sandbox.agent_argv(["true"], pol=pol, checkout=Path("/x"), home=Path("/h"), env_path="") == ["true"]


def test_a_toolchain_holding_the_control_checkout_is_never_shown(tmp_path: Path) -> None:
    """A PATH entry inside the control checkout (its bin/) would show the whole checkout."""
    root = tmp_path / "proj"
    (root / "bin").mkdir(parents=True)
    (tmp_path / "tools" / "bin").mkdir(parents=True)
    argv = sandbox.gate_argv(["true"], pol=sandbox.Policy(), tree=root / ".batty" / "scratch" / "x",
                             home=tmp_path / "h", env_path=f"{root / 'bin'}:{tmp_path / 'tools' / 'bin'}",
                             hide=(root,))
    shown = [argv[i + 1] for i, a in enumerate(argv) if a == "--ro-bind"]
    assert str(tmp_path / "tools") in shown
    assert str(root) not in shown and str(tmp_path) not in shown



@needs_bwrap
def test_only_the_login_files_an_adapter_linked_are_shown_of_the_user_s_home(tmp_path: Path) -> None:
    """Claude Code's credentials are shown (writable: a token refresh lands); a link an agent
    planted in its seat home (it persists to the next attempt) names nothing inside."""
    from batty.agents import build_launch

    home = Path(os.environ["HOME"])
    creds = home / ".claude" / ".credentials.json"
    creds.parent.mkdir(parents=True)
    creds.write_text('{"token": "t"}\n')
    key = home / ".ssh" / "id_ed25519"
    key.parent.mkdir(parents=True)
    key.write_text("PRIVATE\n")
    seat, wt = tmp_path / "seat", tmp_path / "wt"
    wt.mkdir()
    (seat / ".claude").mkdir(parents=True)
    (seat / "planted").symlink_to(key)  # what an earlier attempt left in its HOME
    prompt = tmp_path / "prompt.md"
    prompt.write_text("hi\n")
    launch = build_launch("claude", {}, prompt_file=prompt, task="T-1", attempt=1, worktree=wt,
                          seat_home=seat, environ=dict(os.environ), secrets=frozenset(), script=None)
    assert launch.logins == (creds.resolve(),)
    argv = sandbox.agent_argv(["bash", "-c", "cat ~/.claude/.credentials.json; echo refreshed > "
                               "~/.claude/.credentials.json; cat ~/planted"],
                              pol=sandbox.Policy(), checkout=wt, home=seat, env_path=os.environ["PATH"],
                              logins=launch.logins)
    out = subprocess.run(argv, capture_output=True, text=True, timeout=60,
                         env={"PATH": os.environ["PATH"], "HOME": str(seat)})
    assert '"token"' in out.stdout and "PRIVATE" not in out.stdout, out
    assert creds.read_text() == "refreshed\n"
    assert key.read_text() == "PRIVATE\n"


def test_the_scripted_agents_folder_is_shown_when_batty_lives_behind_a_symlink(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The shell agent runs batty's scripted.py as a file; the sandbox shows that file's folder,
    found by comparing real paths on both sides (a package reached through a symlink, as a home
    folder or a venv often is, showed nothing and the agent could not start)."""
    import sys

    import batty
    from batty.agents import shell

    real = Path(batty.__file__).resolve().parent
    link = tmp_path / "linked-batty"
    link.symlink_to(real, target_is_directory=True)
    monkeypatch.setattr(batty, "__file__", str(link / "__init__.py"))
    argv = [sys.executable, "-I", "-S", str(link / "agents" / shell.SCRIPTED.name), "--script", "x.json"]
    assert str(real / "agents") in sandbox._program_dirs(argv)
    # nothing else of batty's: not its package for a file outside it
    assert not any(d.startswith(str(real)) for d in sandbox._program_dirs([sys.executable, "/tmp/x.py"]))
