"""Named test behaviours for the ``shell`` agent: ready-made ``script:`` lists.

For the test suite and the demo: a packet with ``agent: shell`` and
``script: BEHAVIOURS["stall"]`` makes that seat's agent stall. The conventions:

- the code lives in ``src/app.py`` (created if missing) and the task's scope is ``src/**``;
- the task's tests, in ``tests/``, import ``src/app.py``, so a module that raises on
  import fails them (``fail-tests``);
- ``docs/`` is outside the scope (``leave-scope``); ``.github/`` (``touch-protected``)
  and ``board/`` (``touch-board``) are protected;
- commits use the identity in the environment or the git config, as a real agent would;
- ``CONTEXT_MARKER`` is what the ``shell`` agent prints when its context ran out.

Each entry is a list of bash command strings, run one by one in the worktree by
``batty.agents.scripted``; the first failure stops it.
"""

from __future__ import annotations

CONTEXT_MARKER = "BATTY: context exhausted"

APP = "src/app.py"

_commit = 'git commit -q -m "{message}"'

BEHAVIOURS: dict[str, list[str]] = {
    # Edit a file in scope and commit it: the gates pass.
    "succeed": [
        "mkdir -p src",
        f"echo '# edited by the succeed behaviour' >> {APP}",
        f"git add {APP}",
        _commit.format(message="succeed: edit src/app.py"),
    ],
    # A change in scope that breaks every test importing src/app.py.
    "fail-tests": [
        "mkdir -p src",
        f"echo 'raise RuntimeError(\"broken by the fail-tests behaviour\")' >> {APP}",
        f"git add {APP}",
        _commit.format(message="fail-tests: break src/app.py"),
    ],
    # Print once, then sleep without a word: the stall detector's case.
    "stall": [
        "echo 'working on it'",
        "sleep 86400",
    ],
    # SIGKILL the agent process itself (the scripted runner is bash's parent): no exit
    # code is recorded by the agent, only the runner can tell it is gone.
    "die-silently": [
        "echo 'about to vanish'",
        "kill -9 $PPID",
        "echo 'never printed: the runner is gone'",
    ],
    # A file outside the task's scope (src/**).
    "leave-scope": [
        "mkdir -p docs",
        "echo 'written outside the scope' > docs/outside-scope.md",
        "git add docs/outside-scope.md",
        _commit.format(message="leave-scope: write docs/outside-scope.md"),
    ],
    # A protected path (.github/**): verify must refuse the attempt.
    "touch-protected": [
        "mkdir -p .github/workflows",
        "echo '# touched by an agent' >> .github/workflows/ci.yml",
        "git add .github/workflows/ci.yml",
        _commit.format(message="touch-protected: edit .github"),
    ],
    # The always-protected board/.
    "touch-board": [
        "mkdir -p board",
        "echo '<!-- touched by an agent -->' >> board/BOARD.md",
        "git add board/BOARD.md",
        _commit.format(message="touch-board: edit board/BOARD.md"),
    ],
    # Say the context window ran out, and fail.
    "out-of-context": [
        "echo 'reading the whole repository...'",
        f"echo '{CONTEXT_MARKER}'",
        "exit 3",
    ],
    # Talk, change nothing, exit 0.
    "no-change": [
        "echo 'looked around'",
        "echo 'nothing to change'",
    ],
    # Leave a child running after the agent exits, its output detached, so only its
    # process group or session betrays it.
    "lingering-child": [
        "mkdir -p src",
        f"echo '# edited by the lingering-child behaviour' >> {APP}",
        f"git add {APP}",
        _commit.format(message="lingering-child: edit src/app.py"),
        "sleep 300 </dev/null >/dev/null 2>&1 &",
        "echo 'left a child behind'",
    ],
    # Ask a person a question (SPEC 13) and exit: no change made.
    "ask-question": [
        "echo 'Which greeting should app.greet() return?' > .batty-question.md",
        "echo 'asked a question'",
    ],
    # Ask a question unless the prompt carries an answer; with one, write it into src/app.py.
    "ask-then-use-answer": [
        "if grep -q '^The answer:' \"$BATTY_PROMPT_FILE\"; then mkdir -p src"
        f" && sed -n '/^The answer:/,$p' \"$BATTY_PROMPT_FILE\" | sed 's/^/# /' >> {APP}"
        f" && git add {APP} && " + _commit.format(message="ask-then-use-answer: the answer in src/app.py")
        + "; else echo 'Which greeting should app.greet() return?' > .batty-question.md; fi",
    ],
    # Do what the review asked: copy the requested changes from the prompt into src/app.py.
    "follow-feedback": [
        "mkdir -p src",
        f"echo '# attempt '\"$BATTY_ATTEMPT\" >> {APP}",
        f"sed -n '/asks for changes/,/earlier commits/p' \"$BATTY_PROMPT_FILE\" | sed 's/^/# /' >> {APP}",
        f"git add {APP}",
        _commit.format(message="follow-feedback: edit src/app.py"),
    ],
    # Fail unless the checkout's set-up ran (it writes .setup-ran) and .env was copied in.
    "needs-setup": [
        "test -f .setup-ran || { echo 'the set-up did not run' >&2; exit 1; }",
        "test -f .env || { echo 'no .env in the checkout' >&2; exit 1; }",
        "mkdir -p src",
        f"echo \"# set up: $(cat .setup-ran)\" >> {APP}",
        f"git add {APP}",
        _commit.format(message="needs-setup: edit src/app.py"),
    ],
}


def usage(input_tokens: int = 0, output_tokens: int = 0, cost_usd: float | None = None) -> str:
    """A script step that reports one model call's usage as the shell agent's parser reads it
    (``batty-usage: {...}``, batty.agents.usage): the test agents' stand-in for a CLI's report."""
    import json

    call: dict[str, float] = {"input_tokens": input_tokens, "output_tokens": output_tokens}
    if cost_usd is not None:
        call["cost_usd"] = cost_usd
    return f"echo 'batty-usage: {json.dumps(call)}'"


def script(name: str) -> list[str]:
    """A copy of behaviour ``name``'s script (KeyError names the valid ones)."""
    try:
        return list(BEHAVIOURS[name])
    except KeyError:
        raise KeyError(f"unknown behaviour {name!r}; valid: {', '.join(sorted(BEHAVIOURS))}") from None
