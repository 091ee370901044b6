"""An agent that tries to reach out of its boundary (issue 14, SPEC 11): real bubblewrap, git
and processes.

The scripted agent makes a real change (so its attempt goes through every gate) and tries, one
after another, what a careless or adversarial agent would: write the control checkout's config
and board, move the base ref, `git replace` the base's tree, make another task's branch, read
batty's environment through /proc, signal batty's processes, read a key planted in the user's
home, and leave a daemon running. Each move's outcome goes to src/probe.txt, which lands with the
change. Under `sandbox.mode: bwrap` each move fails and nothing reaches the base; under
`sandbox.mode: none` the same agent shows what the repository of its own and the gate alone
still refuse, and what they do not.
"""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
from pathlib import Path

import pytest

from batty.runner import sandbox
from tests.conftest import git
from tests.scenarios.helpers import make, on_base, quiet, statuses, tick, write

SECRET = "batty-secret-marker-4f1c"
KEY = "PRIVATE-KEY-MARKER-9a7e"

pytestmark = pytest.mark.skipif(sandbox.problem() is not None, reason=str(sandbox.problem()))


def _moves(root: Path, key: Path, daemon: str) -> list[str]:
    r, k = shlex.quote(str(root)), shlex.quote(str(key))
    out = "src/probe.txt"

    def probe(name: str, command: str) -> str:
        # one line each: "<name>: done" when the move worked, "<name>: refused" when it did not
        return (f"if ( {command} ) >/dev/null 2>&1; then echo '{name}: done' >> {out}; "
                f"else echo '{name}: refused' >> {out}; fi")

    evil = ("git commit -q --allow-empty -m evil && git update-ref refs/heads/main HEAD "
            "&& git reset -q --hard HEAD~1")
    return [
        "mkdir -p src && : > src/probe.txt",
        probe("control-config", f"printf 'gates:\\n  test: \"true\"\\n' >> {r}/board/config.yaml"),
        probe("control-board", f"echo '- [ ] planted' >> {r}/board/BOARD.md"),
        probe("control-state", f"ls {r}/.batty/events.jsonl"),
        probe("base-ref", f"git --git-dir={r}/.git update-ref refs/heads/main HEAD"),
        probe("own-base-ref", evil),
        probe("replace", "git replace -f $(git rev-parse main^{tree}) $(git mktree </dev/null)"),
        probe("other-branch", "git branch -f batty/T-1 HEAD"),
        probe("proc-environ", f"cat /proc/[0-9]*/environ 2>/dev/null | tr '\\0' '\\n' | grep -q {SECRET}"),
        probe("signal-batty", "for p in /proc/[0-9]*; do grep -qaE 'batty[-]standin|batty[.]runner[.]wrap' $p/cmdline 2>/dev/null "
                              "&& kill -0 ${p#/proc/} 2>/dev/null && exit 0; done; exit 1"),
        probe("home-key", f"grep -q {KEY} {k}"),
        f"(setsid bash -c 'exec -a {daemon} sleep 600' >/dev/null 2>&1 &)",
        *write("src/feature.py", "FEATURE = 1"),
    ]


def _daemons(marker: str) -> list[int]:
    import psutil

    found = []
    for p in psutil.process_iter(["pid", "cmdline"]):
        if marker in " ".join(p.info.get("cmdline") or []):
            found.append(p.pid)
    return found


def _run(tmp_path: Path, mode: str) -> tuple[object, str, dict[str, str], str]:
    proj, _watch = make(tmp_path, config={"sandbox": {"mode": mode}})
    key = Path(os.environ["HOME"]) / ".ssh" / "id_ed25519"  # the user's home (the suite's)
    key.parent.mkdir(parents=True, exist_ok=True)
    key.write_text(KEY + "\n")
    other = proj.task("Another task, not yet ready", write("src/other.py", "O = 1"), status="backlog")
    daemon = f"batty-probe-daemon-{mode}-{os.getpid()}"
    tid = proj.task("Probe the boundary", _moves(proj.root, key, daemon))
    assert other == "T-1"
    # a batty process with a secret in its environment, alive while the agent runs (a `batty
    # run` loop; a tick may have exited by the time the agent looks)
    standin = subprocess.Popen(["bash", "-c", "exec -a batty-standin sleep 600"],
                               env={"PATH": os.environ["PATH"], "BATTY_PROBE_SECRET": SECRET},
                               stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        for _ in range(12):
            tick(proj, None)
            quiet(proj, 10)
            if statuses(proj)[tid] in ("done", "blocked"):
                break
    finally:
        standin.kill()
        standin.wait(timeout=10)
    probe = on_base(proj, "src/probe.txt") or ""
    outcomes = dict(line.split(": ", 1) for line in probe.splitlines() if ": " in line)
    return proj, tid, outcomes, daemon


def test_every_move_fails_inside_the_sandbox(tmp_path: Path) -> None:
    proj, tid, outcomes, daemon = _run(tmp_path, "bwrap")
    try:
        assert statuses(proj)[tid] == "done"  # its real change landed, through every gate
        assert on_base(proj, "src/feature.py") == "FEATURE = 1"
        for move in ("control-config", "control-board", "control-state", "base-ref", "proc-environ",
                     "signal-batty", "home-key"):
            assert outcomes.get(move) == "refused", (move, outcomes)
        # moves inside its own repository work there and reach nothing of the control's
        assert outcomes.get("own-base-ref") == "done" and outcomes.get("replace") == "done"
        root = proj.root
        assert "planted" not in proj.paths.board_md.read_text()
        assert 'test: "true"' not in proj.paths.config.read_text()
        assert git(root, "for-each-ref", "refs/replace") == ""
        assert git(root, "log", "--format=%s", "main").count("evil") == 0
        assert git(root, "branch", "--list", "batty/T-1") == ""  # another task's: never made
        assert _daemons(daemon) == []  # nothing it started outlived its attempt
        record = json.loads((proj.paths.evidence_dir(tid, 1) / "result.json").read_text())
        said = " ".join(record.get("boundary", []))  # what batty saw it try, in the evidence
        assert "replace" in said and "main" in said and "batty/T-1" in said, record.get("boundary")
    finally:
        for pid in _daemons(daemon):
            os.kill(pid, signal.SIGKILL)


def test_without_the_sandbox_only_the_repository_and_the_gate_stand(tmp_path: Path) -> None:
    proj, tid, outcomes, daemon = _run(tmp_path, "none")
    try:
        # what the boundary alone stopped: the user's home, batty's processes and environment,
        # the control checkout's files
        assert outcomes.get("home-key") == "done"
        assert outcomes.get("proc-environ") == "done"
        assert outcomes.get("control-config") == "done"
        assert _daemons(daemon)  # and what it left running outlives it
        # what the repository of its own still holds: its refs, replace refs and branches stay
        # its own, and batty's git reads no replace object
        root = proj.root
        assert git(root, "for-each-ref", "refs/replace") == ""
        assert git(root, "log", "--format=%s", "main").count("evil") == 0
        assert git(root, "branch", "--list", "batty/T-1") == ""
        res = proj.batty("status")
        assert "sandbox.mode is none" in res.err
    finally:
        for pid in _daemons(daemon):
            os.kill(pid, signal.SIGKILL)
