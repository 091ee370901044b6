"""Crash-safe file writes: a crash leaves the old file or the new one, never half of one."""

from __future__ import annotations

import os
from pathlib import Path

# Durability is settled once per command, at exit: a file's data is fsynced before it is renamed
# into place (never an empty file after a power cut), but the folders that learnt a new name,
# and the appended logs, are fsynced once each when the process ends, not after every write.
# Atomicity does not depend on it: a killed process leaves the old file or the new one, and
# what the kernel holds survives the kill; only a power cut can lose the command's last writes,
# which the next run converges from (the log's lost events are re-logged by reconcile).
_pending: set[str] = set()


def later(path: Path | str) -> None:
    """fsync ``path`` (a folder or a file) when the process ends."""
    if not _pending:
        import atexit

        atexit.register(flush)
    _pending.add(str(path))


def flush() -> None:
    """fsync what :func:`later` put aside (called at exit; safe to call any time)."""
    while _pending:
        path = _pending.pop()
        try:
            fd = os.open(path, os.O_RDONLY)
        except OSError:
            continue
        try:
            os.fsync(fd)
        except OSError:
            pass
        finally:
            os.close(fd)


def _temp(folder: Path, name: str) -> tuple[int, str]:
    """A new file beside ``name`` in ``folder``, opened for writing (tempfile's job, without
    importing tempfile and random into every command)."""
    for _ in range(100):
        tmp = str(folder / f".{name}.{os.getpid()}.{os.urandom(4).hex()}.tmp")
        try:
            return os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), tmp
        except FileExistsError:
            continue
    raise FileExistsError(f"no temporary name free beside {folder / name}")


def write_bytes(path: Path, data: bytes, *, mode: int | None = None, durable: bool = True) -> None:
    """Write ``data`` to ``path`` atomically: temp file in the same folder, fsync, rename (the folder
    is fsynced at exit, :func:`later`)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = _temp(path.parent, path.name)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            if durable:  # transient files (an attempt's launch files) skip it
                os.fsync(f.fileno())
        if mode is not None:
            os.chmod(tmp, mode)
        elif path.exists():
            os.chmod(tmp, path.stat().st_mode & 0o7777)
        else:
            os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    later(path.parent)


def write_text(path: Path, text: str, *, mode: int | None = None, durable: bool = True) -> None:
    write_bytes(path, text.encode("utf-8"), mode=mode, durable=durable)


def write_json(path: Path, obj: object, *, durable: bool = True) -> None:
    import json

    write_text(path, json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n", durable=durable)


def read_json(path: Path) -> dict | None:
    """A JSON object from ``path``, or None when it is missing or unreadable (a crash mid-write)."""
    import json

    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def tail(path: Path, limit: int) -> str:
    """The last ``limit`` bytes of a file, as text ("" when it cannot be read). Only those bytes
    are read: an agent's log can be large."""
    try:
        with open(path, "rb") as f:
            size = f.seek(0, 2)
            f.seek(max(0, size - limit))
            return f.read().decode("utf-8", errors="replace")
    except OSError:
        return ""


def tail_lines(path: Path, lines: int, limit: int = 16000) -> str:
    """The last ``lines`` lines among the last ``limit`` bytes of a file."""
    return "\n".join(tail(path, limit).splitlines()[-lines:])
