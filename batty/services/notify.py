"""Notifications through apprise (SPEC 6 `notify`): Discord, Slack, Telegram, ntfy, email, JSON.

Each ``notify:`` entry of board/config.yaml names an environment variable holding an apprise
URL and the event kinds it wants, among those escalations.py sends (``core.config.NOTIFY_KINDS``:
the config refuses any other, which would never fire). The URL is a secret: it is read from the environment when a
message goes out, and only its scheme is ever written down (events, output). A notification
never stops a tick: failures are ``notify.failed`` events, retries back off briefly, and every
send is bounded in time — an endpoint that never answers costs one timeout, after which this
process skips it (a tick raising ten escalations must not wait on it ten times).

Knobs (environment, since they are about the machine's network, not the board):
``BATTY_NOTIFY_TIMEOUT_S`` per attempt (4), ``BATTY_NOTIFY_ATTEMPTS`` (3),
``BATTY_NOTIFY_BACKOFF_S`` first wait between attempts, doubled each time (0.5),
``BATTY_NOTIFY_BUDGET_S`` total for one URL in one call (8).
"""

from __future__ import annotations

import os
import re
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from batty.core.kinds import Kind
from batty.errors import InvalidInput

if TYPE_CHECKING:
    from batty.workflow.state import State

TEST_EVENT = "notify.test"

# URLs that timed out in this process -> when (monotonic): skipped for SKIP_S, which outlasts
# a command run but not a `batty run` loop. Keyed by the URL itself, never written anywhere.
_unanswered: dict[str, float] = {}
SKIP_S = 300.0


@dataclass(frozen=True)
class Policy:
    timeout_s: float = 4.0
    attempts: int = 3
    backoff_s: float = 0.5
    budget_s: float = 8.0

    @classmethod
    def from_env(cls) -> Policy:
        d = cls()
        return cls(timeout_s=_env_float("BATTY_NOTIFY_TIMEOUT_S", d.timeout_s, 0.1),
                   attempts=int(_env_float("BATTY_NOTIFY_ATTEMPTS", d.attempts, 1)),
                   backoff_s=_env_float("BATTY_NOTIFY_BACKOFF_S", d.backoff_s, 0.0),
                   budget_s=_env_float("BATTY_NOTIFY_BUDGET_S", d.budget_s, 0.1))


def _env_float(name: str, default: float, lo: float) -> float:
    try:
        return max(lo, float(os.environ[name]))
    except (KeyError, ValueError):
        return default


@dataclass(frozen=True)
class Outcome:
    url_env: str
    scheme: str | None
    sent: bool
    attempts: int
    error: str | None = None


def scheme_of(url: str) -> str | None:
    head, sep, _ = url.partition("://")
    return head.lower() if sep and head.replace("+", "").isalnum() else None


def scrub(message: str, url: str) -> str:
    """``message`` with every longish piece of ``url`` (tokens, hosts, passwords) masked."""
    out = message.replace(url, "<url>")
    for piece in sorted(set(re.split(r"[/:@?&=#,+]", url)), key=len, reverse=True):
        if len(piece) >= 6:
            out = out.replace(piece, "***")
    return out


def notify(st: State, kind: str, *, title: str, body: str, task: str | None = None) -> None:
    """Send ``title``/``body`` to every configured URL that wants ``kind``. Never raises."""
    try:
        entries = [n for n in st.config.notify if str(kind) in n.on]
    except InvalidInput:
        return  # a broken config is reported by the command that loaded it
    policy = Policy.from_env()
    for entry in entries:
        send_one(st, entry.url_env, str(kind), title=title, body=body, task=task, policy=policy)


def send_test(st: State) -> list[Outcome]:
    """`batty notify test`: one message to every configured URL, whatever its ``on``."""
    from batty.store.locks import host

    policy = Policy.from_env()
    out = []
    for entry in st.config.notify:
        body = (f"A test notification from batty in {st.paths.root.name} on {host()}.\n"
                f"If you can read this, {entry.url_env} works.")
        out.append(send_one(st, entry.url_env, TEST_EVENT, title="batty: test notification",
                            body=body, policy=policy))
    return out


def send_one(st: State, url_env: str, event: str, *, title: str, body: str,
             task: str | None = None, policy: Policy | None = None) -> Outcome:
    """One URL, with retries and a time budget; logged as notify.sent or notify.failed."""
    policy = policy or Policy.from_env()
    url = os.environ.get(url_env, "").strip()
    silent_since = _unanswered.get(url)
    if not url:
        outcome = Outcome(url_env, None, False, 0, f"{url_env} is not set in the environment")
    elif silent_since is not None and time.monotonic() - silent_since < SKIP_S:
        outcome = Outcome(url_env, scheme_of(url), False, 0,
                          f"skipped: {url_env} did not answer earlier in this run")
    else:
        outcome = _deliver(url_env, url, title, body, policy)
    if outcome.sent:
        st.events.emit(Kind.NOTIFY_SENT, task=task, scheme=outcome.scheme, event=event,
                       attempts=outcome.attempts, url_env=url_env)
    else:
        st.events.emit(Kind.NOTIFY_FAILED, task=task, scheme=outcome.scheme, event=event,
                       error=outcome.error, attempts=outcome.attempts, url_env=url_env)
    return outcome


def _deliver(url_env: str, url: str, title: str, body: str, policy: Policy) -> Outcome:
    scheme = scheme_of(url)
    start = time.monotonic()
    deadline = start + policy.budget_s
    wait = policy.backoff_s
    attempts = 0
    error = "not sent"
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            error = f"gave up after {policy.budget_s:g}s: {error}"
            _unanswered[url] = time.monotonic()
            break
        attempts += 1
        timeout = min(policy.timeout_s, remaining)
        began = time.monotonic()
        ok, error, retry = _attempt(url, title, body, timeout, join_s=remaining)
        if ok:
            return Outcome(url_env, scheme, True, attempts)
        error = scrub(error, url)
        if time.monotonic() - began >= 0.9 * timeout:
            # It used its whole timeout: a hanging endpoint. Trying again would hang again.
            error = f"no answer within {timeout:g}s ({error})"
            _unanswered[url] = time.monotonic()
            break
        if not retry or attempts >= policy.attempts or time.monotonic() + wait >= deadline:
            break
        time.sleep(wait)
        wait *= 2
    return Outcome(url_env, scheme, False, attempts, error)


def _attempt(url: str, title: str, body: str, timeout: float, *, join_s: float) -> tuple[bool, str, bool]:
    """One try: (sent, error, worth retrying). apprise runs in a daemon thread joined with a
    deadline, so that no plugin (DNS, SMTP, a stuck socket) can hold the tick past its budget."""
    result: dict[str, Any] = {}
    worker = threading.Thread(target=_send, args=(url, title, body, timeout, result),
                              name="batty-notify", daemon=True)
    worker.start()
    worker.join(join_s)
    if worker.is_alive():
        return False, f"no answer within {join_s:.1f}s", False
    return result.get("ok", False), result.get("error", "not sent"), result.get("retry", True)


def _send(url: str, title: str, body: str, timeout: float, result: dict[str, Any]) -> None:
    import logging

    import apprise  # lazy: cron runs batty every minute (STYLE 7)

    captured: list[str] = []
    me = threading.get_ident()

    class Capture(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if record.thread == me and record.levelno >= logging.WARNING:
                captured.append(record.getMessage())

    handler = Capture()
    log = logging.getLogger("apprise")
    log.addHandler(handler)  # also keeps apprise's own warnings off cron's stderr
    try:
        asset = apprise.AppriseAsset(storage_mode="memory")
        plugin = apprise.Apprise.instantiate(url, asset=asset)
        if plugin is None:
            why = f" ({captured[-1]})" if captured else ""
            result.update(ok=False, retry=False, error="apprise does not know this URL" + why
                          + "; see https://appriseit.com/services/")
            return
        plugin.socket_connect_timeout = timeout
        plugin.socket_read_timeout = timeout
        plugin.request_rate_per_sec = 0  # our own backoff paces retries
        ok = bool(plugin.notify(body=body, title=title))
        result.update(ok=ok, retry=not ok, error=captured[-1] if captured else "not sent")
    except Exception as e:  # a bug in a third-party plugin must not stop the tick (SPEC: never fatal)
        result.update(ok=False, retry=False, error=f"{type(e).__name__}: {e}")
    finally:
        log.removeHandler(handler)
