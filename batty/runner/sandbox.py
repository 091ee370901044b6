"""The boundary around every agent and every gate test run (SPEC 11, issue 14): bubblewrap.

:func:`agent_argv` and :func:`gate_argv` put a command inside ``bwrap``. Inside, the process
sees the system's programs read-only (/usr, /etc and the merged-/usr links), the toolchains its
programs live in read-only (each PATH entry's prefix, the Python batty runs on, a virtualenv's
base interpreter), the control repository's object store read-only (the checkouts read it
through alternates), a private /tmp, /proc of its own PID namespace, and the paths named for it:
an agent its checkout and its seat's HOME (writable) and the login files its CLI adapter linked
there; a gate run its scratch checkout (writable) and a private HOME. Everything else of the
host -- the user's home, the control checkout with its board/ and .batty/, other tasks'
checkouts -- is not there. ``--die-with-parent`` and a PID namespace of its own: when the
command (or batty's wrapper) ends, everything it started ends with it.

``sandbox.mode: none`` runs commands as they are; :func:`problem` says in one line why bwrap
cannot run here (not installed, or no namespaces), and dispatch and the gates refuse to work
then rather than run without the boundary.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from batty.errors import BattyError

BWRAP = "bwrap"
PROBE_TIMEOUT_S = 10
# The system, shown read-only. Symlinks among them (merged /usr: /bin -> usr/bin) are made
# as the same symlinks inside.
SYSTEM = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc", "/opt",
          "/nix", "/snap")
INSTALL = "install bubblewrap (Debian/Ubuntu: apt-get install bubblewrap)"


class Unavailable(BattyError):
    """``sandbox.mode: bwrap`` and bubblewrap cannot run here: nothing is dispatched or tested."""


@dataclass(frozen=True)
class Policy:
    """What config says of the boundary (``sandbox:`` and ``gates.network``)."""

    mode: str = "bwrap"                 # bwrap | none
    network: bool = True                # the agents' network
    gate_network: bool = False          # the test runs' network
    binds: tuple[str, ...] = ()         # PATH (read-only) or PATH:rw

    @property
    def on(self) -> bool:
        return self.mode != "none"


def policy(cfg: object) -> Policy:
    """The :class:`Policy` of a loaded config (its ``sandbox`` and ``gates.network``)."""
    box = getattr(cfg, "sandbox", None)
    gates = getattr(cfg, "gates", None)
    if box is None:
        return Policy()
    return Policy(mode=box.mode, network=box.network != "none", binds=tuple(box.binds),
                  gate_network=getattr(gates, "network", "none") == "on")


_problem: dict[str, str | None] = {}


def problem() -> str | None:
    """None when bubblewrap can make its namespaces here; else one line saying what to do.
    Asked once a process (one bwrap run, a few milliseconds)."""
    if "bwrap" in _problem:
        return _problem["bwrap"]
    found: str | None = None
    path = shutil.which(BWRAP)
    if path is None:
        found = f"sandbox.mode is bwrap but bubblewrap is not installed: {INSTALL}, or set sandbox.mode: none"
    else:
        try:
            proc = subprocess.run([path, *_namespaces(network=False), "--ro-bind", "/", "/",
                                   "--proc", "/proc", "--dev", "/dev", "true"],
                                  capture_output=True, text=True, timeout=PROBE_TIMEOUT_S,
                                  stdin=subprocess.DEVNULL)
            if proc.returncode != 0:
                why = (proc.stderr.strip().splitlines() or [f"exit {proc.returncode}"])[-1]
                found = (f"sandbox.mode is bwrap but bubblewrap cannot make namespaces here ({why}): "
                         "allow user namespaces (sysctl kernel.unprivileged_userns_clone=1, "
                         "or run as root), or set sandbox.mode: none")
        except (OSError, subprocess.TimeoutExpired) as e:
            found = f"sandbox.mode is bwrap but bubblewrap does not run ({e}): {INSTALL}, or set sandbox.mode: none"
    _problem["bwrap"] = found
    return found


def require(pol: Policy) -> None:
    """Raise :class:`Unavailable` (one line: what to install or set) when ``pol`` wants bwrap
    and it cannot run here. Never a silent fallback to no sandbox."""
    if pol.on:
        why = problem()
        if why is not None:
            raise Unavailable(why, file="board/config.yaml")


def standing_warning(pol: Policy) -> str | None:
    """What `status` and `doctor --check` say for as long as the boundary is off or broken."""
    if not pol.on:
        return ("warning: sandbox.mode is none: agents and test runs run as you, seeing your home, "
                "the control checkout and each other (docs/gates.md, \"Without the sandbox\")")
    why = problem()
    return f"warning: {why}; nothing is dispatched or tested" if why else None


def _namespaces(*, network: bool) -> list[str]:
    out = ["--die-with-parent", "--unshare-all", "--cap-drop", "ALL"]
    if network:
        out.append("--share-net")
    return out


def _home() -> Path | None:
    import pwd

    try:
        return Path(pwd.getpwuid(os.getuid()).pw_dir)
    except KeyError:
        return None


def toolchains(path_var: str, extra: Iterable[str] = ()) -> list[str]:
    """Folders to show read-only so that the programs on ``path_var`` run: each entry's prefix
    (``~/.pyenv/shims`` -> ``~/.pyenv``, ``venv/bin`` -> ``venv``, an npm prefix), batty's own
    Python and the base interpreter of a virtualenv. Never the user's home itself, nor a folder
    holding it, nor one under the system folders (shown anyway)."""
    homes = {str(h) for h in (_home(), Path(os.environ.get("HOME") or "/")) if h is not None}
    found: list[str] = []

    def add(folder: str) -> None:
        folder = os.path.realpath(folder)
        if not os.path.isdir(folder) or folder in found:
            return
        if folder == "/" or any(folder == h or h.startswith(folder + os.sep) for h in homes):
            return
        if any(folder == s or folder.startswith(s + os.sep) for s in SYSTEM):
            return
        found.append(folder)
        cfg = Path(folder, "pyvenv.cfg")
        if cfg.is_file():  # a virtualenv: its interpreter lives in the base's prefix
            for line in cfg.read_text(errors="replace").splitlines():
                key, _, value = line.partition("=")
                if key.strip() == "home" and value.strip():
                    add(str(Path(value.strip()).parent))

    for entry in [*path_var.split(os.pathsep), *extra]:
        if not entry or not os.path.isabs(entry):
            continue
        entry = os.path.realpath(entry)
        parent = os.path.dirname(entry)
        if os.path.basename(parent) == ".local" and parent in {os.path.join(h, ".local") for h in homes}:
            add(entry)  # ~/.local/bin: itself and the user site, not the rest of ~/.local
            add(os.path.join(parent, "lib"))
        elif os.path.basename(entry) in ("bin", "sbin", "shims") or os.path.isfile(os.path.join(parent, "pyvenv.cfg")):
            add(parent)
        elif os.path.basename(entry) == ".bin" and os.path.basename(parent) == "node_modules":
            add(os.path.dirname(parent))
        else:
            add(entry)
    for prefix in (sys.prefix, sys.base_prefix):
        add(prefix)
    return found


def _binds(spec: Sequence[str]) -> list[tuple[str, str]]:
    """``sandbox.binds`` as (path, "ro"|"rw")."""
    out = []
    for item in spec:
        path, mode = (item[:-3], "rw") if item.endswith(":rw") else (item.removesuffix(":ro"), "ro")
        out.append((os.path.expanduser(path), mode))
    return out


def _mounts(mounts: list[tuple[str, str]]) -> list[str]:
    """bwrap arguments for (path, ro|rw|tmpfs) mounts: parents before children, so a writable
    checkout under a read-only bind stays writable; each path shown where it is on the host."""
    out: list[str] = []
    seen: set[str] = set()
    for path, mode in sorted(mounts, key=lambda m: (m[0].count(os.sep), m[0])):
        if path in seen:
            continue
        seen.add(path)
        if mode == "tmpfs":
            out += ["--tmpfs", path]
        elif os.path.lexists(path):
            out += ["--bind" if mode == "rw" else "--ro-bind", path, path]
    return out


def _system() -> list[str]:
    out: list[str] = []
    for path in SYSTEM:
        if os.path.islink(path):
            out += ["--symlink", os.readlink(path), path]
        elif os.path.isdir(path):
            out += ["--ro-bind", path, path]
    return out


def objects_dir(checkout: Path) -> str | None:
    """The object store a checkout reads through alternates or shares through a link (the
    control repository's)."""
    objects = checkout / ".git" / "objects"
    if objects.is_symlink():
        return os.path.realpath(objects)
    try:
        text = (checkout / ".git" / "objects" / "info" / "alternates").read_text()
    except OSError:
        return None
    first = next((line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")), None)
    return os.path.realpath(first) if first else None


# Secrets that live at the top of a toolchain folder shown read-only (a crates.io token in
# ~/.cargo, an npm or PyPI token): hidden behind an empty file.
SECRET_FILES = ("credentials", "credentials.toml", ".credentials.json", "auth.json", ".netrc",
                ".npmrc", ".pypirc", ".git-credentials")


def _masks(mounts: list[tuple[str, str]]) -> list[str]:
    out: list[str] = []
    for path, mode in mounts:
        if mode != "ro":
            continue
        for name in SECRET_FILES:
            secret = os.path.join(path, name)
            if os.path.isfile(secret):
                out += ["--ro-bind", "/dev/null", secret]
    return out


def _wrap(command: Sequence[str], *, network: bool, mounts: list[tuple[str, str]], cwd: Path,
          hide: Iterable[Path] = ()) -> list[str]:
    """The bwrap argv; a read-only mount that would show a ``hide`` folder whole (a PATH entry
    in the control checkout, a toolchain holding it) is left out."""
    hidden = [os.path.realpath(h) for h in hide]
    mounts = [(p, m) for p, m in mounts
              if m != "ro" or not any(h == p or h.startswith(p.rstrip(os.sep) + os.sep) for h in hidden)]
    bwrap = shutil.which(BWRAP) or BWRAP
    return [bwrap, *_namespaces(network=network), *_system(), "--proc", "/proc", "--dev", "/dev",
            *_mounts(mounts), *_masks(mounts), "--chdir", str(cwd), "--", *command]


def agent_argv(command: Sequence[str], *, pol: Policy, checkout: Path, home: Path, env_path: str,
               read: Iterable[Path] = (), logins: Iterable[Path] = (),
               hide: Iterable[Path] = ()) -> list[str]:
    """``command`` inside the agent's boundary: ``checkout`` and ``home`` writable, ``read``
    (the prompt and script files) read-only, ``logins`` (the user's login files its CLI adapter
    linked into ``home``) writable at their own place so that the links resolve and a token
    refresh lands, with the network unless ``sandbox.network: none``. ``command`` unchanged
    under ``sandbox.mode: none``."""
    if not pol.on:
        return list(command)
    mounts: list[tuple[str, str]] = [("/tmp", "tmpfs"), ("/var/tmp", "tmpfs")]
    mounts += [(t, "ro") for t in toolchains(env_path, _program_dirs(command))]
    objects = objects_dir(checkout)
    if objects:
        mounts.append((objects, "ro"))
    mounts += [(str(f), "ro") for f in read]
    mounts += [(str(t), "rw") for t in logins]
    mounts += [(str(home), "rw"), (str(checkout), "rw")]
    mounts += _binds(pol.binds)
    return _wrap(command, network=pol.network, mounts=mounts, cwd=checkout, hide=hide)


def gate_argv(command: Sequence[str], *, pol: Policy, tree: Path, home: Path, env_path: str,
              hide: Iterable[Path] = (), shared: Iterable[Path] = ()) -> list[str]:
    """``command`` inside a gate test run's boundary: the scratch checkout ``tree``, a private
    ``home`` and ``shared`` (the run's report folder, outside the checkout) writable, no network
    unless ``gates.network: on``. Unchanged under mode none."""
    if not pol.on:
        return list(command)
    mounts: list[tuple[str, str]] = [("/tmp", "tmpfs"), ("/var/tmp", "tmpfs")]
    mounts += [(t, "ro") for t in toolchains(env_path)]
    objects = objects_dir(tree)
    if objects:
        mounts.append((objects, "ro"))
    mounts += [(str(home), "rw"), (str(tree), "rw"), *((str(s), "rw") for s in shared)]
    mounts += _binds(pol.binds)
    return _wrap(command, network=pol.gate_network, mounts=mounts, cwd=tree, hide=hide)


def _program_dirs(command: Sequence[str]) -> list[str]:
    """The folder of the program a command runs (an agent CLI named by absolute path, batty's
    own Python for the scripted agent) and, for ``python -m batty...``, the batty package."""
    out: list[str] = []
    if command and os.path.isabs(command[0]):
        out.append(os.path.dirname(os.path.realpath(command[0])))
        out.append(os.path.dirname(command[0]))
    import batty

    package = os.path.dirname(os.path.realpath(batty.__file__))
    if "-m" in command[:2] and any(str(c).startswith("batty.") for c in command[:3]):
        out.append(package)
    for arg in map(str, command[1:4]):  # python [-I -S] <a file of batty's>: that file's folder
        real = os.path.realpath(arg)
        if arg.endswith(".py") and os.path.isabs(arg) and real.startswith(package + os.sep):
            out.append(os.path.dirname(real))
    return out
