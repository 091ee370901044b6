"""`make bench`: run every benchmarks/bench_*.py module's main() in turn, or the ones named.

    .venv/bin/python -m benchmarks                 # all of them
    .venv/bin/python -m benchmarks board gates     # bench_board and bench_gates only

Each benchmark writes its own section of docs/BENCHMARKS.md. One that fails is reported and
the others still run; the exit code is 1 if any failed.
"""

from __future__ import annotations

import importlib
import sys
import time
import traceback
from pathlib import Path

HERE = Path(__file__).resolve().parent


def available() -> list[str]:
    return sorted(p.stem.removeprefix("bench_") for p in HERE.glob("bench_*.py"))


def main(argv: list[str]) -> int:
    names = available()
    wanted = [a.removeprefix("bench_").removesuffix(".py") for a in argv] or names
    unknown = [w for w in wanted if w not in names]
    if unknown:
        print(f"benchmarks: no benchmark {', '.join(unknown)} (there are: {', '.join(names)})",
              file=sys.stderr)
        return 2
    sys.path.insert(0, str(HERE.parent))
    failed = []
    for name in wanted:
        print(f"== bench_{name}", file=sys.stderr, flush=True)
        start = time.perf_counter()
        module = importlib.import_module(f"benchmarks.bench_{name}")
        saved = sys.argv
        sys.argv = [str(HERE / f"bench_{name}.py")]  # each main() reads its own arguments
        try:
            module.main()
        except Exception:
            traceback.print_exc()
            failed.append(name)
        finally:
            sys.argv = saved
        print(f"== bench_{name}: {time.perf_counter() - start:.0f}s", file=sys.stderr, flush=True)
    if failed:
        print(f"benchmarks: failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
