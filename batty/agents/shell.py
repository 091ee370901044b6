"""The built-in ``shell`` agent: runs the packet's ``script:`` with ``batty.agents.scripted``.

Only the ``script:`` items a human wrote in the packet reach bash, each as one ``bash -c``
argument; the task's title and description never do. The list travels as a JSON file
next to the prompt file, never on a command line.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from batty.agents import AgentConfigError
from batty.agents.launch import Context, Parts

PREFIXES: tuple[str, ...] = ()
SCRIPTED = Path(__file__).with_name("scripted.py")


def parts(ctx: Context) -> Parts:
    script = ctx.script
    if not script:
        raise AgentConfigError(f"task {ctx.task}: the shell agent needs the packet's script:",
                               valid="script: [\"make fmt\", \"git commit -am fmt\"]")
    if not all(isinstance(c, str) for c in script):
        raise AgentConfigError(f"task {ctx.task}: script: must be a list of strings",
                               valid="script: [\"make fmt\"]")
    path = ctx.prompt_file.parent / "script.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(list(script), indent=1) + "\n", encoding="utf-8")
    # the file itself, isolated (-I) and without site (-S): it needs the standard library only, and
    # neither batty's package nor the venv's site-packages load before the first step (~30 ms of each
    # agent's start, docs/BENCHMARKS.md); the sandbox shows its folder read-only
    argv = [sys.executable, "-I", "-S", str(SCRIPTED), "--script", str(path)]
    return Parts(argv=argv, stdin_path=None, files=[path])
