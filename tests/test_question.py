"""Questions answered (issue 19, SPEC 13): `.batty-question.md`, the question escalation told
once, `batty answer`, and an answered attempt that counts against nothing spent before."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import git
from tests.project import Project
from tests.test_notify import Endpoint

ANSWER = "Return 'Hello, world!' in English"


@pytest.fixture
def hook() -> Endpoint:
    e = Endpoint()
    yield e
    e.close()


def asked(proj: Project, tid: str) -> None:
    proj.ok("dispatch")
    proj.wait_exited(tid)
    proj.ok("verify", tid)


def test_a_question_blocks_the_task_and_an_answer_resumes_it(tmp_path: Path, hook: Endpoint) -> None:
    proj = Project(tmp_path / "proj", seats=1, config={"notify": [{"url_env": "TEAM_HOOK"}]})
    env = {"TEAM_HOOK": hook.url()}
    tid = proj.task("Greet", "ask-then-use-answer")
    proj.ok("dispatch", env=env)
    proj.wait_exited(tid)
    proj.ok("verify", tid, env=env)
    p = proj.packet(tid)
    assert p["status"] == "blocked" and p["verification"]["result"] == "question"
    (esc,) = proj.events("escalation.raised", tid)
    assert esc["data"]["reason"] == "question"
    assert esc["data"]["text"] == "Which greeting should app.greet() return?"
    inbox = proj.paths.inbox.read_text()
    assert "question" in inbox and "Which greeting should app.greet() return?" in inbox
    assert len(proj.events("question.asked", tid)) == 1
    # the file never reaches the branch, nor stays in the checkout
    assert not (proj.paths.worktree(tid) / ".batty-question.md").exists()
    assert ".batty-question.md" not in git(proj.root, "ls-tree", "-r", "--name-only", f"batty/{tid}")
    # told once, whatever runs meanwhile
    for _ in range(2):
        proj.ok("tick", env=env)
    assert len([r for r in hook.received if "question" in str(r["body"])]) == 1
    assert proj.status(tid) == "blocked"
    # the answer
    res = proj.ok("answer", tid, ANSWER, env=env)
    assert f"{esc['data']['escalation']} answered" in res.out
    p = proj.packet(tid)
    assert p["status"] == "todo" and p["answer"]["text"] == ANSWER
    (answered,) = proj.events("question.answered", tid)
    assert answered["data"]["escalation"] == esc["data"]["escalation"]
    proj.ok("dispatch", env=env)
    prompt = (proj.paths.run_dir(tid, 2) / "prompt.md").read_text()
    assert "Which greeting should app.greet() return?" in prompt and ANSWER in prompt
    proj.wait_exited(tid)
    proj.ok("verify", tid, env=env)
    assert proj.status(tid) == "review", proj.packet(tid).get("feedback")
    assert ANSWER in git(proj.root, "show", f"batty/{tid}:src/app.py")


def test_the_answered_attempt_does_not_count_against_max_attempts(tmp_path: Path) -> None:
    proj = Project(tmp_path / "proj", seats=1, config={"gates": {"max_attempts": 2}})
    script = ['if [ "$BATTY_ATTEMPT" = 1 ]; then echo "broken" > src/broken.py; git add -A;'
              ' git commit -qm broken; fi',  # attempt 1 fails the tests
              'if [ "$BATTY_ATTEMPT" = 2 ]; then git rm -q src/broken.py; git commit -qm fix;'
              ' echo "Which name?" > .batty-question.md; fi',
              'if [ "$BATTY_ATTEMPT" = 3 ]; then echo "raise SystemExit(1)" > src/broken.py;'
              ' git add -A; git commit -qm again; fi',  # the answered attempt fails too
              ]
    tid = proj.task("Fails, asks, fails", script)
    asked(proj, tid)
    assert proj.status(tid) == "in-progress"  # attempt 1 of 2 failed
    asked(proj, tid)
    assert proj.status(tid) == "blocked"  # attempt 2: a question
    proj.ok("answer", tid, "Use 'plus'")
    asked(proj, tid)
    assert "This is attempt 1 of 2." in (proj.paths.run_dir(tid, 3) / "prompt.md").read_text()
    p = proj.packet(tid)
    # attempt 3 failed: had the question's attempt counted, 3 of 2 would be spent and it blocked
    assert p["attempt"] == 3 and p["status"] == "in-progress", p


def test_a_question_that_is_a_link_is_not_read(tmp_path: Path) -> None:
    proj = Project(tmp_path / "proj", seats=1)
    secret = tmp_path / "secret.txt"
    secret.write_text("the-secret-token\n")
    tid = proj.task("Link", [f"ln -s {secret} .batty-question.md"])
    asked(proj, tid)
    assert proj.status(tid) == "blocked"
    (esc,) = proj.events("escalation.raised", tid)
    assert "not a regular file" in esc["data"]["text"]
    assert "the-secret-token" not in proj.paths.inbox.read_text()


def test_a_committed_question_is_taken_off_the_branch(tmp_path: Path) -> None:
    proj = Project(tmp_path / "proj", seats=1)
    tid = proj.task("Commits its question", ["echo '# work' >> src/app.py",
                                              "echo 'May I?' > .batty-question.md",
                                              "git add -A", "git commit -qm 'work and a question'"])
    asked(proj, tid)
    assert proj.status(tid) == "blocked"
    assert proj.events("escalation.raised", tid)[0]["data"]["text"] == "May I?"
    files = git(proj.root, "diff", "--name-only", f"main...batty/{tid}").splitlines()
    assert files == ["src/app.py"]


def test_answer_without_an_open_question_is_one_line(tmp_path: Path) -> None:
    proj = Project(tmp_path / "proj", seats=1)
    tid = proj.task("No question", "succeed")
    res = proj.batty("answer", tid, "yes")
    assert res.code == 1 and res.err == (f"batty: {tid} has no open question (see `batty escalations`;"
                                         " a question is asked by its agent)\n")
    res = proj.batty("answer", tid, " ")
    assert res.code == 1 and "the answer is empty" in res.err
