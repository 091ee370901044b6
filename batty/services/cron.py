"""batty's crontab line (issue 5): ``* * * * * ... bin/batty-cron REPO``, one per repository.

The line carries a marker (``# batty-cron:<id> <repo>``, a shell comment at the end of the
command) so that install replaces it rather than adding a second one, and uninstall removes only
it. Every other line of the user's crontab is kept as it is.
"""

from __future__ import annotations

import hashlib
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

from batty.errors import BattyError
from batty.store.paths import Paths

# In the package (an installed batty has no source tree); the source tree's bin/batty-cron
# links here
SCRIPT = Path(__file__).resolve().parent.parent / "templates" / "batty-cron"
SCHEDULE = "* * * * *"
TIMEOUT_S = 30


def marker(root: Path) -> str:
    key = hashlib.sha1(str(root.resolve()).encode()).hexdigest()[:12]
    return f"# batty-cron:{key}"


def script() -> Path:
    if not SCRIPT.is_file():
        raise BattyError(f"{SCRIPT} is missing", valid="reinstall batty (the script ships with the package)")
    return SCRIPT


def line(paths: Paths) -> str:
    """The crontab line for this repository: its PATH and Python as they are now."""
    env = {"BATTY_PYTHON": sys.executable, "BATTY_PATH": os.environ.get("PATH", "/usr/bin:/bin")}
    if os.environ.get("HOME"):  # the CLIs' own credential stores (~/.claude, ~/.codex) and the
        env["HOME"] = os.environ["HOME"]  # env file live here; cron's HOME may be another
    if os.environ.get("BATTY_ENV_FILE"):
        env["BATTY_ENV_FILE"] = os.environ["BATTY_ENV_FILE"]
    root = paths.root.resolve()
    words = [*(f"{k}={shlex.quote(v)}" for k, v in env.items()), shlex.quote(str(script())),
             shlex.quote(str(root)), ">/dev/null", "2>&1"]
    # cron turns an unescaped % into a newline
    command = " ".join(words).replace("%", "\\%")
    return f"{SCHEDULE} {command} {marker(root)} {str(root).replace('%', '_')}"


def _crontab() -> str:
    found = shutil.which("crontab")
    if not found:
        raise BattyError("crontab is not installed", valid="install cron (Debian: apt-get install cron)")
    return found


def read() -> list[str]:
    proc = subprocess.run([_crontab(), "-l"], capture_output=True, text=True, timeout=TIMEOUT_S,
                          stdin=subprocess.DEVNULL)
    if proc.returncode != 0:
        if "no crontab" in proc.stderr.lower():
            return []
        raise BattyError(f"crontab -l failed: {proc.stderr.strip() or proc.returncode}")
    return proc.stdout.splitlines()


def write(lines: list[str]) -> None:
    if not lines:  # nothing left: no crontab at all, as before batty's first line
        subprocess.run([_crontab(), "-r"], capture_output=True, timeout=TIMEOUT_S,
                       stdin=subprocess.DEVNULL)
        return
    proc = subprocess.run([_crontab(), "-"], input="\n".join(lines) + "\n", capture_output=True,
                          text=True, timeout=TIMEOUT_S)
    if proc.returncode != 0:
        raise BattyError(f"crontab - failed: {proc.stderr.strip() or proc.returncode}")


def installed(paths: Paths, lines: list[str] | None = None) -> str | None:
    mark = marker(paths.root)
    lines = read() if lines is None else lines
    return next((x for x in lines if _ours(x, mark)), None)


def _ours(text: str, mark: str) -> bool:
    return not text.lstrip().startswith("#") and f" {mark} " in text + " "


def install(paths: Paths) -> tuple[str, bool]:
    """Put this repository's line in the crontab; (the line, whether anything changed)."""
    want = line(paths)
    lines = read()
    mark = marker(paths.root)
    kept = [x for x in lines if not _ours(x, mark)]
    (paths.state / "cron.installed").touch()  # since when ticks are expected (batty.attention)
    if [x for x in lines if _ours(x, mark)] == [want]:
        return want, False
    write([*kept, want])
    return want, True


def uninstall(paths: Paths) -> bool:
    lines = read()
    mark = marker(paths.root)
    kept = [x for x in lines if not _ours(x, mark)]
    (paths.state / "cron.installed").unlink(missing_ok=True)
    if kept == lines:
        return False
    write(kept)
    return True
