"""Escalations (SPEC 1 INBOX.md, 2 `escalations`, 4 blocked -> todo, 5, 9 escalation-demote).

The renderer tests touch no disk; the rest run in a real repository with `batty init` done.
"""

from __future__ import annotations

import yaml

from batty.core import inbox
from batty.store.paths import Paths
from tests.conftest import git
from tests.test_notify import add_task, events, state


def rec(esc_id: str, at: str, state_: str = "open", **kw: object) -> dict:
    return {"id": esc_id, "at": at, "reason": kw.pop("reason", "attempts-exhausted"),
            "text": kw.pop("text", "tests failed"), "state": state_, "source": "verify",
            "tasks": kw.pop("tasks", ["T-1"]), "count": 1, "last_at": at, **kw}


def raise_(repo: Paths, tasks: list[str], reason: str = "attempts-exhausted", text: str = "failed",
           source: str = "verify") -> dict:
    from batty.workflow.escalations import raise_escalation

    st = state(repo, source)
    record = raise_escalation(st, tasks=tasks, reason=reason, text=text, source=source)
    st.finish()
    return record


def packet(repo: Paths, tid: str) -> dict:
    return yaml.safe_load(repo.packet(tid).read_text(encoding="utf-8"))


def block(repo: Paths, tid: str) -> None:
    """in-progress -> blocked the way dispatch and verify do it."""
    from batty.core.lifecycle import Actor, Status

    st = state(repo, "verify")
    p = st.packets.require(tid)
    p = st.transition(p, Status.IN_PROGRESS, Actor.DISPATCH, "dispatched", assignee="eng-1", attempt=1)
    st.transition(p, Status.BLOCKED, Actor.VERIFY, "attempts exhausted")
    st.finish()


# ------------------------------------------------------------------ INBOX.md, pure


def test_an_empty_inbox_is_what_init_wrote(repo: Paths) -> None:
    assert inbox.render([]) == repo.inbox.read_text(encoding="utf-8")


def test_inbox_actionable_first_newest_first_then_closed() -> None:
    records = [
        rec("E-1", "2026-11-20T07:00:00+00:00"),
        rec("E-2", "2026-11-22T07:00:00+00:00", tasks=["T-2", "T-3"], reason="conflict"),
        rec("E-3", "2026-11-21T07:00:00+00:00", "resolved", closed_at="2026-11-21T09:00:00+00:00",
            note="quarantined the flaky test"),
        rec("E-4", "2026-11-19T07:00:00+00:00", "demoted", closed_at="2026-11-23T09:00:00+00:00"),
    ]
    text = inbox.render(records)
    head, closed = text.split("## Demoted / resolved")
    assert head.index("### E-2 · T-2, T-3 · conflict") < head.index("### E-1 · T-1")
    assert "E-3" not in head and "E-4" not in head
    assert "`batty escalations resolve E-2`" in head and "`batty escalations resolve E-1`" in head
    assert closed.index("E-4") < closed.index("E-3")  # most recently closed first
    assert "resolved 2026-11-21 09:00 UTC: quarantined the flaky test" in closed
    assert text.startswith("# Inbox\n\n2 escalations wait for you")


def test_inbox_shows_the_count_of_a_folded_escalation() -> None:
    r = rec("E-1", "2026-11-20T07:00:00+00:00", count=50, last_at="2026-11-20T08:49:00+00:00")
    assert "- seen 50 times, last 2026-11-20 08:49 UTC" in inbox.render([r])
    assert "seen" not in inbox.render([rec("E-1", "2026-11-20T07:00:00+00:00")])


def test_inbox_keeps_the_last_20_closed() -> None:
    records = [rec(f"E-{i}", "2026-11-01T00:00:00+00:00", "resolved",
                   closed_at=f"2026-11-{i:02d}T00:00:00+00:00") for i in range(1, 26)]
    text = inbox.render(records)
    assert "Nothing waits for you." in text
    shown = [line.split(" · ")[0][2:] for line in text.splitlines() if line.startswith("- E-")]
    assert shown == [f"E-{i}" for i in range(25, 5, -1)]
    assert "and 5 older" in text


def test_inbox_shows_local_time_beside_utc() -> None:
    r = rec("E-1", "2026-11-22T07:00:00+00:00")
    assert "raised 2026-11-22 07:00 UTC (08:00 Europe/Paris) by verify" in inbox.render([r], tz="Europe/Paris")
    r = rec("E-1", "2026-11-22T23:30:00+00:00")
    assert "23:30 UTC (2026-11-23 00:30 Europe/Paris)" in inbox.render([r], tz="Europe/Paris")
    assert "(" not in inbox.when("2026-11-22T07:00:00+00:00", "UTC")


def test_inbox_text_cannot_break_out_of_its_block() -> None:
    text = "output:\n```\n## Actionable\n```\n" + "\n".join(f"line {i}" for i in range(40))
    out = inbox.render([rec("E-1", "2026-11-22T07:00:00+00:00", text=text)])
    assert "````text\noutput:\n```\n## Actionable\n```\n" in out  # a longer fence
    assert "line 15" in out and "line 16" not in out and "(24 more lines in the packet)" in out
    assert out.count("## Actionable") == 2  # the heading and the quoted line


def test_copies_in_several_packets_are_one_record_and_a_closed_copy_wins() -> None:
    a = rec("E-5", "2026-11-22T07:00:00+00:00", tasks=["T-1", "T-2"])
    b = {**a, "state": "resolved", "closed_at": "2026-11-22T08:00:00+00:00", "note": "ok", "count": 3}
    [merged] = inbox.merge([a, b])
    assert merged["state"] == "resolved" and merged["count"] == 3 and merged["note"] == "ok"
    [merged] = inbox.merge([b, a])
    assert merged["state"] == "resolved"


# ------------------------------------------------------------------ raising


def test_raise_records_in_each_packet_renders_and_commits(repo: Paths, batty) -> None:
    t1, t2 = add_task(batty, "Rate-limit logins"), add_task(batty, "Audit log")
    record = raise_(repo, [t1, t2], reason="conflict", text="both change src/auth.py", source="merge")
    assert record["id"] == "E-1" and record["state"] == "open" and record["count"] == 1
    for tid in (t1, t2):
        [kept] = packet(repo, tid)["escalations"]
        assert {k: kept[k] for k in ("id", "reason", "text", "state", "source", "tasks")} == {
            "id": "E-1", "reason": "conflict", "text": "both change src/auth.py", "state": "open",
            "source": "merge", "tasks": [t1, t2]}
        assert kept["at"].endswith("+00:00")  # stored times stay UTC
    text = repo.inbox.read_text(encoding="utf-8")
    assert f"### E-1 · {t1}, {t2} · conflict" in text and "both change src/auth.py" in text
    assert git(repo.root, "log", "-1", "--format=%s") == "batty: inbox: E-1 raised"
    assert git(repo.root, "status", "--porcelain", "board/") == ""
    [ev] = events(repo, "escalation.raised")
    assert ev["data"] == {"escalation": "E-1", "reason": "conflict", "tasks": [t1, t2],
                          "text": "both change src/auth.py", "source": "merge"}
    assert ev["task"] == t1 and ev["cmd"] == "merge"


def test_the_same_task_and_reason_inside_the_window_is_folded(repo: Paths, batty, monkeypatch) -> None:
    tid = add_task(batty, "Flaky")
    monkeypatch.setenv("BATTY_NOW", "2026-11-22T07:00:00+00:00")
    first = raise_(repo, [tid])
    monkeypatch.setenv("BATTY_NOW", "2026-11-22T19:00:00+00:00")  # inside the default 24 h
    again = raise_(repo, [tid], text="failed again")
    assert again["id"] == first["id"] and again["count"] == 2
    assert again["last_at"] == "2026-11-22T19:00:00.000000+00:00"
    assert again["text"] == "failed"  # the first report stays; the count tells the rest
    assert len(events(repo, "escalation.raised")) == 1
    [kept] = packet(repo, tid)["escalations"]
    assert kept["count"] == 2
    assert "seen 2 times, last 2026-11-22 19:00 UTC" in repo.inbox.read_text(encoding="utf-8")


def test_after_a_quiet_window_it_is_raised_anew(repo: Paths, batty, monkeypatch) -> None:
    text = repo.config.read_text(encoding="utf-8")
    repo.config.write_text(text + "escalations: {window_s: 3600}\n", encoding="utf-8")
    tid = add_task(batty, "Flaky")
    for now in ("07:00", "07:40", "08:30"):  # each inside an hour of the last one: folded
        monkeypatch.setenv("BATTY_NOW", f"2026-11-22T{now}:00+00:00")
        assert raise_(repo, [tid])["id"] == "E-1"
    monkeypatch.setenv("BATTY_NOW", "2026-11-22T10:00:00+00:00")
    assert raise_(repo, [tid])["id"] == "E-2"
    assert [e["data"]["escalation"] for e in events(repo, "escalation.raised")] == ["E-1", "E-2"]


def test_another_reason_or_other_tasks_are_not_folded(repo: Paths, batty) -> None:
    t1, t2 = add_task(batty, "One"), add_task(batty, "Two")
    ids = [raise_(repo, [t1])["id"], raise_(repo, [t1], reason="respawn-loop")["id"],
           raise_(repo, [t2])["id"], raise_(repo, [t1, t2])["id"], raise_(repo, [t1])["id"]]
    assert ids == ["E-1", "E-2", "E-3", "E-4", "E-1"]


def test_an_escalation_about_no_task(repo: Paths, batty) -> None:
    record = raise_(repo, [], reason="stale-lock", text="the merge lock keeps coming back",
                    source="doctor")
    assert record["id"] == "E-1"
    listed = batty("escalations")
    assert "no task" in listed.out and "stale-lock" in listed.out
    assert "### E-1 · no task · stale-lock" in repo.inbox.read_text(encoding="utf-8")
    res = batty("escalations", "resolve", "E-1")
    assert res.code == 0, res.err
    assert batty("escalations").out == ""


# ------------------------------------------------------------------ demoting


def test_doctor_demotes_an_escalation_whose_tasks_are_done(repo: Paths, batty) -> None:
    from batty.workflow.escalations import demote_stale, open_escalations

    t1, t2 = add_task(batty, "One"), add_task(batty, "Two")
    both = raise_(repo, [t1, t2], reason="conflict")
    only = raise_(repo, [t1])
    assert batty("task", "move", t1, "done").code == 0
    st = state(repo, "doctor")
    changed = demote_stale(st)
    st.finish()
    assert [r["id"] for r in changed] == [only["id"]]  # t2 is not done: both stays actionable
    assert [r["id"] for r in open_escalations(state(repo))] == [both["id"]]
    assert packet(repo, t1)["escalations"][1]["state"] == "demoted"
    [ev] = events(repo, "escalation.demoted")
    assert ev["data"]["escalation"] == only["id"] and ev["data"]["note"]
    head, closed = repo.inbox.read_text(encoding="utf-8").split("## Demoted / resolved")
    assert f"### {both['id']}" in head and f"### {only['id']}" not in head
    assert f"- {only['id']} · {t1}" in closed and "demoted" in closed
    assert git(repo.root, "log", "-1", "--format=%s") == f"batty: inbox: {only['id']} demoted"

    assert batty("task", "move", t2, "archived").code == 0
    st = state(repo, "doctor")
    assert [r["id"] for r in demote_stale(st)] == [both["id"]]
    assert demote_stale(st) == []  # nothing twice
    st.finish()
    assert "Nothing waits for you." in repo.inbox.read_text(encoding="utf-8")


# ------------------------------------------------------------------ the command


def test_escalations_lists_actionable_newest_first(repo: Paths, batty) -> None:
    t1, t2 = add_task(batty, "One"), add_task(batty, "Two")
    raise_(repo, [t1], text="first\nsecond line")
    raise_(repo, [t2], reason="respawn-loop", source="doctor")
    assert batty("escalations", "resolve", "E-1").code == 0
    res = batty("escalations")
    assert res.code == 0, res.err
    lines = res.out.splitlines()
    assert lines[0].split() == ["id", "state", "tasks", "reason", "seen", "raised", "text"]
    assert [line.split()[0] for line in lines[1:]] == ["E-2"]
    res = batty("escalations", "--all")
    assert [line.split()[:2] for line in res.out.splitlines()[1:]] == [["E-2", "open"], ["E-1", "resolved"]]
    import json

    data = json.loads(batty("escalations", "--all", "--json").out)
    assert data["version"] == 1
    assert [(r["id"], r["state"], r["tasks"]) for r in data["escalations"]] == [
        ("E-2", "open", [t2]), ("E-1", "resolved", [t1])]


def test_two_open_escalations_newest_first_in_the_cli_and_the_inbox(repo: Paths, batty,
                                                                     monkeypatch) -> None:
    """Two open escalations and a closed one raised after both: `batty escalations` lists the
    open ones newest first, and INBOX.md puts them before the closed one, newest first too."""
    t1, t2, t3 = add_task(batty, "One"), add_task(batty, "Two"), add_task(batty, "Three")
    for now, tid, reason in (("07:00", t1, "attempts-exhausted"), ("09:00", t2, "merge-conflict"),
                             ("10:00", t3, "respawn-loop")):
        monkeypatch.setenv("BATTY_NOW", f"2026-11-22T{now}:00+00:00")
        raise_(repo, [tid], reason=reason)
    monkeypatch.setenv("BATTY_NOW", "2026-11-22T11:00:00+00:00")
    assert batty("escalations", "resolve", "E-3").code == 0  # the newest, closed
    res = batty("escalations")
    assert res.code == 0, res.err
    rows = [line.split() for line in res.out.splitlines()[1:]]
    assert [r[:4] for r in rows] == [["E-2", "open", t2, "merge-conflict"],
                                     ["E-1", "open", t1, "attempts-exhausted"]]
    assert "2026-11-22 09:00 UTC" in res.out.splitlines()[1]
    res = batty("escalations", "--all")
    assert [line.split()[0] for line in res.out.splitlines()[1:]] == ["E-2", "E-1", "E-3"]
    text = repo.inbox.read_text(encoding="utf-8")
    assert text.startswith("# Inbox\n\n2 escalations wait for you")
    head, closed = text.split("## Demoted / resolved")
    assert head.index(f"### E-2 · {t2} · merge-conflict") < head.index(f"### E-1 · {t1} · attempts-exhausted")
    assert "E-3" not in head and f"- E-3 · {t3}" in closed
    assert "`batty escalations resolve E-2`" in head and "`batty escalations resolve E-1`" in head
    assert git(repo.root, "status", "--porcelain", "board/") == ""


def test_resolving_returns_a_blocked_task_to_todo(repo: Paths, batty) -> None:
    tid = add_task(batty, "Rate-limit logins")
    block(repo, tid)
    record = raise_(repo, [tid], text="3 attempts failed")
    res = batty("escalations", "resolve", record["id"], "--note", "raised the timeout")
    assert res.code == 0, res.err
    assert res.out.splitlines() == [f"{record['id']} resolved", f"{tid} blocked -> todo"]
    p = packet(repo, tid)
    assert p["status"] == "todo"
    [kept] = p["escalations"]
    assert kept["state"] == "resolved" and kept["note"] == "raised the timeout"
    assert kept["closed_at"].endswith("+00:00")
    [ev] = events(repo, "escalation.resolved")
    assert ev["data"] == {"escalation": record["id"], "note": "raised the timeout"}
    moved = events(repo, "task.status")[-1]
    assert (moved["data"]["from"], moved["data"]["to"], moved["data"]["by"]) == ("blocked", "todo", "human")
    subject = git(repo.root, "log", "-1", "--format=%s")
    assert subject == f"batty: {tid} blocked -> todo; inbox: {record['id']} resolved"
    assert "Nothing waits for you." in repo.inbox.read_text(encoding="utf-8")
    assert git(repo.root, "status", "--porcelain", "board/") == ""


def test_a_task_held_by_another_open_escalation_stays_blocked(repo: Paths, batty) -> None:
    tid = add_task(batty, "Flaky")
    block(repo, tid)
    first = raise_(repo, [tid])
    second = raise_(repo, [tid], reason="respawn-loop", source="doctor")
    res = batty("escalations", "resolve", first["id"])
    assert res.code == 0
    assert f"{tid} stays blocked: {second['id']} still open" in res.err
    assert packet(repo, tid)["status"] == "blocked"
    assert batty("escalations", "resolve", second["id"]).out.splitlines()[1] == f"{tid} blocked -> todo"


def test_resolving_twice_changes_nothing(repo: Paths, batty) -> None:
    record = raise_(repo, [add_task(batty, "One")])
    assert batty("escalations", "resolve", record["id"]).code == 0
    head = git(repo.root, "rev-parse", "HEAD")
    res = batty("escalations", "resolve", record["id"].lower())
    assert res.code == 0 and "already resolved" in res.err
    assert git(repo.root, "rev-parse", "HEAD") == head
    assert len(events(repo, "escalation.resolved")) == 1


def test_resolving_an_unknown_or_malformed_id_is_one_line_exit_1(batty) -> None:
    for arg, what in (("E-99", "no escalation E-99"), ("../T-1", "invalid escalation id")):
        res = batty("escalations", "resolve", arg)
        assert res.code == 1
        assert res.err.startswith(f"batty: {what}") and len(res.err.strip().splitlines()) == 1


def test_ids_stay_unique_after_resolving(repo: Paths, batty) -> None:
    tid = add_task(batty, "One")
    assert raise_(repo, [tid])["id"] == "E-1"
    assert batty("escalations", "resolve", "E-1").code == 0
    assert raise_(repo, [tid])["id"] == "E-2"  # a resolved one is not folded into, nor reused


def test_an_escalation_of_two_tasks_is_listed_once(repo: Paths, batty) -> None:
    t1, t2 = add_task(batty, "One"), add_task(batty, "Two")
    raise_(repo, [t1, t2], reason="conflict")
    import json

    data = json.loads(batty("escalations", "--json").out)
    assert len(data["escalations"]) == 1  # one escalation, though it is kept in two packets


def test_a_hand_edited_record_still_renders() -> None:
    """People may edit packets (SPEC 2): odd values are read generously, never a crash."""
    odd = {"id": "E-7", "at": "not a time", "reason": "multi\nline", "tasks": "T-4", "count": "lots"}
    [merged] = inbox.merge([odd])
    assert merged["tasks"] == ["T-4"] and merged["count"] == 1
    text = inbox.render([merged])
    assert "### E-7 · T-4 · multi line" in text and "raised not a time by batty" in text


def test_a_post_its_writer_is_still_announcing_is_not_announced_again(repo: Paths, batty) -> None:  # type: ignore[no-untyped-def]
    """Review finding: a raise announces (its event, a notification that may take seconds)
    outside the board lock, and a tick's flush meanwhile found its post in the outbox and
    announced it a second time. The writer holds its post until it is announced; a writer that
    died lets go with its life, and then flush announces it once."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    batty("task", "add", "one")
    crash = subprocess.run([sys.executable, "-c", (
        "from pathlib import Path\n"
        "from batty.store.paths import Paths\n"
        "from tests.test_escalations import raise_\n"
        f"raise_(Paths(Path({str(repo.root)!r})), ['T-1'])\n")],
        cwd=Path(__file__).resolve().parent.parent, capture_output=True, text=True, timeout=60,
        env={**os.environ, "BATTY_FAILPOINT": "escalations.raise.after-write"})
    assert crash.returncode == -9, crash.stderr  # killed after the record, before the announcement
    (post,) = sorted((repo.state / "escalations.outbox").glob("*.json"))
    holder = subprocess.Popen([sys.executable, "-c", (
        "import sys, time\n"
        "from pathlib import Path\n"
        "from batty.store.locks import Flock\n"
        f"Flock(Path({str(post)!r} + '.lock')).acquire(timeout=0)\n"
        "print('held', flush=True)\n"
        "time.sleep(60)\n")], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        assert batty("doctor").code in (0, 1)
        assert [e for e in events(repo) if e["kind"] == "escalation.raised"] == []  # still its writer's
        assert post.exists()
    finally:
        holder.kill()
        holder.wait(timeout=10)
    assert batty("doctor").code in (0, 1)
    assert len([e for e in events(repo) if e["kind"] == "escalation.raised"]) == 1
    assert not post.exists()
