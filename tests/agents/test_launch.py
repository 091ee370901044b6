"""build_launch: argv, the environment allow-list, placeholders, seat folders (SPEC 6)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from batty.agents import AgentConfigError, Launch, build_launch

HOSTILE = "Fix it. {task} {worktree} $(rm -rf ~) `id` '\"; rm -rf / #\n{prompt}\n"

ENVIRON = {
    "PATH": "/usr/local/bin:/usr/bin:/bin",
    "HOME": "/home/human",
    "LANG": "en_GB.UTF-8",
    "TERM": "xterm-256color",
    "GIT_AUTHOR_NAME": "Human",
    "ANTHROPIC_API_KEY": "sk-ant",
    "ANTHROPIC_BASE_URL": "http://127.0.0.1:9/",
    "CLAUDE_CODE_MAX_RETRIES": "2",
    "CLAUDECODE": "1",
    "CLAUDE_CODE_ENTRYPOINT": "cli",
    "CLAUDE_CODE_SSE_PORT": "4242",
    "OPENAI_API_KEY": "sk-oai",
    "OPENAI_BASE_URL": "http://127.0.0.1:9/v1",
    "CODEX_SANDBOX": "seatbelt",
    "AIDER_DARK_MODE": "1",
    "GEMINI_API_KEY": "g",
    "GOOGLE_CLOUD_PROJECT": "p",
    "BATTY_NOTIFY_URL": "discord://secret-webhook",
    "CLAUDE_WEBHOOK": "https://hooks.example/secret",
    "AWS_SECRET_ACCESS_KEY": "aws",
    "SSH_AUTH_SOCK": "/tmp/ssh",
}
SECRETS = {"BATTY_NOTIFY_URL", "CLAUDE_WEBHOOK"}


@pytest.fixture
def place(tmp_path: Path) -> dict[str, Any]:
    worktree = tmp_path / "repo" / ".batty" / "worktrees" / "T-7"
    worktree.mkdir(parents=True)
    run = tmp_path / "repo" / ".batty" / "runs" / "T-7" / "1"
    run.mkdir(parents=True)
    prompt = run / "prompt.md"
    prompt.write_text(HOSTILE, encoding="utf-8")
    return {"prompt_file": prompt, "task": "T-7", "attempt": 2, "worktree": worktree,
            "seat_home": tmp_path / "repo" / ".batty" / "seats" / "eng-1",
            "environ": ENVIRON, "secrets": SECRETS}


def launch(name: str, entry: dict[str, Any] | None, place: dict[str, Any], **kw: Any) -> Launch:
    return build_launch(name, entry, **{**place, **kw})


BUILTIN_CLIS = ["claude", "codex", "aider", "gemini"]


@pytest.mark.parametrize("name", [*BUILTIN_CLIS, "shell", "mybot"])
def test_env_is_an_allow_list(name: str, place: dict[str, Any]) -> None:
    entry = {"argv": ["mybot", "{prompt_file}"]} if name == "mybot" else {}
    got = launch(name, entry, place, script=["true"])
    env = got.env
    assert env["HOME"] == str(place["seat_home"])  # never the user's home
    assert env["PATH"] == ENVIRON["PATH"]
    assert env["LANG"] == ENVIRON["LANG"]
    assert env["TERM"] == ENVIRON["TERM"]
    assert env["BATTY_TASK"] == "T-7"
    assert env["BATTY_ATTEMPT"] == "2"
    assert env["BATTY_PROMPT_FILE"] == str(place["prompt_file"])
    assert env["BATTY_WORKTREE"] == str(place["worktree"])
    for key in ("BATTY_NOTIFY_URL", "CLAUDE_WEBHOOK", "AWS_SECRET_ACCESS_KEY", "SSH_AUTH_SOCK",
                "CLAUDECODE", "CLAUDE_CODE_ENTRYPOINT", "CLAUDE_CODE_SSE_PORT", "CODEX_SANDBOX"):
        assert key not in env, key
    assert got.cwd == place["worktree"]


@pytest.mark.parametrize("name, passes, blocks", [
    ("claude", ["ANTHROPIC_API_KEY", "ANTHROPIC_BASE_URL", "CLAUDE_CODE_MAX_RETRIES"],
     ["OPENAI_API_KEY", "GEMINI_API_KEY", "AIDER_DARK_MODE"]),
    ("codex", ["OPENAI_API_KEY", "OPENAI_BASE_URL"], ["ANTHROPIC_API_KEY", "AIDER_DARK_MODE"]),
    ("aider", ["OPENAI_API_KEY", "AIDER_DARK_MODE"], ["ANTHROPIC_API_KEY", "GEMINI_API_KEY"]),
    ("gemini", ["GEMINI_API_KEY", "GOOGLE_CLOUD_PROJECT"], ["OPENAI_API_KEY", "ANTHROPIC_API_KEY"]),
    ("shell", [], ["OPENAI_API_KEY", "ANTHROPIC_API_KEY", "GEMINI_API_KEY"]),
])
def test_each_cli_gets_its_own_prefixes(name: str, passes: list[str], blocks: list[str],
                                        place: dict[str, Any]) -> None:
    env = launch(name, {}, place, script=["true"]).env
    for key in passes:
        assert env[key] == ENVIRON[key]
    for key in blocks:
        assert key not in env


def test_a_secret_never_reaches_the_child_even_through_config(place: dict[str, Any]) -> None:
    entry = {"env": {"CLAUDE_WEBHOOK": "from-config"}, "passenv": ["BATTY_*", "CLAUDE_*"]}
    env = launch("claude", entry, place).env
    assert "CLAUDE_WEBHOOK" not in env
    assert "BATTY_NOTIFY_URL" not in env


def test_config_env_and_passenv(place: dict[str, Any]) -> None:
    entry = {"argv": ["mybot"], "env": {"MYBOT_MODE": "fast", "LANG": "C"},
             "passenv": ["AWS_*", "SSH_AUTH_SOCK"]}
    env = launch("mybot", entry, place).env
    assert env["MYBOT_MODE"] == "fast"
    assert env["LANG"] == "C"  # config env wins over the base
    assert env["AWS_SECRET_ACCESS_KEY"] == "aws"
    assert env["SSH_AUTH_SOCK"] == "/tmp/ssh"
    assert "OPENAI_API_KEY" not in env  # a template gets no CLI prefixes


def test_the_launch_env_is_complete(place: dict[str, Any]) -> None:
    """The child sees exactly Launch.env: run `env` with it, through no shell."""
    got = launch("mybot", {"argv": ["env"], "prompt": "stdin"}, place)
    out = subprocess.run(got.argv, env=got.env, cwd=got.cwd, stdin=subprocess.DEVNULL,
                         capture_output=True, text=True, timeout=30, check=True).stdout
    seen = dict(line.split("=", 1) for line in out.splitlines() if "=" in line)
    assert set(seen) - {"PWD", "SHLVL", "_"} == set(got.env)


def test_claude_argv(place: dict[str, Any]) -> None:
    got = launch("claude", {"model": "sonnet", "args": ["--max-turns", "80"]}, place)
    assert got.argv[:2] == ["claude", "-p"]
    assert got.argv[got.argv.index("--output-format") + 1] == "stream-json"
    assert "--verbose" in got.argv
    assert got.argv[got.argv.index("--permission-mode") + 1] == "acceptEdits"
    assert "--dangerously-skip-permissions" not in got.argv
    assert any(a.startswith("--allowedTools=") and "Bash(git commit:*)" in a for a in got.argv)
    assert "--no-session-persistence" in got.argv
    assert got.argv[got.argv.index("--model") + 1] == "sonnet"
    assert got.argv[-2:] == ["--max-turns", "80"]  # config args last
    assert got.stdin_path == place["prompt_file"]  # the prompt is stdin, not an argument
    assert HOSTILE not in got.argv
    seat = place["seat_home"]
    assert got.env["CLAUDE_CONFIG_DIR"] == str(seat / ".claude")
    assert (seat / ".claude").is_dir()
    for key in ("DISABLE_TELEMETRY", "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC",
                "DISABLE_AUTOUPDATER"):
        assert got.env[key] == "1"


def test_codex_argv(place: dict[str, Any]) -> None:
    got = launch("codex", {"model": "gpt-5", "args": ["-c", "model_reasoning_effort=low"]}, place)
    argv = got.argv
    assert argv[:2] == ["codex", "exec"]
    for flag in ("--json", "--ephemeral", "--skip-git-repo-check",
                 "--dangerously-bypass-approvals-and-sandbox"):
        assert flag in argv
    assert "check_for_update_on_startup=false" in argv
    assert argv[argv.index("--disable", argv.index("plugins")) + 1] == "unbounded_connection_retries"
    # Codex ignores OPENAI_BASE_URL: the adapter turns it into a provider
    assert 'model_provider="batty"' in argv
    [provider] = [a for a in argv if a.startswith("model_providers.batty=")]
    assert '"http://127.0.0.1:9/v1"' in provider and 'env_key="OPENAI_API_KEY"' in provider
    assert argv[argv.index("--model") + 1] == "gpt-5"
    assert argv[-3:] == ["-c", "model_reasoning_effort=low", "-"]  # `-`: prompt from stdin
    assert got.stdin_path == place["prompt_file"]
    assert got.env["CODEX_HOME"] == str(place["seat_home"] / ".codex")


def test_codex_without_a_base_url_uses_its_default_provider(place: dict[str, Any]) -> None:
    environ = {k: v for k, v in ENVIRON.items() if k != "OPENAI_BASE_URL"}
    argv = launch("codex", {}, place, environ=environ).argv
    assert not any("model_provider" in a for a in argv)


def test_aider_argv(place: dict[str, Any]) -> None:
    entry = {"model": "openai/gpt-4.1", "args": ["src/app.py"],
             "price": {"input_per_mtok": 2.0, "output_per_mtok": 8.0}}
    got = launch("aider", entry, place)
    argv, seat = got.argv, place["seat_home"]
    assert argv[0] == "aider"
    for flag in ("--yes-always", "--no-gitignore", "--no-dirty-commits", "--no-check-update",
                 "--no-analytics", "--no-pretty", "--no-fancy-input", "--no-detect-urls"):
        assert flag in argv
    assert argv[argv.index("--message-file") + 1] == str(place["prompt_file"])
    assert argv[argv.index("--chat-history-file") + 1] == str(seat / "aider" / "chat.md")
    assert argv[argv.index("--input-history-file") + 1] == str(seat / "aider" / "input.hist")
    assert argv[argv.index("--model") + 1] == "openai/gpt-4.1"
    metadata = json.loads(Path(argv[argv.index("--model-metadata-file") + 1]).read_text())
    assert metadata["openai/gpt-4.1"]["input_cost_per_token"] == pytest.approx(2e-6)
    assert argv[-1] == "src/app.py"
    assert got.stdin_path is None
    assert got.env["LITELLM_LOCAL_MODEL_COST_MAP"] == "True"
    cache = seat / ".aider" / "caches" / "model_prices_and_context_window.json"
    assert json.loads(cache.read_text())  # non-empty: an empty {} is refetched
    # touched at each launch: a day-old one is refetched
    two_days_ago = cache.stat().st_mtime - 2 * 86400
    os.utime(cache, (two_days_ago, two_days_ago))
    launch("aider", entry, place)
    assert cache.stat().st_mtime > two_days_ago + 86400


def test_aider_refreshes_an_empty_price_cache(place: dict[str, Any]) -> None:
    cache = place["seat_home"] / ".aider" / "caches" / "model_prices_and_context_window.json"
    cache.parent.mkdir(parents=True)
    cache.write_text("{}")
    launch("aider", {}, place)
    assert json.loads(cache.read_text())


def test_gemini_argv(place: dict[str, Any]) -> None:
    got = launch("gemini", {"model": "gemini-2.5-pro"}, place)
    argv = got.argv
    assert argv[0] == "gemini"
    assert argv[argv.index("--output-format") + 1] == "stream-json"
    assert argv[argv.index("--approval-mode") + 1] == "yolo"
    assert argv[-2:] == ["--prompt", HOSTILE]  # one argument, verbatim
    assert got.stdin_path is None


def test_binary_overrides_the_program(place: dict[str, Any]) -> None:
    assert launch("claude", {"binary": "/opt/claude/bin/claude"}, place).argv[0] == "/opt/claude/bin/claude"


def test_template_placeholders_substitute_inside_one_argument(place: dict[str, Any]) -> None:
    entry = {"argv": ["mybot", "--task={task}#{attempt}", "--in", "{prompt_file}",
                      "--cwd", "{worktree}", '{"literal": {}}'], "prompt": "file"}
    got = launch("mybot", entry, place)
    assert got.argv == ["mybot", "--task=T-7#2", "--in", str(place["prompt_file"]),
                        "--cwd", str(place["worktree"]), '{"literal": {}}']
    assert got.stdin_path is None


def test_a_hostile_prompt_stays_literal(place: dict[str, Any], tmp_path: Path) -> None:
    entry = {"argv": [sys.executable, "-c", "import json,sys; print(json.dumps(sys.argv[1:]))",
                      "[{prompt}]", "{task}"], "prompt": "arg"}
    got = launch("mybot", entry, place)
    # the {task} inside the prompt is not substituted: one pass over the template only
    assert got.argv[3] == f"[{HOSTILE}]"
    assert got.argv[4] == "T-7"
    out = subprocess.run(got.argv, env=got.env, cwd=got.cwd, stdin=subprocess.DEVNULL,
                         capture_output=True, text=True, timeout=30, check=True).stdout
    assert json.loads(out) == [f"[{HOSTILE}]", "T-7"]
    assert Path(got.env["HOME"]).is_dir()  # and no shell ran `rm -rf ~`


@pytest.mark.parametrize("mode, stdin, tail", [
    ("stdin", True, ["mybot"]),
    ("file", False, ["mybot", "PROMPT_FILE"]),
    ("arg", False, ["mybot", HOSTILE]),
])
def test_template_prompt_modes(mode: str, stdin: bool, tail: list[str],
                               place: dict[str, Any]) -> None:
    got = launch("mybot", {"argv": ["mybot"], "prompt": mode}, place)
    expected = [str(place["prompt_file"]) if a == "PROMPT_FILE" else a for a in tail]
    assert got.argv == expected
    assert got.stdin_path == (place["prompt_file"] if stdin else None)


def test_template_default_prompt_mode_is_stdin(place: dict[str, Any]) -> None:
    assert launch("mybot", {"argv": ["mybot"]}, place).stdin_path == place["prompt_file"]


def test_shell_agent_writes_its_script_next_to_the_prompt(place: dict[str, Any]) -> None:
    got = launch("shell", {}, place, script=["echo one", "echo two"])
    script = place["prompt_file"].parent / "script.json"
    from batty.agents import scripted

    assert got.argv == [sys.executable, "-I", "-S", scripted.__file__, "--script", str(script)]
    assert json.loads(script.read_text()) == ["echo one", "echo two"]
    assert HOSTILE not in " ".join(got.argv)
    assert got.stdin_path is None


def test_shell_agent_needs_a_script(place: dict[str, Any]) -> None:
    with pytest.raises(AgentConfigError, match="script"):
        launch("shell", {}, place)


def test_invalid_entry_is_refused(place: dict[str, Any]) -> None:
    with pytest.raises(AgentConfigError, match="agents.mybot.argv"):
        launch("mybot", {}, place)


def test_seat_home_inside_the_worktree_is_refused(place: dict[str, Any]) -> None:
    with pytest.raises(AgentConfigError, match="inside the worktree"):
        launch("claude", {}, place, seat_home=place["worktree"] / ".seat")


def test_seat_gitconfig_includes_the_users(place: dict[str, Any], tmp_path: Path) -> None:
    """HOME is the seat's, so git would miss the user's identity without the include."""
    user_home = tmp_path / "human"
    user_home.mkdir()
    subprocess.run(["git", "config", "--file", str(user_home / ".gitconfig"), "user.name",
                    "Included Person"], check=True, timeout=30)
    environ = {"PATH": ENVIRON["PATH"], "HOME": str(user_home)}
    got = launch("mybot", {"argv": ["git"]}, place, environ=environ)
    out = subprocess.run(["git", "config", "user.name"], env=got.env, cwd=got.cwd,
                         capture_output=True, text=True, timeout=30)
    assert out.stdout.strip() == "Included Person"


def test_user_credentials_are_linked_into_the_seat(place: dict[str, Any], tmp_path: Path) -> None:
    user_home = tmp_path / "human"
    (user_home / ".codex").mkdir(parents=True)
    (user_home / ".codex" / "auth.json").write_text("{}")
    (user_home / ".claude").mkdir()
    (user_home / ".claude" / ".credentials.json").write_text("{}")
    environ = {"PATH": ENVIRON["PATH"], "HOME": str(user_home)}
    seat = place["seat_home"]
    launch("codex", {}, place, environ=environ)
    launch("claude", {}, place, environ=environ)
    assert (seat / ".codex" / "auth.json").resolve() == (user_home / ".codex" / "auth.json")
    assert (seat / ".claude" / ".credentials.json").is_symlink()


def test_launch_is_repeatable(place: dict[str, Any]) -> None:
    """A respawn builds the same launch over the same seat folders."""
    first = launch("aider", {"model": "m"}, place)
    again = launch("aider", {"model": "m"}, place)
    assert first == again
