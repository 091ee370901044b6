"""batty writes a packet's keys in place (core.yamlpatch) and falls back to the round-trip writer
when it cannot: whatever the text, the result parses to exactly the data intended, and what a
person wrote around the keys batty did not change is still there, byte for byte."""

from __future__ import annotations

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from batty.core import yamlpatch
from batty.core.yamlx import Loader
from batty.store.packets import render_new, update_text

PERSON = """# Written by hand; batty keeps this.
id: T-7
title: "Fix: the login page"   # quoted on purpose
status: todo
priority: 1

# what the task may touch
scope:
- src/login/**
- 'tests/test_login.py'
description: |
  Two lines
  of text.
# the end
"""

text_values = st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc")), max_size=30)
values = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 10**6) | text_values
    | st.sampled_from(["multi\nline\n", "a: b", "- x", "#no", "'q'", "2026-12-01T10:00:00+00:00", "yes", "~", ""]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(["sha", "result", "at", "n"]), inner, max_size=3),
    max_leaves=6)
keys = st.sampled_from(["status", "assignee", "attempt", "verification", "merge", "feedback", "title", "scope", "new_key"])


def parsed(text: str) -> dict:
    return yaml.load(text, Loader=Loader)


def test_the_changed_key_is_rewritten_and_every_other_line_is_left_as_it_was() -> None:
    out = update_text(PERSON, {"status": "in-progress", "assignee": "eng-1",
                               "verification": {"sha": "abc", "result": "pass"}})
    assert yamlpatch.patch(PERSON, {"status": "in-progress", "assignee": "eng-1",
                                    "verification": {"sha": "abc", "result": "pass"}}) == out  # no ruamel
    data = parsed(out)
    assert data["status"] == "in-progress" and data["assignee"] == "eng-1"
    assert data["verification"] == {"sha": "abc", "result": "pass"}
    kept = [line for line in PERSON.splitlines() if not line.startswith("status:")]
    for line in kept:
        assert line in out.splitlines(), line
    assert out.index("# the end") < out.index("assignee:")  # new keys go at the end


def test_a_removed_key_takes_its_lines_and_leaves_the_comment_above_the_next_key() -> None:
    out = update_text(PERSON, {"priority": None})
    assert "priority" not in parsed(out)
    assert "# what the task may touch" in out and "scope:" in out


def test_texts_it_cannot_patch_for_certain_are_written_by_the_round_trip_writer() -> None:
    for text in ("{id: T-1, status: todo}\n", "'id': T-1\nstatus: todo\n", "id: T-1\nstatus: &s todo\nx: *s\n",
                 "---\nid: T-1\nstatus: todo\n"):
        out = update_text(text, {"status": "done"})
        assert parsed(out)["status"] == "done" and parsed(out)["id"] == "T-1"
    assert yamlpatch.patch("{id: T-1}\n", {"status": "done"}) is None


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(keys, values, min_size=1, max_size=4), st.dictionaries(keys, values, max_size=4))
def test_any_change_to_any_packet_text_parses_to_exactly_what_was_meant(start: dict, changes: dict) -> None:
    fields = {"id": "T-1", **{k: v for k, v in start.items() if v is not None and v != []}}
    text = render_new(fields)
    assert parsed(text) == {k: yamlpatch.plain(v) for k, v in fields.items()}
    commented = "# top\n" + text.replace("\nid:", "\n# about id\nid:") + "# bottom\n"
    out = update_text(commented, changes)
    expected = dict(parsed(commented))
    for k, v in changes.items():
        if v is None:
            expected.pop(k, None)
        else:
            expected[k] = yamlpatch.plain(v)
    assert parsed(out) == expected
    assert out.startswith("# top\n")
    if "id" not in changes:
        assert "id: T-1" in out


list_free = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 10**6) | st.floats(allow_nan=False) | text_values
    | st.text(alphabet=st.characters(max_codepoint=127), max_size=40)
    | st.sampled_from(["multi\nline\n", "a: b", "- x", "#no", "'q'", "2026-12-01T10:00:00+00:00", "yes",
                       "~", "", " lead", "trail ", "é ünï 漢字", "x" * 300, "1e3", "0x1f", "null", "\ttab"]),
    lambda inner: st.dictionaries(st.sampled_from(["sha", "result", "at", "n", "parts"]), inner, max_size=4),
    max_leaves=8)


@settings(max_examples=400, deadline=None)
@given(st.dictionaries(keys, list_free, min_size=1, max_size=4))
def test_libyaml_s_emitter_writes_what_the_python_one_writes(changes: dict) -> None:
    """yamlpatch writes values without a sequence with libyaml's emitter (a quarter of the time):
    a packet reads the same whichever wrote it."""
    data = {k: yamlpatch.plain(v) for k, v in changes.items()}
    python = yaml.dump(data, Dumper=yamlpatch._Dumper, sort_keys=False, allow_unicode=True,
                       default_flow_style=False, width=4096)
    assert yamlpatch.dump(data) == python
    assert yaml.load(python, Loader=Loader) == data


@pytest.mark.parametrize("text", [
    # a test's output with a terminal escape is double-quoted; past the line width libyaml
    # folds it where the Python emitter does not
    ("\x1b[31mFAILED\x1b[0m tests/test_x.py::test_y - assert 1 == 2 " * 80).strip(),
    # a blank line at the end is kept by `|+`, after which libyaml ends the document with `...`
    "the last lines of the output\n\n", "\n"])
def test_text_libyaml_writes_otherwise_is_written_as_the_python_emitter_writes_it(text: str) -> None:
    data = {"feedback": text, "attempt": 2}
    python = yaml.dump(data, Dumper=yamlpatch._Dumper, sort_keys=False, allow_unicode=True,
                       default_flow_style=False, width=4096)
    assert yamlpatch.dump(data) == python
    assert yamlpatch.patch("id: T-1\ntitle: t\n", data) is not None  # in place, no fallback
