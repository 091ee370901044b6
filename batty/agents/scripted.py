"""batty's built-in scripted agent: ``python -I -S .../batty/agents/scripted.py --script FILE``.

FILE is a JSON list of shell command strings (the packet's ``script:``, like a Makefile
recipe). Each runs in the current directory (the worktree) with ``bash -c``, one by one;
the first failure stops the run with that command's exit code. Each command is echoed
as ``$ command`` before its output. This process is the agent: the runner's pid, what a
``die-silently`` behaviour kills with ``kill -9 $PPID``.

Standard library only, and no import of the rest of batty: it starts fast (run as a file,
isolated and without site, batty.agents.shell) and cannot be broken by a bug elsewhere.
``python -m batty.agents.scripted`` runs it too.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path


def load(path: Path) -> list[str]:
    script = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(script, list) or not all(isinstance(c, str) for c in script):
        raise ValueError(f"{path}: a script is a JSON list of strings")
    return script


def run(script: list[str]) -> int:
    for i, command in enumerate(script, 1):
        print(f"$ {command}", flush=True)
        # No timeout: the supervisor owns the wall clock (a `stall` behaviour sleeps on
        # purpose). stdin is closed so a command can never wait on a terminal.
        code = subprocess.call(["bash", "-c", command], stdin=subprocess.DEVNULL)
        if code != 0:
            print(f"batty-script: step {i} of {len(script)} failed with exit code {code}",
                  file=sys.stderr, flush=True)
            return 128 - code if code < 0 else code  # killed by a signal: 128+N, as bash says
    print(f"batty-script: {len(script)} step(s) done", flush=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m batty.agents.scripted", description=__doc__)
    parser.add_argument("--script", required=True, type=Path, help="JSON list of commands")
    args = parser.parse_args(argv)
    try:
        script = load(args.script)
    except (OSError, ValueError) as e:
        print(f"batty-script: {e}", file=sys.stderr)
        return 2
    return run(script)


if __name__ == "__main__":
    sys.exit(main())
