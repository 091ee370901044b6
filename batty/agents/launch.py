"""build_launch: pick the adapter, let it write the seat's config, compose the environment."""

from __future__ import annotations

import importlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from batty.agents import AgentConfigError, Launch, env, schema


@dataclass(frozen=True)
class Context:
    name: str
    entry: dict[str, Any]
    prompt_file: Path
    task: str
    attempt: int
    worktree: Path
    seat_home: Path
    environ: dict[str, str]
    secrets: frozenset[str]
    script: list[str] | None
    # the user's login files linked into the seat (link_user_files): shown to the sandbox
    logins: list[Path] = field(default_factory=list)

    @property
    def model(self) -> str | None:
        return self.entry.get("model")

    @property
    def args(self) -> list[str]:
        return list(self.entry.get("args") or [])

    @property
    def binary(self) -> str:
        return schema.binary_of(self.name, self.entry)

    def seat_dir(self, *parts: str) -> Path:
        """A folder under the seat home, created."""
        path = self.seat_home.joinpath(*parts)
        path.mkdir(parents=True, exist_ok=True)
        return path


@dataclass
class Parts:
    """What an adapter decides; ``launch.build`` turns it into a ``Launch``."""

    argv: list[str]
    env: dict[str, str] = field(default_factory=dict)  # seat folders, quiet settings
    stdin_path: Path | None = None
    files: list[Path] = field(default_factory=list)


class Adapter(Protocol):
    PREFIXES: tuple[str, ...]

    def parts(self, ctx: Context) -> Parts: ...


def adapter(name: str) -> Adapter:
    module = name if name in ("claude", "codex", "aider", "gemini", "shell") else "template"
    return importlib.import_module(f"batty.agents.{module}")  # type: ignore[return-value]


def build(ctx: Context) -> Launch:
    problems = schema.validate(ctx.name, ctx.entry)
    if problems:
        key, what, valid = problems[0]
        raise AgentConfigError(f"{key}: {what}", valid=valid)
    worktree = ctx.worktree.resolve()
    seat_home = ctx.seat_home.resolve()
    if seat_home == worktree or worktree in seat_home.parents:
        # The CLIs write history, caches and logs there: inside the worktree they would
        # land in the agent's diff and fail the scope gate.
        raise AgentConfigError(f"seat home {seat_home} is inside the worktree {worktree}",
                               valid="a folder outside every worktree (.batty/seats/<seat>)")
    ctx.seat_dir()
    gitconfig = write_gitconfig(ctx)
    mod = adapter(ctx.name)
    parts = mod.parts(ctx)
    fixed = {
        "HOME": str(ctx.seat_home),
        "BATTY_TASK": ctx.task,
        "BATTY_ATTEMPT": str(ctx.attempt),
        "BATTY_PROMPT_FILE": str(ctx.prompt_file),
        "BATTY_WORKTREE": str(ctx.worktree),
    }
    child_env = env.compose(
        ctx.environ,
        prefixes=mod.PREFIXES,
        passenv=ctx.entry.get("passenv") or (),
        adapter=parts.env,
        config=ctx.entry.get("env") or {},
        fixed=fixed,
        secrets=ctx.secrets,
    )
    return Launch(argv=parts.argv, env=child_env, stdin_path=parts.stdin_path, cwd=ctx.worktree,
                  files=(gitconfig, *parts.files), logins=tuple(ctx.logins))


def write_gitconfig(ctx: Context) -> Path:
    """The seat's ~/.gitconfig: includes the user's own, which the seat's HOME hides.

    Without it an agent's `git commit` fails on a machine where the identity lives in
    ~/.gitconfig. git skips an include whose file does not exist.
    """
    lines = ["# Written by batty at each launch: the seat's HOME is not the user's.", "[include]"]
    user_home = ctx.environ.get("HOME")
    xdg = ctx.environ.get("XDG_CONFIG_HOME") or (f"{user_home}/.config" if user_home else None)
    for source in (f"{user_home}/.gitconfig" if user_home else None, f"{xdg}/git/config" if xdg else None):
        if source and Path(source).resolve() != (ctx.seat_home / ".gitconfig").resolve():
            lines.append(f"\tpath = {_git_quote(source)}")
    path = ctx.seat_home / ".gitconfig"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _git_quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def link_user_files(ctx: Context, env_var: str, home_sub: str, names: tuple[str, ...],
                    target_dir: Path) -> None:
    """Link the user's own login files (``$env_var`` or ``$HOME/home_sub``) into a seat folder.

    Linked, not copied: a token refresh by one seat is then seen by the others and the user.
    """
    user_dir = ctx.environ.get(env_var)
    if not user_dir and ctx.environ.get("HOME"):
        user_dir = str(Path(ctx.environ["HOME"]) / home_sub)
    if not user_dir or Path(user_dir).resolve() == target_dir.resolve():
        return
    for name in names:
        source, target = Path(user_dir) / name, target_dir / name
        if source.is_file() and not target.exists() and not target.is_symlink():
            target.symlink_to(source.resolve())
        # what the sandbox shows of the user's home: this file, when the seat's link still names
        # it (never what a link an agent put in the seat names: SPEC 11)
        if source.is_file() and target.is_symlink() and os.readlink(target) == str(source.resolve()):
            ctx.logins.append(source.resolve())
