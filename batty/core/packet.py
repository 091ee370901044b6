"""Task packets (SPEC 2): one schema check, then a frozen dataclass.

``validate`` works on the parsed mapping and reports the first problem by key path; the store
turns the path into a line of the file.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from batty.core.ids import ID_RE, ID_VALID, SEAT_RE
from batty.core.lifecycle import STATUS_VALID, Status
from batty.errors import InvalidInput

MAX_PACKET_BYTES = 1 << 20  # a packet is a brief, not a data file
KINDS = ("task", "epic")

# Keys people write, then keys batty writes (SPEC 2); anything else is an error.
HUMAN_KEYS = ("id", "title", "status", "priority", "depends_on", "kind", "parent", "complexity",
              "seat", "scope", "test", "description", "script", "setup")
BATTY_KEYS = ("assignee", "branch", "attempt", "created", "updated", "verification", "merge",
              "escalations", "feedback", "handoff", "respawns", "approved", "preempted", "attempts_from",
              "host", "setup_failures", "answer")
KEYS = HUMAN_KEYS + BATTY_KEYS


class PacketProblem(Exception):
    """A problem at a key path inside one packet (turned into file:line by the store)."""

    def __init__(self, path: tuple[str | int, ...], what: str, valid: str) -> None:
        super().__init__(what)
        self.path, self.what, self.valid = path, what, valid


@dataclass(frozen=True)
class Packet:
    id: str
    title: str
    status: Status = Status.TODO
    priority: int = 2
    depends_on: tuple[str, ...] = ()
    kind: str = "task"
    parent: str | None = None
    complexity: int | None = None
    seat: str | None = None
    scope: tuple[str, ...] = ()
    test: str | None = None
    description: str = ""
    script: tuple[str, ...] = ()
    assignee: str | None = None
    branch: str | None = None
    attempt: int = 0
    created: str | None = None
    updated: str | None = None
    verification: Mapping[str, Any] | None = None
    merge: Mapping[str, Any] | None = None
    escalations: tuple[Mapping[str, Any], ...] = ()
    feedback: str | None = None
    handoff: str | None = None
    respawns: int = 0
    approved: bool = False
    preempted: bool = False
    attempts_from: int = 0
    host: str | None = None   # the machine that claimed it (SPEC 10: each machine runs its own)
    setup: str | None = None  # this task's set-up command, instead of config setup.command (SPEC 13)
    setup_failures: int = 0   # set-ups failed in a row (batty.workflow.setup)
    answer: Mapping[str, Any] | None = None  # a person's answer to its agent's question (batty.workflow.question)
    extra: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def attempts_used(self) -> int:
        """Attempts since the budget last started (a person unblocking the task restarts it)."""
        return max(0, self.attempt - self.attempts_from)

    @property
    def corr(self) -> str:
        return f"{self.id}#{self.attempt}" if self.attempt else self.id

    def to_dict(self) -> dict[str, Any]:
        """The packet as JSON-ready data (for --json): every field of SPEC 2."""
        out: dict[str, Any] = {}
        for key in KEYS:
            value = getattr(self, key)
            if isinstance(value, tuple):
                value = [dict(v) if isinstance(v, Mapping) else v for v in value]
            elif isinstance(value, Mapping):
                value = dict(value)
            elif isinstance(value, Status):
                value = value.value
            out[key] = value
        return out


def _str(data: Mapping[str, Any], key: str, *, required: bool = False, one_line: bool = False,
         max_len: int = 100_000) -> str | None:
    value = data.get(key)
    if value is None:
        if required:
            raise PacketProblem((key,), f"missing required key {key!r}", f"{key}: <text>")
        return None
    if hasattr(value, "isoformat") and not required:  # an unquoted YAML timestamp
        value = value.isoformat()
    if not isinstance(value, str):
        if isinstance(value, int | float) and not isinstance(value, bool) and not required:
            value = str(value)
        else:
            raise PacketProblem((key,), f"{key} must be text, not {type(value).__name__}",
                                f"{key}: <text>")
    if one_line and ("\n" in value or "\r" in value):
        raise PacketProblem((key,), f"{key} must be one line", "no line breaks")
    if len(value) > max_len:
        raise PacketProblem((key,), f"{key} is too long ({len(value)} characters)",
                            f"at most {max_len}")
    return value


def _int(data: Mapping[str, Any], key: str, lo: int, hi: int | None, default: int | None) -> int | None:
    value = data.get(key, default)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int):
        rng = f"{lo}..{hi}" if hi is not None else f">= {lo}"
        raise PacketProblem((key,), f"{key} must be a whole number, not {value!r}", rng)
    if value < lo or (hi is not None and value > hi):
        rng = f"{lo}..{hi}" if hi is not None else f">= {lo}"
        raise PacketProblem((key,), f"{key} {value} is out of range", rng)
    return value


def _list(data: Mapping[str, Any], key: str, item_ok: Any = None, valid: str = "") -> tuple[str, ...]:
    value = data.get(key)
    if value is None:
        return ()
    if isinstance(value, str):
        value = [value]  # `scope: src/**` means a list of one
    if not isinstance(value, list):
        raise PacketProblem((key,), f"{key} must be a list", valid or f"{key}: [a, b]")
    for i, item in enumerate(value):
        if not isinstance(item, str) or (item_ok is not None and not item_ok(item)):
            raise PacketProblem((key, i), f"{key}[{i}] {item!r} is not valid", valid or "text")
    return tuple(value)


def _map(data: Mapping[str, Any], key: str) -> Mapping[str, Any] | None:
    value = data.get(key)
    if value is None:
        return None
    if not isinstance(value, dict):
        raise PacketProblem((key,), f"{key} must be a mapping", f"{key}: {{...}}")
    return value


def _glob_ok(glob: str) -> bool:
    return bool(glob) and not glob.startswith("/") and ".." not in glob.split("/") and "\n" not in glob


def validate(data: Any, *, file_id: str | None = None) -> Packet:
    """The packet in ``data`` (a parsed mapping), or PacketProblem naming the key."""
    if not isinstance(data, dict):
        raise PacketProblem((), "a packet must be a YAML mapping", "id: T-1\ntitle: ...")
    for key in data:
        if key not in KEYS:
            raise PacketProblem((str(key),), f"unknown key {key!r}",
                                "one of " + ", ".join(HUMAN_KEYS) + " (or batty's own fields)")
    pid = data.get("id")
    if not isinstance(pid, str) or not ID_RE.match(pid):
        raise PacketProblem(("id",), f"id {pid!r} is not valid", ID_VALID)
    if file_id is not None and pid != file_id:
        raise PacketProblem(("id",), f"id {pid} does not match the file name {file_id}.yaml",
                            f"id: {file_id}, or rename the file")
    title = _str(data, "title", required=True, one_line=True, max_len=500)
    assert title is not None
    if not title.strip():
        raise PacketProblem(("title",), "title is empty", "title: <one line>")
    raw_status = data.get("status", "todo")
    try:
        status = Status(raw_status)
    except ValueError:
        raise PacketProblem(("status",), f"unknown status {raw_status!r}", STATUS_VALID) from None
    kind = data.get("kind", "task")
    if kind not in KINDS:
        raise PacketProblem(("kind",), f"unknown kind {kind!r}", "task or epic")
    deps = _list(data, "depends_on", lambda s: bool(ID_RE.match(s)), "a list of task ids like [T-1]")
    if pid in deps:
        raise PacketProblem(("depends_on",), f"{pid} depends on itself", "other task ids")
    parent = data.get("parent")
    if parent is not None and (not isinstance(parent, str) or not ID_RE.match(parent)):
        raise PacketProblem(("parent",), f"parent {parent!r} is not a task id", ID_VALID)
    seat = data.get("seat")
    if seat is not None and (not isinstance(seat, str) or not SEAT_RE.match(seat)):
        raise PacketProblem(("seat",), f"seat {seat!r} is not valid", "a seat or agent name")
    escalations = data.get("escalations") or []
    if not isinstance(escalations, list) or not all(isinstance(e, dict) for e in escalations):
        raise PacketProblem(("escalations",), "escalations must be a list of mappings", "[...]")
    feedback = data.get("feedback")
    if isinstance(feedback, dict):  # structured feedback is kept as YAML text for the prompt
        import yaml

        feedback = yaml.safe_dump(feedback, sort_keys=False)
    for key in ("approved", "preempted"):
        if key in data and data[key] is not None and not isinstance(data[key], bool):
            raise PacketProblem((key,), f"{key} must be true or false", "true or false")
    return Packet(
        id=pid,
        title=title.strip(),
        status=status,
        priority=_int(data, "priority", 0, 4, 2) or 0,
        depends_on=deps,
        kind=kind,
        parent=parent,
        complexity=_int(data, "complexity", 1, 5, None),
        seat=seat,
        scope=_list(data, "scope", _glob_ok, "globs relative to the repository, like src/**"),
        test=_str(data, "test", one_line=True, max_len=10_000),
        description=_str(data, "description") or "",
        script=_list(data, "script", None, "a list of shell commands"),
        assignee=_str(data, "assignee", one_line=True),
        branch=_str(data, "branch", one_line=True),
        attempt=_int(data, "attempt", 0, None, 0) or 0,
        created=_str(data, "created", one_line=True),
        updated=_str(data, "updated", one_line=True),
        verification=_map(data, "verification"),
        merge=_map(data, "merge"),
        escalations=tuple(escalations),
        feedback=feedback if isinstance(feedback, str) else _str(data, "feedback"),
        handoff=_str(data, "handoff"),
        respawns=_int(data, "respawns", 0, None, 0) or 0,
        approved=bool(data.get("approved") or False),
        preempted=bool(data.get("preempted") or False),
        attempts_from=_int(data, "attempts_from", 0, None, 0) or 0,
        host=_str(data, "host", one_line=True, max_len=255),
        setup=_str(data, "setup", one_line=True, max_len=10_000),
        setup_failures=_int(data, "setup_failures", 0, None, 0) or 0,
        answer=_map(data, "answer"),
    )


def find_cycles(packets: Iterable[Packet]) -> list[list[str]]:
    """Every dependency cycle among ``packets`` (each as the list of ids around it)."""
    # only tasks with dependencies can be on a cycle: most have none
    deps = {p.id: p.depends_on for p in packets if p.depends_on}
    color: dict[str, int] = {}
    cycles: list[list[str]] = []
    for start in sorted(deps):  # deterministic: the same report every run
        if color.get(start):
            continue
        stack: list[tuple[str, int]] = [(start, 0)]
        trail: list[str] = []
        while stack:
            node, i = stack.pop()
            if i == 0:
                color[node] = 1
                trail.append(node)
            children = [d for d in deps.get(node, ()) if d in deps]
            if i < len(children):
                stack.append((node, i + 1))
                child = children[i]
                if color.get(child) == 1:
                    cycles.append(trail[trail.index(child):] + [child])
                elif not color.get(child):
                    stack.append((child, 0))
            else:
                color[node] = 2
                trail.pop()
    return cycles


def complexity(p: Packet) -> int:
    """SPEC 5: a score 1..5 from the packet unless given (scope size, brief length,
    acceptance items, dependencies)."""
    if p.complexity is not None:
        return p.complexity
    score = 1.0
    score += min(len(p.scope), 6) * 0.25
    score += min(len(p.description) / 800, 1.5)
    items = sum(1 for line in p.description.splitlines()
                if line.lstrip().startswith(("- ", "* ", "- [ ]")) or line.lstrip()[:2].rstrip(".").isdigit())
    score += min(items * 0.3, 1.5)
    score += min(len(p.depends_on) * 0.25, 1.0)
    if p.kind == "epic":
        score += 1
    return max(1, min(5, round(score)))


def as_problem(exc: PacketProblem | InvalidInput) -> str:
    return str(exc)
