"""An escalation storm: the same failure again and again, unattended (a person keeps putting the
task back on the board without resolving its escalation). Each task's repeats fold into one open
escalation: one event, one notification, one entry in INBOX.md that counts them."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.scenarios.helpers import kinds, make, quiet, statuses, tick
from tests.test_notify import FAST, Endpoint

ROUNDS = 3


def test_the_same_failure_again_and_again_is_one_message(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    hook = Endpoint("ok")
    try:
        for key, value in {**FAST, "BATTY_STORM_HOOK": hook.url()}.items():
            monkeypatch.setenv(key, value)
        proj, watch = make(tmp_path, config={
            "gates": {"max_attempts": 1},
            "notify": [{"url_env": "BATTY_STORM_HOOK", "on": ["escalation.raised"]}]})
        tasks = [proj.task("Breaks the tests, always", "fail-tests") for _ in range(2)]
        for n in range(ROUNDS):
            tick(proj, watch)       # dispatched (after round one: the person's moves applied first)
            quiet(proj)
            tick(proj, watch)       # failed its only attempt: blocked, escalated
            assert set(statuses(proj).values()) == {"blocked"}, n
            if n < ROUNDS - 1:      # back to Todo on the board; the escalation stays open
                board = proj.paths.board_md
                text = board.read_text()
                cards = [line for line in text.splitlines() if line.startswith("- [ ] T-")]
                for card in cards:
                    text = text.replace(card + "\n", "")
                board.write_text(text.replace("## Todo\n", "## Todo\n\n" + "\n".join(cards) + "\n", 1))
        raised = kinds(proj, "escalation.raised")
        assert sorted(e["data"]["tasks"][0] for e in raised) == sorted(tasks)
        assert len(hook.received) == len(tasks)
        assert len(kinds(proj, "notify.sent")) == len(tasks)
        inbox = proj.paths.inbox.read_text()
        assert inbox.count(f"seen {ROUNDS} times") == len(tasks)
        for t in tasks:
            [record] = proj.packet(t)["escalations"]
            assert record["count"] == ROUNDS and record["state"] == "open"
    finally:
        hook.close()
