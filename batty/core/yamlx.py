"""YAML text -> data, plus where each key stands, so that errors can name a line.

Reads use PyYAML's C loader (fast); the line map is built only when something needs a line.
PyYAML is imported on the first parse, not with this module: importing it costs 18 ms, and a
command whose config and packets come from the caches never parses YAML.
"""

from __future__ import annotations

from typing import Any

from batty.errors import InvalidInput


def __getattr__(name: str) -> Any:
    if name == "Loader":
        return _loader()
    raise AttributeError(name)


def _loader() -> Any:
    import yaml

    return getattr(yaml, "CSafeLoader", None) or yaml.SafeLoader  # without libyaml: the Python one


Path_ = tuple[str | int, ...]


def decode(data: bytes, file: str) -> str:
    """UTF-8 text, or one clear error naming the line of the first bad byte."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        raise InvalidInput(f"byte 0x{data[e.start]:02x} is not UTF-8", file=file, line=line,
                           valid="save the file as UTF-8") from None


def plain(text: str | bytes, file: str) -> None:
    """Refuse YAML anchors and aliases, in one line and at scanning speed: packets and config
    need neither, and nine nested aliases (a "billion laughs") hang whatever walks the result
    (issue 15). Text holding neither ``&`` nor ``*`` is not scanned at all."""
    if isinstance(text, bytes):
        if b"&" not in text and b"*" not in text:
            return
    elif "&" not in text and "*" not in text:
        return
    import yaml

    try:
        for token in yaml.scan(text, Loader=_loader()):
            if isinstance(token, yaml.AnchorToken | yaml.AliasToken):
                what = "an anchor" if isinstance(token, yaml.AnchorToken) else "an alias"
                raise InvalidInput(f"{what} (&name or *name) is not allowed here", file=file,
                                   line=token.start_mark.line + 1, valid="write each value out in full")
    except yaml.YAMLError:
        return  # not valid YAML: the parse says where


def load(text: str, file: str) -> Any:
    import yaml

    plain(text, file)
    try:
        return yaml.load(text, Loader=_loader())
    except yaml.YAMLError as e:
        # context_mark is where the broken construct began (an unclosed bracket), else the problem
        mark = getattr(e, "context_mark", None) or getattr(e, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        raise InvalidInput(f"not valid YAML: {problem}", file=file, line=line,
                           valid="fix the YAML syntax") from None


def lines(text: str, file: str, *, strict: bool = False) -> dict[Path_, int]:
    """Line of every mapping key and sequence item, by path. ``strict`` refuses duplicate keys."""
    import yaml

    try:
        plain(text, file)
        root = yaml.compose(text, Loader=_loader())
    except (yaml.YAMLError, InvalidInput):
        return {}
    out: dict[Path_, int] = {}

    def walk(node: Any, path: Path_) -> None:
        if isinstance(node, yaml.MappingNode):
            seen: set[str] = set()
            for key, value in node.value:
                k = key.value
                if strict and k in seen:
                    raise InvalidInput(f"duplicate key {k!r}", file=file,
                                       line=key.start_mark.line + 1, valid="each key once")
                seen.add(k)
                out[(*path, k)] = key.start_mark.line + 1
                walk(value, (*path, k))
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                out[(*path, i)] = item.start_mark.line + 1
                walk(item, (*path, i))

    if root is not None:
        walk(root, ())
    return out


def line_of(table: dict[Path_, int], path: Path_) -> int | None:
    """The line of ``path``, or of its nearest parent that has one."""
    while path:
        if path in table:
            return table[path]
        path = path[:-1]
    return 1 if table else None
