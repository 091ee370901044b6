"""Write a packet's top-level keys into its text, leaving every other line as the person wrote it.

batty's writes change top-level keys (status, assignee, attempt, verification, merge...). This
replaces the lines of each changed key with the key newly rendered, removes a key's lines, or
appends a new key at the end; comments, blank lines, key order and the formatting of every
key it did not change stay byte for byte. It needs only PyYAML, so a command that writes a
packet does not import ruamel.yaml (tens of milliseconds on every dispatch, verify and merge).

It refuses (returns None) what it cannot do with certainty, and the caller falls back to the
round-trip writer: a text whose top level is not a plain block mapping, and any result that
does not parse back to exactly the data intended.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import yaml

from batty.core.yamlx import Loader

_KEY = re.compile(r"([A-Za-z_][A-Za-z0-9_-]*)[ \t]*:(?:[ \t]|$)")


class _Dumper(yaml.SafeDumper):
    """Block style; sequences indented under their key (as the round-trip writer lays them
    out); text of several lines as a literal block."""

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> Any:
        return super().increase_indent(flow, False)


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    if "\n" in value:
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="|")
    return dumper.represent_scalar("tag:yaml.org,2002:str", value)


_Dumper.add_representer(str, _str)

# libyaml's emitter, for values without a sequence and with ASCII text only: it writes what
# _Dumper writes (the representers are the same Python ones) in a quarter of the time, but
# cannot indent a sequence under its key. tests/core/test_yamlpatch.py checks the two agree.
_CDumper: Any = None
if hasattr(yaml, "CSafeDumper"):
    class _CDumper(yaml.CSafeDumper):  # type: ignore[no-redef]
        pass

    _CDumper.add_representer(str, _str)


def plain(value: Any) -> Any:
    """Tuples, frozen mappings and str enums as plain data; text of several lines ends in a newline."""
    if isinstance(value, tuple | list):
        return [plain(v) for v in value]
    if isinstance(value, Mapping):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, str) and "\n" in value and not value.endswith("\n"):
        return value + "\n"
    if hasattr(value, "value") and isinstance(value.value, str):  # a str enum
        return str(value.value)
    return value


def _c_writes_it(value: Any) -> bool:
    """No sequence in it, and only ASCII text (libyaml escapes characters beyond the BMP that
    the Python emitter writes as they are) short enough never to reach the line width, escaped
    (libyaml folds a longer quoted text elsewhere), and not ending in a blank line (kept by a
    ``|+`` block, after which libyaml ends the document with ``...``)."""
    if isinstance(value, str):
        return (value.isascii() and len(value) <= 1000 and "\r" not in value
                and value != "\n" and not value.endswith("\n\n"))
    if isinstance(value, dict):
        return all(_c_writes_it(k) and _c_writes_it(v) for k, v in value.items())
    return not isinstance(value, list | tuple)


def dump(mapping: Mapping[str, Any]) -> str:
    data = dict(mapping)
    dumper = _CDumper if _CDumper is not None and _c_writes_it(data) else _Dumper
    return yaml.dump(data, Dumper=dumper, sort_keys=False, allow_unicode=True,
                     default_flow_style=False, width=4096)


def _blocks(lines: list[str]) -> dict[str, tuple[int, int]] | None:
    """Top-level key -> (first line, end line) of its value; None if the text is not a plain
    block mapping of unique keys."""
    starts: list[tuple[str, int]] = []
    for i, line in enumerate(lines):
        if not line.strip() or line[0] in " \t#-":
            if line.startswith(("---", "...")):
                return None
            continue
        m = _KEY.match(line)
        if m is None:
            return None  # a quoted key, a flow mapping, a document marker, an anchor...
        starts.append((m.group(1), i))
    out: dict[str, tuple[int, int]] = {}
    for n, (key, first) in enumerate(starts):
        if key in out:
            return None
        end = starts[n + 1][1] if n + 1 < len(starts) else len(lines)
        # comments and blank lines just above the next key belong to it, not to this value
        while end > first + 1 and (not lines[end - 1].strip() or lines[end - 1].startswith("#")):
            end -= 1
        out[key] = (first, end)
    return out


def patch(text: str, changes: Mapping[str, Any]) -> str | None:
    """``text`` with ``changes`` (key -> value; None removes the key) written in, or None."""
    out = patch_data(text, changes)
    return None if out is None else out[0]


def patch_data(text: str, changes: Mapping[str, Any], *, before: Any = None,
               ) -> tuple[str, dict[str, Any]] | None:
    """:func:`patch`, and the data the new text parses to. ``before``: what ``text`` parses to,
    when the caller has it already (it is not changed)."""
    if before is None:
        try:
            before = yaml.load(text, Loader=Loader)
        except yaml.YAMLError:
            return None
    if not isinstance(before, dict):
        return None
    lines = text.splitlines(keepends=True)
    if lines and not lines[-1].endswith("\n"):
        lines[-1] += "\n"
    blocks = _blocks(lines)
    if blocks is None or set(blocks) != set(before):
        return None
    expected = dict(before)
    replace: dict[int, tuple[int, str]] = {}  # first line -> (end line, new text)
    tail: list[str] = []
    changed: dict[str, Any] = {}
    for key, value in changes.items():
        if value is None:
            if key in blocks:
                replace[blocks[key][0]] = (blocks[key][1], "")
                del expected[key]
            continue
        new = plain(value)
        if key in before and before[key] == new:
            continue
        expected[key] = changed[key] = new
    if changed:
        # one dump of every changed key, cut back into one text a key (a value's lines are
        # indented, so each key starts a line at column 0)
        out_lines = dump(changed).splitlines(keepends=True)
        cuts = sorted(blocks_of[1][0] for blocks_of in (_blocks(out_lines) or {}).items())
        pieces = {out_lines[a].split(":", 1)[0]: "".join(out_lines[a:b])
                  for a, b in zip(cuts, [*cuts[1:], len(out_lines)], strict=True)}
        if set(pieces) != set(changed):
            return None
        for key, rendered in pieces.items():
            if key in blocks:
                replace[blocks[key][0]] = (blocks[key][1], rendered)
            else:
                tail.append(rendered)
    if not replace and not tail:
        return text, expected
    out: list[str] = []
    i = 0
    while i < len(lines):
        if i in replace:
            end, rendered = replace[i]
            out.append(rendered)
            i = end
            continue
        out.append(lines[i])
        i += 1
    out += tail
    result = "".join(out)
    try:
        after = yaml.load(result, Loader=Loader)
    except yaml.YAMLError:
        return None
    return (result, after) if after == expected else None
