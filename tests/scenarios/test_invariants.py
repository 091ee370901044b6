"""The scenario checker itself: what it counts as a live agent must be one (roadmap T-10)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from batty.store.paths import Paths
from tests.scenarios.invariants import check_agents, live

# A wrapper that is starting its agent: forked, not yet exec'd, the child still shows the
# wrapper's command line (what Popen's child is until exec).
FORKING = "import os, sys, time\nos.fork()\nsys.stdout.write('forked\\n'); sys.stdout.flush()\ntime.sleep(30)\n"


def test_a_wrapper_starting_its_agent_is_one_wrapper_not_two(tmp_path: Path) -> None:
    paths = Paths(tmp_path)
    run_dir = paths.state / "runs" / "T-1" / "1"
    run_dir.mkdir(parents=True)
    (run_dir / "launch.json").write_text(json.dumps({"seat": "eng-1"}))
    (run_dir / "run.json").write_text(json.dumps({"exit_code": None}))
    proc = subprocess.Popen([sys.executable, "-c", FORKING, "batty.runner.wrap", str(run_dir.resolve())],
                            stdout=subprocess.PIPE, text=True, start_new_session=True)
    try:
        assert proc.stdout is not None
        lines = [proc.stdout.readline(), proc.stdout.readline()]  # both the wrapper and its child
        assert lines == ["forked\n", "forked\n"]
        time.sleep(0.1)
        now = live(paths)
        assert [w[0] for w in now.wrappers["T-1"]] == [proc.pid]
        assert check_agents(paths, now) == []
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
