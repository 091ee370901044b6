"""board/config.yaml (SPEC 6): one schema check into frozen dataclasses.

Every problem is reported with its key path and what would be valid; the store adds the line.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from batty.core.budget import Budgets
from batty.core.budget import parse as parse_budgets
from batty.core.ids import SEAT_RE
from batty.core.packet import PacketProblem as ConfigProblem


@dataclass(frozen=True)
class Seat:
    name: str
    agent: str
    role: str = "engineer"  # engineer | planner


@dataclass(frozen=True)
class Gates:
    test: str = "pytest -q"
    test_timeout_s: int = 1800
    protected: tuple[str, ...] = ()
    trusted_tests: tuple[str, ...] = ("tests/**",)
    max_attempts: int = 3
    checks: tuple[Any, ...] = ()   # batty.core.checkspec.Check; empty: gates.test is the one check "test"
    reruns: int = 1                # a failed required check is rerun this many times (SPEC 14)
    report: str = "auto"           # the "test" check's report: auto | pytest | none | junit:PATH
    # a change to the test runner's own files (batty/workflow/runnerfiles.py): refused at verify, or held
    # for `batty approve`; never auto-merged (issue 15)
    on_gate_change: str = "refuse"
    needs_approval: tuple[str, ...] = ()   # more globs whose changes wait for `batty approve`
    allow_submodules: bool = False
    network: str = "none"  # the test runs' network: none | on (SPEC 11)


@dataclass(frozen=True)
class Sandbox:
    """SPEC 11: the boundary around agents and test runs (batty.runner.sandbox)."""

    mode: str = "bwrap"    # bwrap | none
    network: str = "on"    # the agents' network: on | none
    binds: tuple[str, ...] = ()  # PATH (read-only) or PATH:rw


@dataclass(frozen=True)
class Health:
    stall_after_s: int = 600
    max_runtime_s: int = 7200
    respawn_cooldown_s: int = 120
    max_respawns: int = 3


@dataclass(frozen=True)
class Merge:
    mode: str = "auto"
    strategy: str = "rebase"
    min_confidence: float = 0.7
    batch: int = 1


@dataclass(frozen=True)
class Planner:
    min_complexity: int = 4
    max_children: int = 8


# The event kinds a notify entry's `on` may name: the ones batty sends (escalations.py, budget.py).
NOTIFY_KINDS = ("escalation.raised", "escalation.resolved", "budget.warned", "budget.exceeded")


@dataclass(frozen=True)
class Notify:
    url_env: str
    on: tuple[str, ...] = ("escalation.raised",)


@dataclass(frozen=True)
class Disk:
    min_free_mb: int = 1024
    keep_runs_days: int = 14


@dataclass(frozen=True)
class Telemetry:
    timezone: str = "UTC"


@dataclass(frozen=True)
class Dispatch:
    preempt: bool = False
    overlap: str = "wait"  # wait | allow: may two tasks whose scopes overlap be at work together


@dataclass(frozen=True)
class Setup:
    """Run in each new checkout before its agent (SPEC 13; batty.workflow.setup)."""

    command: str = ""         # run by bash in the checkout; "" = none (a packet's `setup` wins)
    timeout_s: int = 900
    link: tuple[str, ...] = ()  # ignored paths of the control checkout linked, not copied


@dataclass(frozen=True)
class Escalations:
    window_s: int = 86400  # the same task and reason again inside this is folded into the open one


@dataclass(frozen=True)
class Config:
    base: str = "main"
    seats: tuple[Seat, ...] = ()
    agents: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    runner: str = "process"
    gates: Gates = Gates()
    health: Health = Health()
    merge: Merge = Merge()
    planner: Planner = Planner()
    notify: tuple[Notify, ...] = ()
    disk: Disk = Disk()
    telemetry: Telemetry = Telemetry()
    dispatch: Dispatch = Dispatch()
    escalations: Escalations = Escalations()
    budgets: Budgets = Budgets()
    setup: Setup = Setup()
    sandbox: Sandbox = Sandbox()

    def seat(self, name: str) -> Seat | None:
        return next((s for s in self.seats if s.name == name), None)

    def agent_entry(self, agent: str) -> Mapping[str, Any]:
        return self.agents.get(agent, {})

    @property
    def secret_names(self) -> frozenset[str]:
        """Environment variables batty treats as secrets: never passed to an agent."""
        return frozenset(n.url_env for n in self.notify)


SECTIONS = {"gates": Gates, "health": Health, "merge": Merge, "planner": Planner, "disk": Disk,
            "telemetry": Telemetry, "dispatch": Dispatch, "escalations": Escalations, "setup": Setup,
            "sandbox": Sandbox}
CHOICES = {("runner",): ("process", "tmux"), ("merge", "mode"): ("auto", "approve"),
           ("merge", "strategy"): ("rebase", "squash", "merge"),
           ("gates", "on_gate_change"): ("refuse", "approve"),
           ("seat", "role"): ("engineer", "planner"), ("dispatch", "overlap"): ("wait", "allow"),
           ("sandbox", "mode"): ("bwrap", "none"), ("sandbox", "network"): ("on", "none"),
           ("gates", "network"): ("none", "on")}
POSITIVE = {"gates": ("test_timeout_s",), "health": ("stall_after_s", "max_runtime_s")}  # timeouts
TOP = ("base", "seats", "agents", "runner", "notify", "budgets", *SECTIONS)


def _section(cls: type, data: Any, name: str, known_good: bool = False) -> Any:
    if data is None:
        return cls()
    if not isinstance(data, dict):
        raise ConfigProblem((name,), f"{name} must be a mapping", f"{name}: {{...}}")
    defaults = cls()
    fields = cls.__dataclass_fields__  # type: ignore[attr-defined]
    kwargs: dict[str, Any] = {}
    for key, value in data.items():
        if key not in fields:
            raise ConfigProblem((name, key), f"unknown key {name}.{key}",
                                "one of " + ", ".join(fields))
        want = getattr(defaults, key)
        path = (name, key)
        if path == ("gates", "checks"):  # a list of mappings (batty/core/checkspec.py)
            from batty.core import checkspec as checks

            kwargs[key] = checks.parse(value)
            continue
        if path == ("gates", "report"):
            from batty.core import checkspec as checks

            checks.check_report(value, path)
        if key == "network" and isinstance(value, bool):
            value = "on" if value else "none"  # YAML 1.1 reads a bare `on` as true, `off` as false
        if isinstance(want, bool):
            if not isinstance(value, bool):
                raise ConfigProblem(path, f"{name}.{key} must be true or false", "true or false")
        elif isinstance(want, int) and not isinstance(want, bool) and not isinstance(want, float):
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ConfigProblem(path, f"{name}.{key} must be a whole number >= 0, not {value!r}",
                                    "a whole number")
        elif isinstance(want, float):
            if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
                raise ConfigProblem(path, f"{name}.{key} must be a number from 0 to 1, not {value!r}",
                                    "0..1")
            value = float(value)
        elif isinstance(want, tuple):
            if isinstance(value, str):
                value = [value]
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise ConfigProblem(path, f"{name}.{key} must be a list of text", "[a, b]")
            value = tuple(value)
        elif isinstance(want, str):
            if not isinstance(value, str):
                raise ConfigProblem(path, f"{name}.{key} must be text, not {value!r}", "text")
        choices = CHOICES.get(path)
        if choices and value not in choices:
            raise ConfigProblem(path, f"{name}.{key} {value!r} is not valid", " or ".join(choices))
        kwargs[key] = value
    if name == "telemetry" and "timezone" in kwargs and not known_good:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(kwargs["timezone"])
        except (ZoneInfoNotFoundError, ValueError):
            raise ConfigProblem((name, "timezone"), f"unknown time zone {kwargs['timezone']!r}",
                                "an IANA zone like Europe/Paris or UTC") from None
    if name == "setup":
        for i, link in enumerate(kwargs.get("link", ())):
            if not link or link.startswith("/") or ".." in link.split("/") or any(c in link for c in "*?[\n"):
                raise ConfigProblem((name, "link", i), f"setup.link {link!r} is not a path in the repository",
                                    "a relative path without globs, like node_modules")
        if kwargs.get("timeout_s", 1) < 1:
            raise ConfigProblem((name, "timeout_s"), "setup.timeout_s must be at least 1", ">= 1")
    if name == "sandbox":
        for i, item in enumerate(kwargs.get("binds", ())):
            if not item.removesuffix(":rw").removesuffix(":ro").startswith(("/", "~")):
                raise ConfigProblem((name, "binds", i), f"sandbox.binds: {item!r} is not an absolute path",
                                    "/path (read-only) or /path:rw (writable)")
    if name == "gates" and kwargs.get("max_attempts", 1) < 1:
        raise ConfigProblem((name, "max_attempts"), "gates.max_attempts must be at least 1", ">= 1")
    # fail closed (issue 15): `bash -c ""` exits 0, and a zero timeout kills every run at once
    if name == "gates" and "test" in kwargs and not kwargs["test"].strip():
        raise ConfigProblem((name, "test"), "gates.test is blank: every change would pass", "a test command")
    for key in POSITIVE.get(name, ()):
        if key in kwargs and kwargs[key] < 1:
            raise ConfigProblem((name, key), f"{name}.{key} must be at least 1, not {kwargs[key]}", ">= 1")
    return cls(**kwargs)


#: Checks one ``agents.<name>`` entry: (key path, what is wrong, what would be valid) per problem.
#: The agents layer supplies it (``batty.agents.validate_agent``): the core knows no agent.
AgentCheck = Callable[[str, Mapping[str, Any]], list[tuple[str, str, str]]]


def validate(data: Any, *, builtin: frozenset[str] = frozenset(), check_agent: AgentCheck | None = None,
             known_good: bool = False) -> Config:
    """The configuration in ``data`` (parsed YAML), or ConfigProblem naming the key.
    ``builtin``: the agents a seat may name without an ``agents:`` entry; ``check_agent``: checks
    each ``agents.<name>`` entry (none: not checked).
    ``known_good``: ``data`` passed every check before (batty.store.config_file's cache); the time zone and
    the agents' entries are not checked again."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigProblem((), "config must be a YAML mapping", "base: main\nseats: [...]")
    for key in data:
        if key not in TOP:
            raise ConfigProblem((str(key),), f"unknown key {key!r}", "one of " + ", ".join(TOP))
    base = data.get("base", "main")
    if not isinstance(base, str) or not base or base.startswith("-") or " " in base:
        raise ConfigProblem(("base",), f"base {base!r} is not a branch name", "base: main")
    runner = data.get("runner", "process")
    if runner not in CHOICES[("runner",)]:
        raise ConfigProblem(("runner",), f"runner {runner!r} is not valid", "process or tmux")

    agents_raw = data.get("agents") or {}
    if not isinstance(agents_raw, dict):
        raise ConfigProblem(("agents",), "agents must be a mapping of name -> settings", "agents: {claude: {}}")
    for name, entry in agents_raw.items():
        if entry is None:
            agents_raw[name] = entry = {}
        if not isinstance(entry, dict):
            raise ConfigProblem(("agents", name), f"agents.{name} must be a mapping", "{model: ..., args: [...]}")
        if check_agent is not None and not known_good:
            problems = check_agent(str(name), entry)
            if problems:
                key, what, valid = problems[0]
                path = tuple(key.split(".")) if key else ("agents", name)
                raise ConfigProblem(path, what, valid)

    seats_raw = data.get("seats") or []
    if not isinstance(seats_raw, list):
        raise ConfigProblem(("seats",), "seats must be a list", "seats: [{name: eng-1, agent: claude}]")
    seats: list[Seat] = []
    for i, s in enumerate(seats_raw):
        if not isinstance(s, dict):
            raise ConfigProblem(("seats", i), "a seat must be a mapping", "{name: eng-1, agent: claude}")
        for key in s:
            if key not in ("name", "agent", "role"):
                raise ConfigProblem(("seats", i, key), f"unknown seat key {key!r}", "name, agent, role")
        name, agent, role = s.get("name"), s.get("agent"), s.get("role", "engineer")
        if not isinstance(name, str) or not SEAT_RE.match(name):
            raise ConfigProblem(("seats", i, "name"), f"seat name {name!r} is not valid",
                                "letters, digits, - _ .")
        if any(x.name == name for x in seats):
            raise ConfigProblem(("seats", i, "name"), f"seat {name} is listed twice", "unique names")
        if not isinstance(agent, str) or (agent not in builtin and agent not in agents_raw):
            raise ConfigProblem(("seats", i, "agent"), f"seat {name}: unknown agent {agent!r}",
                                "a built-in (" + ", ".join(sorted(builtin)) + ") or one under agents:")
        if role not in CHOICES[("seat", "role")]:
            raise ConfigProblem(("seats", i, "role"), f"seat {name}: role {role!r} is not valid",
                                "engineer or planner")
        seats.append(Seat(name, agent, role))

    notify_raw = data.get("notify") or []
    if not isinstance(notify_raw, list):
        raise ConfigProblem(("notify",), "notify must be a list", "[{url_env: BATTY_NOTIFY_URL}]")
    notify: list[Notify] = []
    for i, n in enumerate(notify_raw):
        if not isinstance(n, dict):
            raise ConfigProblem(("notify", i), "a notify entry must be a mapping", "{url_env: NAME, on: [...]}")
        if True in n:  # YAML 1.1 reads a bare `on` as true (SPEC 6's own example writes it bare)
            n["on"] = n.pop(True)
        for key in n:
            if key not in ("url_env", "on"):
                hint = "secrets are read from the environment: use url_env: NAME" if key == "url" else "url_env, on"
                raise ConfigProblem(("notify", i, key), f"unknown notify key {key!r}", hint)
        env = n.get("url_env")
        if not isinstance(env, str) or not env.replace("_", "").isalnum():
            raise ConfigProblem(("notify", i, "url_env"), "url_env must name an environment variable",
                                "url_env: BATTY_NOTIFY_URL")
        on = n.get("on", ["escalation.raised"])
        if isinstance(on, str):
            on = [on]
        if not isinstance(on, list) or not all(isinstance(x, str) for x in on):
            raise ConfigProblem(("notify", i, "on"), "on must be a list of event kinds", "[escalation.raised]")
        for j, kind in enumerate(on):
            # any other kind would be a notification that never fires: a silent config (audit gap 4)
            if kind not in NOTIFY_KINDS:
                raise ConfigProblem(("notify", i, "on", j), f"notify: {kind!r} is not an event batty "
                                    "notifies about", " or ".join(NOTIFY_KINDS))
        notify.append(Notify(env, tuple(on)))

    sections = {name: _section(cls, data.get(name), name, known_good) for name, cls in SECTIONS.items()}
    return Config(base=base, seats=tuple(seats), agents=dict(agents_raw), runner=runner,
                  notify=tuple(notify), budgets=parse_budgets(data.get("budgets")), **sections)
