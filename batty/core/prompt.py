"""The prompt an agent gets (issue 3): the brief, the fences, the gate, and what came before."""

from __future__ import annotations

from collections.abc import Sequence

from batty.core.packet import Packet

ALWAYS_PROTECTED = ("board/**", ".batty/**")


def render(p: Packet, *, test: str, protected: Sequence[str], attempt: int,
           max_attempts: int, planner_children: int | None = None) -> str:
    out = [f"# Task {p.id}: {p.title}", "", p.description.strip() or "(no description given)", ""]
    if planner_children is not None:
        from batty.core.epic import prompt_part

        out += [prompt_part(planner_children)]
        if p.feedback:
            out += ["## What the last attempt got back", "", p.feedback.rstrip()]
        return "\n".join(out) + "\n"
    out += ["## Scope", ""]
    if p.scope:
        out.append("Change only files matching these globs:")
        out += [f"- `{g}`" for g in p.scope]
    else:
        out.append("Any file that is not protected.")
    out += ["", "## Never change", ""]
    out += [f"- `{g}`" for g in (*ALWAYS_PROTECTED, *protected)]
    out += ["", "A change to any of these, or outside the scope, is refused whatever else it does.", ""]
    out += ["## How your work is checked", "",
            "When you exit, batty commits whatever you left uncommitted on this branch, checks the",
            "paths you touched, and runs the tests as they stand on the base branch:", "",
            f"    {test}", "",
            "Exit when you are done; exit code 0 means ready for the gate. A change that does",
            "nothing (only talk) fails.", "",
            f"This is attempt {attempt} of {max_attempts}.", "",
            "## When you need a person", "",
            "If you cannot go on without a person's answer, write your question to",
            "`.batty-question.md` at the top of this checkout and exit. The task waits for the",
            "answer, which the next attempt gets in its prompt; that file is never committed."]
    answer = p.answer or {}
    if answer.get("text"):
        out += ["", "## Your question and a person's answer", "", "You asked:", "",
                str(answer.get("question") or "").rstrip(), "", "The answer:", "",
                str(answer["text"]).rstrip()]
    if p.feedback:
        out += ["", "## What the last attempt got back", "", p.feedback.rstrip()]
    if p.handoff:
        out += ["", "## Hand-off note from the previous agent", "", p.handoff.rstrip()]
    return "\n".join(out) + "\n"
