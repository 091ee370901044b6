"""Will the first unattended night work? (issue 16.3) Each check says ok, or what to fix where.

Measured: a Claude Code seat that worked from the shell failed every minute under cron ("Not
logged in"); with no cron daemon running nothing warned; the default trusted_tests matched no
file. Each is a check here, run as cron will run batty: the seats' CLIs are started with cron's
bare environment plus the env file bin/batty-cron reads (batty.cron_env), not the shell's.

Results are data (:class:`Check`); the command prints them (no click below batty/commands/).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from batty.workflow.state import State

OK, WARN, FAIL, SKIP = "ok", "warn", "FAIL", "skip"
START_TIMEOUT_S = 30


@dataclass(frozen=True)
class Check:
    name: str
    state: str        # ok | warn | FAIL | skip
    what: str
    fix: str = ""

    def line(self) -> str:
        return f"{self.state:<4}  {self.name}: {self.what}" + (f" -> {self.fix}" if self.fix else "")


def cron_environ(environ: dict[str, str] | None = None) -> dict[str, str]:
    """The environment bin/batty-cron gives the tick: cron's bare one, the PATH and HOME the
    crontab line carries, and the env file's variables."""
    from batty.services import cron_env

    environ = dict(os.environ if environ is None else environ)
    env = {"PATH": environ.get("PATH", "/usr/bin:/bin"), "HOME": environ.get("HOME", "/"),
           "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8"}
    env.update(cron_env.read(cron_env.path(environ)))
    return env


def check_test(st: State, on: Callable[[str], None] | None = None) -> Check:
    from batty.store import git
    from batty.workflow import gate

    cfg = st.config
    sha = git.rev(st.paths.root, f"refs/heads/{cfg.base}")
    if sha is None:
        return Check("test", FAIL, f"the base branch {cfg.base} does not exist",
                     "set `base:` in board/config.yaml to a branch of this repository")
    if on:
        on(f"test: running `{cfg.gates.test}` on {cfg.base} ({sha[:8]}) ...")
    with gate.scratch(st.paths, "preflight", sha) as tree:
        import tempfile

        from batty.runner import sandbox
        from batty.workflow.checks import report

        # as the gate runs it: in its sandbox, with batty's report plugin where pytest runs
        with tempfile.TemporaryDirectory(prefix="batty-preflight-report-") as work:
            setup = report.Setup(Path(work), cfg.gates.report, cfg.gates.test)
            run = gate.run_tests(tree, cfg.gates.test, timeout_s=cfg.gates.test_timeout_s,
                                 log_path=st.paths.state / "preflight" / "test.log", env=setup.env,
                                 pol=sandbox.policy(cfg), shared=[setup.dir])
    if run.passed:
        return Check("test", OK, f"`{cfg.gates.test}` passes on {cfg.base} ({run.duration_s:.1f} s)")
    tail = " | ".join(run.output_tail.strip().splitlines()[-3:])
    why = {"no-tests": "ran no test", "timeout": f"ran over gates.test_timeout_s ({cfg.gates.test_timeout_s} s)",
           "error": "could not start"}.get(run.reason or "", f"exited {run.exit_code}")
    return Check("test", FAIL, f"`{cfg.gates.test}` {why} on {cfg.base}: {tail}",
                 "every attempt would fail the gate: fix the tests on the base, or gates.test "
                 "(full output: .batty/preflight/test.log)")


def check_agents(st: State, environ: dict[str, str] | None = None) -> list[Check]:
    from batty.agents.logins import login_of
    from batty.agents.schema import binary_of, missing_binary

    env = cron_environ(environ)
    out: list[Check] = []
    seen: set[str] = set()
    for seat in st.config.seats:
        if seat.agent in seen:
            continue
        seen.add(seat.agent)
        entry = st.config.agent_entry(seat.agent)
        name = f"agent {seat.agent}"
        missing = missing_binary(seat.agent, entry)
        if missing:
            out.append(Check(name, FAIL, missing[0].split(": ", 1)[-1], missing[1]))
            continue
        binary = binary_of(seat.agent, entry)
        found = shutil.which(binary, path=env["PATH"]) or (binary if os.path.isfile(binary) else None)
        if not found:
            out.append(Check(name, FAIL, f"{binary} is on your shell's PATH but not on cron's",
                             "run `batty cron install` from this shell (it keeps the PATH)"))
            continue
        if seat.agent != "shell":
            try:
                proc = subprocess.run([found, "--version"], env=env, capture_output=True, text=True,
                                      timeout=START_TIMEOUT_S, stdin=subprocess.DEVNULL)
                started = proc.returncode == 0
                said = (proc.stdout or proc.stderr).strip().splitlines()[:1]
            except (OSError, subprocess.TimeoutExpired) as e:
                started, said = False, [str(e)]
            if not started:
                out.append(Check(name, FAIL, f"{found} --version does not start under cron's "
                                 f"environment: {' '.join(said) or 'no output'}",
                                 "check the CLI's install (and BATTY_PATH in `batty cron show`)"))
                continue
        logged, why = login_of(seat.agent, env, env.get("HOME"))
        if not logged:
            out.append(Check(name, FAIL, f"not logged in under cron's environment ({why})",
                             "log in with the CLI once (its own store under HOME), or run `batty cron "
                             "install` from a shell where its key is set (docs/tick.md#credentials-under-cron)"))
        else:
            out.append(Check(name, OK, f"starts and is logged in under cron's environment ({why})"))
    return out


def check_cron(st: State) -> list[Check]:
    from batty.errors import BattyError
    from batty.services import cron

    out: list[Check] = []
    try:
        line = cron.installed(st.paths)
    except BattyError as e:
        return [Check("cron", FAIL, str(e), e.valid or "")]
    if line is None:
        out.append(Check("cron", FAIL, "no crontab line for this repository", "batty cron install"))
    else:
        out.append(Check("cron", OK, "the crontab line is there"))
    import psutil

    names = set()
    for proc in psutil.process_iter(["name"]):
        names.add(proc.info.get("name") or "")
    if names & {"cron", "crond", "cronie", "busybox-crond"}:
        out.append(Check("cron daemon", OK, "running"))
    else:
        out.append(Check("cron daemon", FAIL, "no cron daemon is running: nothing will tick",
                         "start it (Debian: `service cron start`; systemd: `systemctl start cron`)"))
    return out


def check_sandbox(st: State) -> Check:
    """The boundary around agents and test runs (SPEC 11): bubblewrap makes its namespaces here,
    or the config turned it off (a standing warning)."""
    from batty.runner import sandbox

    pol = sandbox.policy(st.config)
    if not pol.on:
        return Check("sandbox", WARN, "sandbox.mode is none: agents and test runs run as you",
                     "set sandbox.mode: bwrap (docs/gates.md, \"Without the sandbox\")")
    why = sandbox.problem()
    if why is not None:
        return Check("sandbox", FAIL, why)
    return Check("sandbox", OK, "bubblewrap makes its namespaces here")


def check_disk(st: State) -> Check:
    free_mb = shutil.disk_usage(st.paths.root).free // (1 << 20)
    want = st.config.disk.min_free_mb
    if free_mb < want:
        return Check("disk", FAIL, f"{free_mb} MB free, under disk.min_free_mb {want}: dispatch would pause",
                     "free some space, or lower disk.min_free_mb")
    return Check("disk", OK, f"{free_mb} MB free (dispatch pauses under {want})")


def check_notify(st: State) -> list[Check]:
    if not st.config.notify:
        return [Check("notify", WARN, "no notification URL: a person learns of escalations only "
                      "from board/INBOX.md", "add notify: [{url_env: BATTY_NOTIFY_URL}] (docs/escalations.md)")]
    from batty.services.notify import send_test

    env = cron_environ()
    out = []
    missing = [n.url_env for n in st.config.notify if not env.get(n.url_env)]
    for name in missing:
        out.append(Check("notify", FAIL, f"{name} is not set under cron's environment",
                         "run `batty cron install` from a shell where it is set"))
    for o in send_test(st):
        if o.sent:
            out.append(Check("notify", OK, f"a test message reached {o.url_env}"))
        else:
            out.append(Check("notify", FAIL, f"{o.url_env}: {o.error}", "check the URL (apprise)"))
    return out


def run(st: State, *, test: bool = True, on: Callable[[str], None] | None = None) -> list[Check]:
    from batty.workflow.attention import config_notices

    checks: list[Check] = []
    if test:
        checks.append(check_test(st, on))
    else:
        checks.append(Check("test", SKIP, "not run (--no-test)"))
    for n in config_notices(st.paths, st.config):
        if n.kind == "trusted-tests":
            checks.append(Check("trusted_tests", FAIL, n.what, n.do))
    if not any(c.name == "trusted_tests" for c in checks):
        checks.append(Check("trusted_tests", OK, "gates.trusted_tests covers the tests the runner collects"))
    checks += check_agents(st)
    checks += check_cron(st)
    checks.append(check_sandbox(st))
    checks.append(check_disk(st))
    checks += check_notify(st)
    return checks
