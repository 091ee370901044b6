"""Packet schema (SPEC 2): every problem names the key and what would be valid."""

from __future__ import annotations

import pytest

from batty.core.packet import Packet, PacketProblem, complexity, find_cycles, validate


def test_minimal_packet_gets_defaults() -> None:
    p = validate({"id": "T-1", "title": "Do it"})
    assert (p.status.value, p.priority, p.kind, p.scope, p.attempt) == ("todo", 2, "task", (), 0)


@pytest.mark.parametrize("data,key,fragment", [
    ({"title": "x"}, ("id",), "id None"),
    ({"id": "T-1"}, ("title",), "missing required key 'title'"),
    ({"id": "T-1", "title": "x", "status": "doing"}, ("status",), "unknown status"),
    ({"id": "T-1", "title": "x", "colour": "red"}, ("colour",), "unknown key"),
    ({"id": "T-1", "title": "x", "priority": 9}, ("priority",), "out of range"),
    ({"id": "T-1", "title": "x", "priority": "high"}, ("priority",), "whole number"),
    ({"id": "T-1", "title": "x", "depends_on": ["../etc"]}, ("depends_on", 0), "not valid"),
    ({"id": "../../etc/passwd", "title": "x"}, ("id",), "not valid"),
    ({"id": "T-1/x", "title": "x"}, ("id",), "not valid"),
    ({"id": "T-1", "title": "two\nlines"}, ("title",), "one line"),
    ({"id": "T-1", "title": "x", "scope": ["/etc/**"]}, ("scope", 0), "not valid"),
    ({"id": "T-1", "title": "x", "scope": ["../up/**"]}, ("scope", 0), "not valid"),
    ({"id": "T-1", "title": "x", "depends_on": ["T-1"]}, ("depends_on",), "itself"),
    ({"id": "T-1", "title": "x", "kind": "story"}, ("kind",), "unknown kind"),
])
def test_problems_name_the_key(data: dict, key: tuple, fragment: str) -> None:
    with pytest.raises(PacketProblem) as e:
        validate(data)
    assert e.value.path == key
    assert fragment in e.value.what
    assert e.value.valid


def test_id_must_match_file_name() -> None:
    with pytest.raises(PacketProblem) as e:
        validate({"id": "T-2", "title": "x"}, file_id="T-3")
    assert "does not match the file name T-3.yaml" in e.value.what


def test_cycles_are_found() -> None:
    ps = [validate({"id": "T-1", "title": "a", "depends_on": ["T-3"]}),
          validate({"id": "T-2", "title": "b", "depends_on": ["T-1"]}),
          validate({"id": "T-3", "title": "c", "depends_on": ["T-2"]}),
          validate({"id": "T-4", "title": "d", "depends_on": ["T-1"]})]
    cycles = find_cycles(ps)
    assert len(cycles) == 1 and set(cycles[0]) == {"T-1", "T-2", "T-3"}


def test_complexity_grows_with_scope_brief_and_dependencies() -> None:
    small = validate({"id": "T-1", "title": "typo"})
    big = validate({"id": "T-2", "title": "auth", "scope": ["a/**", "b/**", "c/**", "d/**"],
                    "depends_on": ["T-1", "T-3"],
                    "description": "x" * 1500 + "\n- one\n- two\n- three\n- four\n"})
    assert complexity(small) == 1
    assert complexity(big) >= 4
    assert complexity(Packet(id="T-3", title="x", complexity=5)) == 5
