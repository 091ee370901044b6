"""batty demo: a sandbox repository, a board of tasks, the scripted agent, run end to end.

One task fails its tests once and passes on retry, one agent stalls and is respawned, one
leaves its scope and is refused, one depends on another. Ticks run until the board drains.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

APP = '''"""The sandbox's code: the demo's agents add to it."""


def add(a, b):
    return a + b
'''
TESTS = '''import sys
import unittest
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))


class TestApp(unittest.TestCase):
    def test_add(self):
        import app

        self.assertEqual(app.add(2, 3), 5)

    def test_every_module_imports(self):
        import importlib

        for path in sorted((Path(__file__).resolve().parent.parent / "src").glob("*.py")):
            importlib.import_module(path.stem)


if __name__ == "__main__":
    unittest.main()
'''


def _w(path: str, body: str) -> str:
    """A bash command that writes ``body`` to ``path`` (a quoted heredoc: no expansion)."""
    return f"mkdir -p $(dirname {path}) && cat > {path} <<'BATTY_EOF'\n{body.rstrip()}\nBATTY_EOF"


TASKS: list[dict] = [
    {"title": "Add a greeting", "priority": 1, "scope": ["src/greet.py"],
     "description": "Add greet(name) in src/greet.py returning 'Hello, <name>!'.",
     "script": [_w("src/greet.py", 'def greet(name):\n    return f"Hello, {name}!"'),
                "git add src && git commit -qm 'greet: say hello'"]},
    {"title": "Add subtraction", "scope": ["src/sub.py"],
     "description": "Add sub(a, b) in src/sub.py. (The scripted agent gets it wrong the first time.)",
     "script": ['if [ "$BATTY_ATTEMPT" = 1 ]; then echo "def sub(a, b) return a - b" > src/sub.py; '
                'else printf "def sub(a, b):\\n    return a - b\\n" > src/sub.py; fi',
                "git add src && git commit -qm 'sub: subtract'"]},
    {"title": "Add multiplication", "scope": ["src/mul.py"],
     "description": "Add mul(a, b) in src/mul.py. (The scripted agent stalls on its first run.)",
     "script": ['if [ ! -e "$HOME/stalled-$BATTY_TASK" ]; then touch "$HOME/stalled-$BATTY_TASK"; '
                'echo "thinking very hard..."; sleep 600; fi',
                _w("src/mul.py", "def mul(a, b):\n    return a * b"),
                "git add src && git commit -qm 'mul: multiply'"]},
    {"title": "Tidy the notes", "scope": ["src/notes.md"],
     "description": "Tidy src/notes.md. (The scripted agent writes docs/ instead: outside its scope.)",
     # each attempt writes something new: a retry that changed nothing would fail its commit
     # ("nothing to commit") and be refused for the agent's exit, not for the scope
     "script": [_w("docs/notes.md", "# Notes\n\nwritten outside the scope"),
                'echo "attempt $BATTY_ATTEMPT" >> docs/notes.md',
                "git add docs && git commit -qm 'notes'"]},
    {"title": "Welcome the world", "scope": ["src/welcome.py"], "depends": 0,
     "description": "Add welcome() in src/welcome.py using greet().",
     "script": [_w("src/welcome.py", 'from greet import greet\n\n\ndef welcome():\n    return greet("world")'),
                "git add src && git commit -qm 'welcome: use greet'"]},
]


def build(root: Path) -> None:
    """The sandbox: a git repository with code, tests, `batty init`, a tuned config, the tasks."""
    from batty.core.lifecycle import Status
    from batty.workflow.session import Session
    from batty.workflow.state import State

    root.mkdir(parents=True, exist_ok=True)
    (root / "src").mkdir(exist_ok=True)
    (root / "tests").mkdir(exist_ok=True)
    (root / "src" / "app.py").write_text(APP)
    (root / "tests" / "test_app.py").write_text(TESTS)
    (root / "README.md").write_text("# batty demo sandbox\n")

    def git(*args: str) -> None:
        subprocess.run(["git", *args], cwd=root, check=True, capture_output=True, timeout=60)

    git("init", "-q", "-b", "main")
    git("config", "user.name", "batty demo")
    git("config", "user.email", "demo@batty.localhost")
    git("add", "-A")
    git("commit", "-q", "-m", "the sandbox")
    test = f"{sys.executable} -m unittest discover -s tests -q"
    _batty(root, "init", "--agent", "shell", "--seats", "3", "--test", test)
    cfg = root / "board" / "config.yaml"
    text = cfg.read_text()
    text = text.replace("  max_attempts: 3", "  max_attempts: 2")
    text = text.replace("  stall_after_s: 600", "  stall_after_s: 4")
    text = text.replace("  respawn_cooldown_s: 120", "  respawn_cooldown_s: 2")
    text = text.replace("  test_timeout_s: 1800", "  test_timeout_s: 120")
    cfg.write_text(text)
    app = Session(str(root), quiet=True)
    app.cmd = "demo"
    st = State(app)
    ids: list[str] = []
    for t in TASKS:
        deps = [ids[t["depends"]]] if "depends" in t else []
        p = st.create(t["title"], status=Status.TODO, priority=t.get("priority", 2), scope=t["scope"],
                      description=t["description"], script=t["script"], depends_on=deps)
        ids.append(p.id)
    st._touched.add("board/config.yaml")
    st.notes.append("demo: config tuned, tasks added")
    st.finish()


def _batty(root: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "batty", "--repo", str(root), *args], check=True,
                          capture_output=True, text=True, timeout=300)


def run(root: Path, *, timeout_s: float = 120.0, echo=print) -> bool:  # type: ignore[no-untyped-def]
    """Tick until the board drains; True when it did inside ``timeout_s``."""
    from batty.workflow.session import Session
    from batty.workflow.tick import idle, tick

    app = Session(str(root), quiet=True)
    app.cmd = "tick"
    start = time.monotonic()
    n = 0
    last = ""
    while time.monotonic() - start < timeout_s:
        tick(app)
        n += 1
        line = _summary(root)
        if line != last:
            echo(f"  tick {n:>3} {time.monotonic() - start:5.1f}s  {line}")
            last = line
        why = idle(app)
        if why:
            echo(f"  drained after {n} ticks, {time.monotonic() - start:.1f}s: {why}")
            return True
        time.sleep(0.3)
    return False


def _summary(root: Path) -> str:
    from batty.store.packets import load_all
    from batty.store.paths import Paths

    counts: dict[str, int] = {}
    for p in load_all(Paths(root)):
        counts[p.status.value] = counts.get(p.status.value, 0) + 1
    order = ["todo", "in-progress", "review", "done", "blocked"]
    return "  ".join(f"{k} {counts[k]}" for k in order if counts.get(k))
