"""Path globs for scope, protected paths and trusted tests: ``**`` crosses folders, ``*`` does not."""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache


@lru_cache(maxsize=1024)
def compile_glob(glob: str) -> re.Pattern[str]:
    g = glob.strip().lstrip("./") if glob.startswith("./") else glob.strip()
    if g.endswith("/"):
        g += "**"
    tree = g.endswith("/**")
    if tree:  # `dir/**` is the folder and everything in it (a file named `dir` too)
        g = g[:-3]
    out = []
    i = 0
    while i < len(g):
        c = g[i]
        if g.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif g.startswith("**", i):
            out.append(".*")
            i += 2
        elif c == "*":
            out.append("[^/]*")
            i += 1
        elif c == "?":
            out.append("[^/]")
            i += 1
        else:
            out.append(re.escape(c))
            i += 1
    body = "".join(out)
    if "/" not in g:  # like .gitignore: a bare name matches at any depth
        body = "(?:.*/)?" + body
    # DOTALL and \Z: a path may hold a newline (git allows any byte but NUL), and `.` or `$`
    # would let `a\nb/conftest.py` or `board/tasks/T-7\n.yaml` slip past a glob (issue 15)
    return re.compile(f"^{body}(?:/.*)?\\Z" if tree else f"^{body}\\Z", re.DOTALL)


def matches(path: str, globs: Iterable[str]) -> bool:
    return any(compile_glob(g).match(path) for g in globs)
