"""Event logs and repositories for the telemetry tests: real files, real SQLite."""

from __future__ import annotations

import json
import random
import socket
import subprocess
import sys
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from batty.telemetry import synth

_rnd = random.Random(11)


def at(text: str) -> datetime:
    """A UTC instant from ``2026-11-20T10:30`` (or with an offset)."""
    dt = datetime.fromisoformat(text)
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt


def ev(when: str, kind: str, **kw: Any) -> dict[str, Any]:
    """One event as EventLog writes it."""
    return synth.event(at(when), kind, _rnd, **kw)


def done(when: str, task: str, seat: str = "eng-1", **kw: Any) -> list[dict[str, Any]]:
    """A merge landing ``task`` at ``when``: merge.merged and task.status review -> done."""
    return [ev(when, "merge.merged", task=task, seat=seat, attempt=1, cmd="merge", sha="abc",
               base="main", strategy="rebase", auto=kw.get("auto", True), confidence=0.9,
               commits=kw.get("commits", 1)),
            ev(when, "task.status", task=task, seat=seat, attempt=1, cmd="merge",
               **{"from": "review", "to": "done", "by": "merge", "why": "merged"})]


def write(path: Path, events: list[dict[str, Any]], mode: str = "w") -> None:
    synth.write(path, events, mode=mode)


def make_repo(root: Path, zone: str = "UTC") -> Path:
    """The least a command needs: board/config.yaml (find_root looks for it) and .batty/."""
    (root / "board").mkdir(parents=True, exist_ok=True)
    (root / "board" / "config.yaml").write_text(f"base: main\ntelemetry: {{timezone: {zone}}}\n")
    (root / ".batty").mkdir(exist_ok=True)
    return root


def batty(root: Path, *args: str, env: dict[str, str] | None = None,
          timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """``batty --repo ROOT ARGS`` as a process of its own: a child of this worker's fork server
    (tests/forkserver.py), else a new Python."""
    import os

    from tests import forkserver

    return forkserver.batty(["--repo", str(root), *args], cwd=Path.cwd(), env={**os.environ, **(env or {})},
                            timeout=timeout)


def stats_json(root: Path, *args: str, env: dict[str, str] | None = None) -> dict[str, Any]:
    res = batty(root, "stats", "--json", *args, env=env)
    assert res.returncode == 0, res.stderr
    doc = json.loads(res.stdout)
    assert doc["version"] == 1
    return {f["name"]: f["value"] for f in doc["figures"]} | {"_doc": doc}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """``batty telemetry serve`` as a real subprocess answering on 127.0.0.1."""

    def __init__(self, root: Path, *args: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = root / ".batty" / f"serve-{self.port}.log"
        self._out = open(self.log, "wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "batty", "--repo", str(root), "telemetry", "serve",
             "--port", str(self.port), *args], stdout=self._out, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while True:
            if self.proc.poll() is not None:
                raise AssertionError(f"serve exited {self.proc.returncode}: {self.log.read_text()}")
            try:
                self.get("/-/versions.json")
                return
            except OSError:
                if time.monotonic() > deadline:
                    self.stop()
                    raise AssertionError(f"no answer on {self.url}: {self.log.read_text()}") from None
                time.sleep(0.2)

    def get(self, path: str) -> tuple[int, bytes]:
        try:
            with urllib.request.urlopen(self.url + path, timeout=30) as resp:
                return resp.status, resp.read()
        except urllib.error.HTTPError as e:
            return e.code, e.read()

    def json(self, path: str) -> Any:
        status, body = self.get(path)
        assert status == 200, (path, status, body[:300])
        return json.loads(body)

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)
        self._out.close()
