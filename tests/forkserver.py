"""A warm batty for the tests' batty processes (issue 13).

Most of the suite's time was batty processes, and most of each one's CPU was Python importing
batty before the command ran: some 90 ms of a tick's 160, for more than 2,000 processes a run.
A fork server imports batty once per pytest worker; each command the tests run through it is
then a child forked from that server: a real process of its own (its pid, its cwd, its
environment, its stdin, stdout and stderr, its exit code or the signal that killed it, SIGKILL at
a failpoint included), that only skipped the imports.

What the fork server does not take: ``python -m batty`` starting up, which the tests that start
batty with Popen, the packaging tests and the real project's end-to-end run still cover, and a
command started while another one of the worker's runs (then run_batty starts a process as
before). BATTY_TEST_FORKSERVER=0 turns it off.
"""

from __future__ import annotations

import io
import json
import locale
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from typing import IO

# The server: imports every module of batty (the commands' among them), then forks a child per request.
SERVER = r'''
import gc, importlib, json, os, signal, socket, sys, time
sock = socket.socket(fileno=int(sys.argv[1]))
import pkgutil, batty
from batty import cli
SKIP = {"batty.__main__", "batty.workflow.checks.pytest_report"}  # a script; the gate's pytest plugin
for info in pkgutil.walk_packages(batty.__path__, "batty."):
    if info.name not in SKIP:
        try:
            importlib.import_module(info.name)
        except ImportError:
            pass
for module in ("yaml", "json", "subprocess", "selectors", "shlex", "tempfile", "traceback"):
    importlib.import_module(module)
MAIN = os.path.join(os.path.dirname(cli.__file__), "__main__.py")
assert "pytest" not in sys.modules  # tick raises its steps' bugs under pytest
gc.collect()
gc.freeze()  # the children share the imported objects' pages instead of copying them
signal.signal(signal.SIGCHLD, signal.SIG_DFL)


def child(req, mine, others):
    sock.close()
    for fd in others:
        os.close(fd)
    for n, fd in enumerate(mine):
        os.dup2(fd, n)
        os.close(fd)
    os.chdir(req["cwd"])
    os.environ.clear()
    os.environ.update(req["env"])
    time.tzset()
    sys.argv = [MAIN, *req["argv"]]
    sys.path[0] = req["cwd"]  # as `python -m batty` started there has it
    code = 0
    try:
        cli.main(req["argv"])
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
        if not isinstance(e.code, (int, type(None))):
            print(e.code, file=sys.stderr)
    except BaseException:
        import traceback
        traceback.print_exc()
        code = 1
    import atexit
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:
            pass
    os._exit(code)


# A request is {"batch": [...]}: commands started together (three descriptors each, in order),
# answered with their pids, then with their exit codes once all are done.
while True:
    try:
        msg, fds, _, _ = socket.recv_fds(sock, 1 << 22, 3 * 64)
        if msg:  # a stream: a long request comes in more than one read (its length first)
            size = int.from_bytes(msg[:8], "big")
            while len(msg) < 8 + size:
                more = sock.recv(1 << 22)
                if not more:
                    raise OSError("the request was cut short")
                msg += more
    except OSError:
        break
    if not msg:
        break
    msg = json.loads(msg[8:])
    reqs = msg["batch"]
    pids = []
    for i, req in enumerate(reqs):
        mine = fds[3 * i: 3 * i + 3]
        pid = os.fork()
        if pid == 0:
            child(req, mine, [fd for fd in fds if fd not in mine])
        pids.append(pid)
    for fd in fds:
        os.close(fd)
    sock.sendall(json.dumps({"pids": pids}).encode() + b"\n")
    codes = []
    for pid in pids:
        _, status = os.waitpid(pid, 0)
        codes.append(-os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status))
    sock.sendall(json.dumps({"codes": codes}).encode() + b"\n")
'''


class ForkServer:
    """One per pytest worker; ``run`` is subprocess.run for ``python -m batty`` arguments."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.proc: subprocess.Popen[bytes] | None = None
        self.sock: socket.socket | None = None
        self.buf = b""
        self.home: str | None = None

    def _start(self) -> None:
        # an empty folder of its own: `-c` puts the cwd first on sys.path while batty is imported
        if self.home is None:
            self.home = tempfile.mkdtemp(prefix="batty-forkserver-")
        here, there = socket.socketpair()
        self.proc = subprocess.Popen([sys.executable, "-c", SERVER, str(there.fileno())],
                                     pass_fds=[there.fileno()], stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, env={**os.environ},
                                     cwd=self.home)
        there.close()
        self.sock = here
        self.buf = b""

    def close(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(timeout=10)
            self.proc = None
        if self.home is not None:
            shutil.rmtree(self.home, ignore_errors=True)
            self.home = None
        if self.sock is not None:
            self.sock.close()
            self.sock = None

    def _send(self, req: bytes, fds: list[int]) -> None:
        """One request, its length first, the descriptors with its first bytes (a stream socket
        may take a long one in more than one write)."""
        assert self.sock is not None
        data = len(req).to_bytes(8, "big") + req
        self.sock.settimeout(None)
        sent = socket.send_fds(self.sock, [data], fds)
        self.sock.sendall(data[sent:])

    def _line(self, timeout: float | None) -> dict:
        assert self.sock is not None
        self.sock.settimeout(timeout)
        while b"\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("the fork server is gone")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return json.loads(line)

    def run_many(self, argvs: list[list[str]], *, cwd: Path, env: dict[str, str], input: str | None = None,
                 timeout: float) -> list[subprocess.CompletedProcess[str]] | None:
        """The commands started together (each with ``input`` on stdin), their results once all
        are done; None when the server is busy (another thread's commands)."""
        if not self.lock.acquire(blocking=False):
            return None
        try:
            if self.proc is None or self.proc.poll() is not None:
                self._start()
            return self._run_many(argvs, cwd, env, input, timeout)
        finally:
            self.lock.release()

    def _run_many(self, argvs: list[list[str]], cwd: Path, env: dict[str, str], input: str | None,
                  timeout: float) -> list[subprocess.CompletedProcess[str]]:
        assert self.sock is not None
        files = [(tempfile.TemporaryFile(), tempfile.TemporaryFile()) for _ in argvs]
        with tempfile.TemporaryFile() as stdin:
            if input is not None:
                stdin.write(input.encode())
                stdin.seek(0)
                fd_in = stdin.fileno()
            else:
                fd_in = os.open(os.devnull, os.O_RDONLY)
            try:
                fds = [fd for out, err in files for fd in (fd_in, out.fileno(), err.fileno())]
                req = json.dumps({"batch": [{"argv": a, "cwd": str(cwd), "env": env} for a in argvs]}).encode()
                self._send(req, fds)
            finally:
                if input is None:
                    os.close(fd_in)
            try:
                pids = self._line(30)["pids"]
                try:
                    codes = self._line(timeout)["codes"]
                except TimeoutError:
                    for pid in pids:
                        try:
                            os.kill(pid, signal.SIGKILL)
                        except ProcessLookupError:
                            pass
                    self._line(30)
                    raise subprocess.TimeoutExpired(argvs[0], timeout) from None
                return [subprocess.CompletedProcess(a, c, _text(out), _text(err))
                        for a, c, (out, err) in zip(argvs, codes, files, strict=True)]
            finally:
                for out, err in files:
                    out.close()
                    err.close()


def _text(f: IO[bytes]) -> str:
    """What subprocess.run(text=True) reads: the locale's encoding, universal newlines."""
    f.seek(0)
    return io.TextIOWrapper(io.BytesIO(f.read()), encoding=locale.getpreferredencoding(False)).read()


_server: ForkServer | None = None


def enabled() -> bool:
    return os.environ.get("BATTY_TEST_FORKSERVER", "1") != "0"


def _the_server() -> ForkServer:
    global _server
    if _server is None:
        import atexit

        _server = ForkServer()
        atexit.register(close)
    return _server


def run(argv: list[str], *, cwd: Path, env: dict[str, str], input: str | None,
        timeout: float) -> subprocess.CompletedProcess[str] | None:
    """One command through the fork server; None when it is busy."""
    warm = _the_server().run_many([argv], cwd=cwd, env=env, input=input, timeout=timeout)
    return None if warm is None else warm[0]


def batty(argv: list[str], *, cwd: Path, env: dict[str, str], input: str | None = None,
          timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """``python -m batty ARGV``, as subprocess.run(capture_output=True, text=True) answers it: a
    child of this worker's fork server, or a new Python when the server is off or busy."""
    return batty_many([argv], cwd=cwd, env=env, input=input, timeout=timeout)[0]


def batty_many(argvs: list[list[str]], *, cwd: Path, env: dict[str, str], input: str | None = None,
               timeout: float = 300) -> list[subprocess.CompletedProcess[str]]:
    """``python -m batty ARGV`` for each of ``argvs``, all started together (children forked at
    once by this worker's fork server, or new Pythons when it is off or busy), once all are done."""
    if enabled():
        warm = _the_server().run_many(argvs, cwd=cwd, env=env, input=input, timeout=timeout)
        if warm is not None:
            return warm
    procs = [subprocess.Popen([sys.executable, "-m", "batty", *argv], cwd=cwd, env=env, text=True,
                              stdin=subprocess.PIPE if input is not None else subprocess.DEVNULL,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE)
             for argv in argvs]
    out = []
    for argv, proc in zip(argvs, procs, strict=True):
        stdout, stderr = proc.communicate(input=input, timeout=timeout)
        out.append(subprocess.CompletedProcess([sys.executable, "-m", "batty", *argv], proc.returncode,
                                               stdout, stderr))
    return out


def close() -> None:
    if _server is not None:
        _server.close()
