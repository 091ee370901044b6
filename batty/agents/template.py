"""An agent by argv template (SPEC 6): ``argv: [mybot, --task, "{prompt_file}"]``.

Each placeholder is substituted inside its own argv element in one pass, never through a
shell and never with str.format: text substituted in (a prompt containing ``{task}`` or
``$(...)``) is not looked at again, so it stays literal.
"""

from __future__ import annotations

from collections.abc import Mapping

from batty.agents.launch import Context, Parts
from batty.agents.schema import PLACEHOLDER_RE

PREFIXES: tuple[str, ...] = ()  # a template agent gets only what config env/passenv give it


def substitute(arg: str, values: Mapping[str, str]) -> str:
    return PLACEHOLDER_RE.sub(lambda m: values.get(m.group(1), m.group(0)), arg)


def parts(ctx: Context) -> Parts:
    template = list(ctx.entry["argv"]) + ctx.args
    mode = ctx.entry.get("prompt", "stdin")
    uses = {m.group(1) for arg in template for m in PLACEHOLDER_RE.finditer(arg)}
    values = {
        "prompt_file": str(ctx.prompt_file),
        "task": ctx.task,
        "attempt": str(ctx.attempt),
        "worktree": str(ctx.worktree),
    }
    if "prompt" in uses or mode == "arg":
        values["prompt"] = ctx.prompt_file.read_text(encoding="utf-8")
    argv = [template[0]] + [substitute(a, values) for a in template[1:]]
    # A mode whose placeholder the template does not use gets it as the last argument.
    if mode == "file" and "prompt_file" not in uses:
        argv.append(values["prompt_file"])
    elif mode == "arg" and "prompt" not in uses:
        argv.append(values["prompt"])
    stdin = ctx.prompt_file if mode == "stdin" else None
    return Parts(argv=argv, stdin_path=stdin)
