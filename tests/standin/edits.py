"""Scripted conversations: "edit file F to contain TEXT", as each CLI's model would ask it.

Each step is chosen by how many tool results the request already carries, so side calls
(no tools, or a commit-message prompt) never advance the script.

- Claude Code (Anthropic wire): Read F (Edit/Write refuse a file not read first), Write F,
  then Bash ``git add`` and ``git commit`` (allowed by the adapter under acceptEdits),
  then a closing text.
- Codex (Responses wire): ``exec_command`` with an ``apply_patch`` heredoc, which Codex
  intercepts and applies itself, then ``exec_command`` git add + commit, then a text.
- Aider (Chat wire): the whole file in Aider's "whole" edit format; its commit-message
  side call gets ``commit_message``. Aider commits by itself.
- Gemini CLI (Gemini wire): ``write_file``, then ``run_shell_command`` git add + commit,
  then a text.
"""

from __future__ import annotations

from pathlib import Path

from tests.standin.server import Reply, Request, Standin

AIDER_COMMIT_PROMPT = "one-line Git commit messages"


def apply_patch_for(path: Path, rel: str, text: str) -> str:
    """An apply_patch document that makes ``rel`` contain ``text`` (computed at reply time)."""
    new = [f"+{line}" for line in text.splitlines()]
    if path.exists():
        old = [f"-{line}" for line in path.read_text(encoding="utf-8").splitlines()]
        body = [f"*** Update File: {rel}", "@@", *old, *new]
    else:
        body = [f"*** Add File: {rel}", *new]
    return "\n".join(["*** Begin Patch", *body, "*** End Patch"])


def script_edit(standin: Standin, root: Path, rel: str, text: str,
                commit_message: str = "standin: edit the file") -> None:
    """Script all three wires to make ``root/rel`` contain ``text`` and commit it."""
    path = root / rel
    git_add = f"git add {rel}"
    git_commit = f"git commit -q -m '{commit_message}'"

    # Claude Code
    standin.add(Reply(tool="Read", input={"file_path": str(path)}),
                wire="anthropic", has_tools=True, tool_results=0)
    standin.add(Reply(tool="Write", input={"file_path": str(path), "content": text}),
                wire="anthropic", has_tools=True, tool_results=1)
    standin.add(Reply(tool="Bash", input={"command": git_add, "description": "Stage the edit"}),
                wire="anthropic", has_tools=True, tool_results=2)
    standin.add(Reply(tool="Bash", input={"command": git_commit, "description": "Commit it"}),
                wire="anthropic", has_tools=True, tool_results=3)
    standin.add(Reply(text=f"Done: {rel} edited and committed."),
                wire="anthropic", has_tools=True)

    # Codex
    def patch(_req: Request) -> Reply:
        script = f"apply_patch <<'PATCH'\n{apply_patch_for(path, rel, text)}\nPATCH\n"
        return Reply(tool="exec_command", input={"cmd": script, "workdir": str(root)})

    standin.add(patch, wire="responses", has_tools=True, tool_results=0)
    standin.add(Reply(tool="exec_command", input={"cmd": f"{git_add} && {git_commit}",
                                                  "workdir": str(root)}),
                wire="responses", has_tools=True, tool_results=1)
    standin.add(Reply(text=f"Done: {rel} edited and committed."),
                wire="responses", has_tools=True)

    # Gemini CLI
    standin.add(Reply(tool="write_file", input={"file_path": str(path), "content": text}),
                wire="gemini", has_tools=True, tool_results=0)
    standin.add(Reply(tool="run_shell_command", input={"command": f"{git_add} && {git_commit}",
                                                       "description": "Commit the edit"}),
                wire="gemini", has_tools=True, tool_results=1)
    standin.add(Reply(text=f"Done: {rel} edited and committed."), wire="gemini", has_tools=True)

    # Aider
    standin.add(Reply(text=commit_message), wire="chat", contains=AIDER_COMMIT_PROMPT)
    body = text if text.endswith("\n") else text + "\n"
    standin.add(Reply(text=f"{rel}\n```\n{body}```\n"), wire="chat")


def script_context_exhausted(standin: Standin) -> None:
    """Every model call fails the way each API says the prompt outgrew the context window."""
    standin.add(Reply(error="prompt is too long: 212345 tokens > 200000 maximum"),
                wire="anthropic")
    message = ("Your input exceeds the context window of this model. "
               "Please adjust your input and try again.")
    standin.add(Reply(error=message, error_code="context_length_exceeded"), wire="responses")
    standin.add(Reply(error="The input token count (1200000) exceeds the maximum number of "
                            "tokens allowed (1048576)."), wire="gemini")
    standin.add(Reply(error="This model's maximum context length is 8192 tokens. However, your "
                            "messages resulted in 9000 tokens.",
                      error_code="context_length_exceeded"), wire="chat")
