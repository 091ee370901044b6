"""The Makefile's helpers: where `make test` keeps the tests' scratch folders (bin/test-tmp)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def scratch(*args: str, script: Path = ROOT / "bin" / "test-tmp") -> str:
    return subprocess.run([str(script), *args], capture_output=True, text=True, check=True, timeout=30).stdout.strip()


def fs_type(folder: Path) -> str:
    return subprocess.run(["stat", "-f", "-c", "%T", str(folder)], capture_output=True, text=True,
                          check=True, timeout=30).stdout.strip()


def test_the_scratch_folder_is_on_a_tmpfs_with_room_or_left_to_pytest(tmp_path: Path) -> None:
    assert scratch(str(tmp_path / "missing")) == ""
    assert scratch("/proc") == ""  # not a tmpfs
    shm = Path("/dev/shm")
    chosen = scratch()
    if shm.is_dir() and fs_type(shm) == "tmpfs" and shutil.disk_usage(shm).free >= 4 << 30:
        assert Path(chosen).parent == shm and Path(chosen).name.startswith("batty-tests-")
        assert scratch() == chosen  # the same folder each run: pytest empties it at the start
    else:
        assert chosen == ""


def test_two_checkouts_never_share_a_scratch_folder(tmp_path: Path) -> None:
    mine = scratch()
    if not mine:
        pytest.skip("no tmpfs with room here: bin/test-tmp chooses no folder, so none is shared")
    other = tmp_path / "checkout"
    (other / "bin").mkdir(parents=True)
    shutil.copy2(ROOT / "bin" / "test-tmp", other / "bin" / "test-tmp")
    assert scratch(script=other / "bin" / "test-tmp") not in ("", mine)
