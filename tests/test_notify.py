"""Notifications (SPEC 6 `notify`, 7 notify.sent/failed): real HTTP servers on 127.0.0.1 receive
what apprise sends; failing and hanging ones never stop the run."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from batty.store.paths import Paths
from tests.conftest import git, run_batty

# Discord's webhook payload ({"content": ..., "username": ...}) through apprise's generic JSON
# plugin: `:key=new` renames a payload field, `:key=` drops it, `:key=value` adds one. apprise's
# discord:// always posts to discord.com, so this is how a Discord-format endpoint is pointed
# anywhere else (a self-hosted bridge, or this test's server).
DISCORD_MAP = "?:message=content&:title=&:version=&:attachments=&:type=&:username=batty"
FAST = {"BATTY_NOTIFY_TIMEOUT_S": "1", "BATTY_NOTIFY_BACKOFF_S": "0.05",
        "BATTY_NOTIFY_ATTEMPTS": "3", "BATTY_NOTIFY_BUDGET_S": "4"}


class Endpoint:
    """A real HTTP server on 127.0.0.1: answers 200 (ok), 500 (fail) or never (hang)."""

    def __init__(self, mode: str = "ok") -> None:
        self.mode = mode
        self.received: list[dict[str, Any]] = []
        self.hits = 0
        self.times: list[float] = []  # time.monotonic() as each request arrived
        self.release = threading.Event()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                outer.times.append(time.monotonic())
                outer.hits += 1
                if outer.mode == "hang":
                    outer.release.wait(60)  # never answers while the test runs
                    return
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                try:
                    body = json.loads(raw or b"null")
                except ValueError:
                    body = raw.decode("utf-8", "replace")
                outer.received.append({"path": self.path, "body": body,
                                       "type": self.headers.get("Content-Type")})
                code = 200 if outer.mode == "ok" else 500
                self.send_response(code)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path: str = "/hook", query: str = "") -> str:
        return f"json://127.0.0.1:{self.port}{path}{query}"

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def endpoint() -> Iterator[Callable[..., Endpoint]]:
    made: list[Endpoint] = []

    def make(mode: str = "ok") -> Endpoint:
        made.append(Endpoint(mode))
        return made[-1]

    yield make
    for e in made:
        e.close()


@pytest.fixture
def fast(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    for k, v in FAST.items():
        monkeypatch.setenv(k, v)
    return FAST


def configure(repo: Paths, entries: list[tuple[str, list[str]]], extra: str = "", *,
              key: str = '"on"') -> None:
    """Name notify URLs in board/config.yaml, as a person would, and commit it.

    ``"on"`` is quoted here; the bare ``on`` of SPEC 6 is tested below (PyYAML reads it as true)."""
    lines = "".join(f"  - {{url_env: {env}, {key}: [{', '.join(on)}]}}\n" for env, on in entries)
    path = repo.config
    text = path.read_text(encoding="utf-8")
    head, _, tail = text.partition("notify: []")
    tail = tail.split("\n", 1)[1]
    path.write_text(head + "notify:\n" + lines + tail + extra, encoding="utf-8")
    git(repo.root, "commit", "-q", "-am", "notify urls")


def state(repo: Paths, cmd: str = "verify"):  # type: ignore[no-untyped-def]
    from batty.workflow.session import Session
    from batty.workflow.state import State

    app = Session(str(repo.root), True)
    app.cmd = cmd
    return State(app)


def events(repo: Paths, *kinds: str) -> list[dict[str, Any]]:
    from batty.store.events import read

    return [e for e in read(repo.events) if not kinds or e["kind"] in kinds]


def add_task(batty: Callable[..., Any], title: str) -> str:
    res = batty("task", "add", title)
    assert res.code == 0, res.err
    return res.out.strip()


def escalate(repo: Paths, task: str, reason: str = "attempts-exhausted",
             text: str = "3 attempts failed: tests") -> dict:
    from batty.workflow.escalations import raise_escalation

    st = state(repo)
    record = raise_escalation(st, tasks=[task], reason=reason, text=text, source="verify")
    st.finish()
    return record


# ------------------------------------------------------------------ delivery


def test_json_webhook_receives_the_escalation(repo: Paths, batty, endpoint, fast, monkeypatch) -> None:
    hook = endpoint("ok")
    configure(repo, [("BATTY_TEST_HOOK", ["escalation.raised"])])
    monkeypatch.setenv("BATTY_TEST_HOOK", hook.url("/batty/hook"))
    tid = add_task(batty, "Rate-limit logins")
    record = escalate(repo, tid, text="pytest: 2 failed, 40 passed")
    assert len(hook.received) == 1
    got = hook.received[0]
    assert got["path"] == "/batty/hook" and got["type"] == "application/json"
    assert record["id"] in got["body"]["title"] and tid in got["body"]["title"]
    assert "pytest: 2 failed, 40 passed" in got["body"]["message"]
    assert f"batty escalations resolve {record['id']}" in got["body"]["message"]
    [sent] = events(repo, "notify.sent")
    assert sent["data"]["scheme"] == "json" and sent["data"]["event"] == "escalation.raised"
    assert sent["data"]["attempts"] == 1 and sent["task"] == tid


def test_discord_format_reaches_a_local_endpoint(repo: Paths, batty, endpoint, fast, monkeypatch) -> None:
    hook = endpoint("ok")
    token = "s3cr3tW3bhookT0ken"
    configure(repo, [("BATTY_DISCORD", ["escalation.raised"])])
    monkeypatch.setenv("BATTY_DISCORD", hook.url(f"/api/webhooks/1234567/{token}", DISCORD_MAP))
    tid = add_task(batty, "Fix flaky upload")
    record = escalate(repo, tid, text="respawned 3 times")
    [got] = hook.received
    assert got["path"] == f"/api/webhooks/1234567/{token}"
    # exactly what Discord's Execute Webhook takes
    assert set(got["body"]) == {"content", "username"} and got["body"]["username"] == "batty"
    assert record["id"] in got["body"]["content"] and "respawned 3 times" in got["body"]["content"]


def test_the_url_is_never_written_down(repo: Paths, batty, endpoint, fast, monkeypatch) -> None:
    """A webhook URL is a secret: the log gets its scheme, git never sees it (SPEC 6)."""
    ok, bad = endpoint("ok"), endpoint("fail")
    token = "tok3nThatMustNotLeak"
    configure(repo, [("BATTY_OK", ["escalation.raised"]), ("BATTY_BAD", ["escalation.raised"])])
    monkeypatch.setenv("BATTY_OK", ok.url(f"/api/webhooks/99/{token}"))
    monkeypatch.setenv("BATTY_BAD", bad.url(f"/api/webhooks/98/{token}"))
    escalate(repo, add_task(batty, "A task"))
    assert len(ok.received) == 1 and bad.received
    log = repo.events.read_text(encoding="utf-8")
    assert "notify.sent" in log and "notify.failed" in log
    history = git(repo.root, "log", "-p", "--all")
    for secret in (token, f":{ok.port}", f":{bad.port}", "/api/webhooks"):
        assert secret not in log
        assert secret not in history
        assert secret not in (repo.root / "board" / "INBOX.md").read_text(encoding="utf-8")


def test_an_escalation_storm_is_one_notification(repo: Paths, batty, endpoint, fast, monkeypatch) -> None:
    hook = endpoint("ok")
    configure(repo, [("BATTY_TEST_HOOK", ["escalation.raised"])])
    monkeypatch.setenv("BATTY_TEST_HOOK", hook.url())
    tid = add_task(batty, "Flaky")
    for _ in range(50):  # the same failure fifty times, one command run each
        record = escalate(repo, tid)
    assert record["count"] == 50
    assert len(hook.received) == 1
    assert len(events(repo, "escalation.raised")) == 1
    assert len(events(repo, "notify.sent")) == 1


def test_the_spec_example_with_a_bare_on_key_loads(repo: Paths, batty, endpoint, fast,
                                                   monkeypatch) -> None:
    hook = endpoint("ok")
    configure(repo, [("BATTY_TEST_HOOK", ["escalation.raised"])], key="on")
    monkeypatch.setenv("BATTY_TEST_HOOK", hook.url())
    escalate(repo, add_task(batty, "A task"))
    assert len(hook.received) == 1


def test_only_the_kinds_an_entry_asks_for(repo: Paths, batty, endpoint, fast, monkeypatch) -> None:
    hook = endpoint("ok")
    configure(repo, [("BATTY_TEST_HOOK", ["escalation.resolved"])])
    monkeypatch.setenv("BATTY_TEST_HOOK", hook.url())
    record = escalate(repo, add_task(batty, "A task"))
    assert hook.received == []
    res = batty("escalations", "resolve", record["id"], "--note", "flaky test quarantined")
    assert res.code == 0, res.err
    [got] = hook.received
    assert record["id"] in got["body"]["title"] and "flaky test quarantined" in got["body"]["message"]


# ------------------------------------------------------------------ failures never stop the run


def test_a_failing_endpoint_is_retried_then_logged(repo: Paths, batty, endpoint, fast, monkeypatch) -> None:
    bad = endpoint("fail")
    configure(repo, [("BATTY_TEST_HOOK", ["escalation.raised"])])
    monkeypatch.setenv("BATTY_TEST_HOOK", bad.url())
    # waits of 0.6 s then 1.2 s: a gap the slowest request cannot close; room for all three
    monkeypatch.setenv("BATTY_NOTIFY_BACKOFF_S", "0.6")
    monkeypatch.setenv("BATTY_NOTIFY_TIMEOUT_S", "5")
    monkeypatch.setenv("BATTY_NOTIFY_BUDGET_S", "30")
    tid = add_task(batty, "A task")
    record = escalate(repo, tid)
    assert len(bad.received) == 3  # BATTY_NOTIFY_ATTEMPTS: retried with backoff
    # the backoff doubles: each gap holds at least its wait, and the second is the longer
    first, second = (b - a for a, b in zip(bad.times, bad.times[1:], strict=False))
    assert first >= 0.6 and second >= 1.2, (first, second)
    assert second > first, (first, second)
    [failed] = events(repo, "notify.failed")
    assert failed["data"]["attempts"] == 3 and "500" in failed["data"]["error"]
    # the run carried on: recorded, rendered, committed
    assert record["id"] in repo.inbox.read_text(encoding="utf-8")
    assert git(repo.root, "log", "-1", "--format=%s") == f"batty: inbox: {record['id']} raised"


def test_a_hanging_endpoint_costs_one_timeout_per_run(repo: Paths, batty, endpoint, fast,
                                                      monkeypatch) -> None:
    hang, ok = endpoint("hang"), endpoint("ok")
    configure(repo, [("BATTY_HANG", ["escalation.raised"]), ("BATTY_OK", ["escalation.raised"])])
    monkeypatch.setenv("BATTY_HANG", hang.url())
    monkeypatch.setenv("BATTY_OK", ok.url())
    from batty.workflow.escalations import raise_escalation

    st = state(repo, "doctor")  # one command run raising three different escalations
    tasks = [add_task(batty, f"Task {i}") for i in range(3)]
    for tid in tasks:
        raise_escalation(st, tasks=[tid], reason="respawn-loop", text="agent died", source="doctor")
    st.finish()
    assert hang.hits == 1  # asked once, never retried, skipped afterwards
    assert len(ok.received) == 3  # the healthy URL got every message
    failed = [e["data"] for e in events(repo, "notify.failed")]
    assert len(failed) == 3
    assert "no answer" in failed[0]["error"] and failed[0]["attempts"] == 1
    assert all("skipped" in f["error"] and f["attempts"] == 0 for f in failed[1:])
    assert len(events(repo, "escalation.raised")) == 3


@pytest.mark.parametrize("mode", ["fail", "hang"])
def test_a_broken_endpoint_does_not_stop_the_tick(repo: Paths, batty, endpoint, fast, mode: str) -> None:
    """The whole pass cron runs: an attempt that changed nothing is blocked at once
    (max_attempts 1), verify escalates, the notification fails, and the tick carries on."""
    import time

    bad = endpoint(mode)
    text = repo.config.read_text(encoding="utf-8").replace("max_attempts: 3", "max_attempts: 1")
    repo.config.write_text(text, encoding="utf-8")
    configure(repo, [("BATTY_TEST_HOOK", ["escalation.raised"])])
    env = {"BATTY_TEST_HOOK": bad.url(), **fast}
    res = batty("task", "add", "Do nothing", "--script", "true")
    tid = res.out.strip()
    for _ in range(60):  # until the agent has exited and verify has judged it
        res = batty("tick", env=env, timeout=60)
        assert res.code == 0, res.err
        if packet_status(repo, tid) == "blocked":
            break
        time.sleep(0.5)
    assert packet_status(repo, tid) == "blocked"
    kinds = [e["kind"] for e in events(repo)]
    raised = kinds.index("escalation.raised")
    assert "notify.failed" in kinds[raised:]
    assert "tick.finished" in kinds[raised:]  # the tick went on after the failed notification
    assert "notify.sent" not in kinds
    assert bad.hits >= 1
    assert "### E-1 · " + tid in repo.inbox.read_text(encoding="utf-8")
    assert git(repo.root, "status", "--porcelain", "board/") == ""


def packet_status(repo: Paths, tid: str) -> str:
    import yaml

    return yaml.safe_load(repo.packet(tid).read_text(encoding="utf-8"))["status"]


def test_a_missing_environment_variable_is_notify_failed(repo: Paths, batty, fast, monkeypatch) -> None:
    configure(repo, [("BATTY_NOT_SET_ANYWHERE", ["escalation.raised"])])
    monkeypatch.delenv("BATTY_NOT_SET_ANYWHERE", raising=False)
    record = escalate(repo, add_task(batty, "A task"))
    [failed] = events(repo, "notify.failed")
    assert failed["data"]["error"] == "BATTY_NOT_SET_ANYWHERE is not set in the environment"
    assert failed["data"]["scheme"] is None
    assert record["state"] == "open"


def test_an_unknown_scheme_is_notify_failed(repo: Paths, batty, fast, monkeypatch) -> None:
    configure(repo, [("BATTY_TEST_HOOK", ["escalation.raised"])])
    monkeypatch.setenv("BATTY_TEST_HOOK", "nosuchservice://whatever/abc")
    escalate(repo, add_task(batty, "A task"))
    [failed] = events(repo, "notify.failed")
    assert failed["data"]["attempts"] == 1 and "apprise" in failed["data"]["error"]


# ------------------------------------------------------------------ batty notify test


def test_notify_test_sends_to_every_url(repo: Paths, endpoint, fast) -> None:
    a, b = endpoint("ok"), endpoint("ok")
    configure(repo, [("BATTY_A", ["escalation.raised"]), ("BATTY_B", ["escalation.resolved"])])
    res = run_batty(repo.root, "notify", "test", env={"BATTY_A": a.url(), "BATTY_B": b.url(), **fast})
    assert res.code == 0, res.err
    assert len(a.received) == 1 and len(b.received) == 1
    assert "BATTY_A works" in a.received[0]["body"]["message"]
    assert "sent: BATTY_A (json)" in res.out and "sent: BATTY_B (json)" in res.out
    sent = events(repo, "notify.sent")
    assert [e["data"]["event"] for e in sent] == ["notify.test", "notify.test"]


@pytest.mark.parametrize("mode", ["fail", "hang"])
def test_notify_test_exits_1_when_nothing_went(repo: Paths, endpoint, fast, mode: str) -> None:
    bad = endpoint(mode)
    configure(repo, [("BATTY_A", ["escalation.raised"])])
    res = run_batty(repo.root, "notify", "test", env={"BATTY_A": bad.url(), **fast}, timeout=60)
    assert res.code == 1
    lines = res.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("batty: ") and "none could be sent" in lines[0]
    assert "Traceback" not in res.err and str(bad.port) not in res.err + res.out


def test_notify_test_exits_1_when_one_of_two_failed(repo: Paths, endpoint, fast) -> None:
    ok = endpoint("ok")
    configure(repo, [("BATTY_A", ["escalation.raised"]), ("BATTY_B", ["escalation.raised"])])
    res = run_batty(repo.root, "notify", "test", env={"BATTY_A": ok.url(), **fast})
    assert res.code == 1
    assert len(ok.received) == 1
    assert res.err.strip() == ("batty: notify test: 1 of 2 could not be sent: "
                               "BATTY_B: BATTY_B is not set in the environment")


def test_notify_test_without_urls_says_how_to_add_one(batty) -> None:
    res = batty("notify", "test")
    assert res.code == 1
    assert res.err.startswith("batty: no notification URLs configured") and "url_env" in res.err


# ------------------------------------------------------------------ what `on` may name


@pytest.mark.parametrize("on", [["merge.merged"], ["escalation.raised", "escalation.raisd"],
                                ["tick.finished"]])
def test_on_naming_a_kind_batty_never_notifies_is_a_config_error(repo: Paths, batty, on) -> None:
    """Audit gap 4: `on` took any kind, and a kind other than escalation.raised/resolved never
    sent anything: a silent config. It is an error naming the line and the kinds that work."""
    configure(repo, [("BATTY_A", ["escalation.raised"]), ("BATTY_B", on)])
    before = repo.config.read_bytes()
    lines = before.decode().splitlines()
    line = next(i for i, text in enumerate(lines, 1) if "BATTY_B" in text)
    bad = next(k for k in on if k not in ("escalation.raised", "escalation.resolved"))
    said = (f"board/config.yaml:{line}: notify: {bad!r} is not an event batty notifies about "
            "(escalation.raised or escalation.resolved or budget.warned or budget.exceeded)")
    for args in (["notify", "test"], ["status"]):
        res = batty(*args)
        assert (res.code, res.err) == (1, f"batty: {said}\n"), args
    res = batty("tick")  # each step of the tick says so, and the tick fails
    assert res.code == 1 and res.err.splitlines()
    assert all(err.startswith("batty: ") and err.endswith(said) for err in res.err.splitlines())
    assert repo.config.read_bytes() == before  # the file is the person's: never rewritten
    assert git(repo.root, "status", "--porcelain", "board/") == ""


def test_on_accepts_both_kinds_batty_notifies_about(repo: Paths, batty) -> None:
    configure(repo, [("BATTY_A", ["escalation.raised", "escalation.resolved"])])
    res = batty("status")
    assert res.code == 0, res.err


# ------------------------------------------------------------------ small parts


def test_scrub_masks_the_pieces_of_a_url() -> None:
    from batty.services.notify import scheme_of, scrub

    url = "tgram://123456:ABCdefGHIjkl/987654321"
    msg = "Failed to send Telegram notification to 987654321 with ABCdefGHIjkl: 401"
    out = scrub(msg, url)
    assert "987654321" not in out and "ABCdefGHIjkl" not in out and out.endswith(": 401")
    assert scheme_of(url) == "tgram" and scheme_of("no scheme here") is None


def test_batty_does_not_import_apprise_until_it_sends(repo: Paths) -> None:
    code = ("import sys, batty.workflow.escalations, batty.services.notify, batty.commands.escalations, "
            "batty.commands.notify; sys.exit('apprise' in sys.modules)")
    assert subprocess.run([sys.executable, "-c", code], cwd=Path(__file__).parent.parent).returncode == 0
