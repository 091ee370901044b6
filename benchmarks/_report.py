"""Shared by the benchmarks: medians, and one section of docs/BENCHMARKS.md per benchmark."""

from __future__ import annotations

import re
import statistics
import subprocess
import time
from collections.abc import Callable, Sequence
from pathlib import Path

DOC = Path(__file__).resolve().parent.parent / "docs" / "BENCHMARKS.md"
HEADER = """# Benchmarks

Written by `make bench`. Each figure is the median of several runs on the machine that ran
it, beside a floor measured in the same run, and their ratio. Tests never assert timings.
"""


def median_time(fn: Callable[[], object], runs: int = 5, warmup: int = 1) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def time_cmd(argv: Sequence[str], runs: int = 5, warmup: int = 1, **kw: object) -> float:
    return median_time(lambda: subprocess.run(argv, check=True, capture_output=True, **kw),  # type: ignore[call-overload]
                       runs=runs, warmup=warmup)


def write_section(name: str, markdown: str) -> None:
    """Replace (or add) the section ``name`` of docs/BENCHMARKS.md."""
    text = DOC.read_text() if DOC.exists() else HEADER
    start, end = f"<!-- bench:{name} -->", f"<!-- /bench:{name} -->"
    block = f"{start}\n{markdown.rstrip()}\n{end}"
    if start in text:
        text = re.sub(re.escape(start) + r".*?" + re.escape(end), lambda _m: block, text, flags=re.S)
    else:
        text = text.rstrip() + "\n\n" + block + "\n"
    DOC.parent.mkdir(exist_ok=True)
    DOC.write_text(text)
    print(markdown)
