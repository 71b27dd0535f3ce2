"""`python -m benchmarks` (what `make bench` runs): every benchmark module's `main()` in turn.

A module that is not there (yet) is skipped with a note; a benchmark that misses its goals makes
the whole run exit non-zero, after the others have run.
"""

from __future__ import annotations

import importlib
import sys
import time

MODULES = ("sim_throughput", "engine", "ack_latency", "priority", "soak")


def main() -> int:
    failed: list[str] = []
    for name in MODULES:
        try:
            module = importlib.import_module(f"benchmarks.{name}")
        except ModuleNotFoundError as e:
            if e.name != f"benchmarks.{name}":
                raise
            print(f"== {name}: not present, skipped", flush=True)
            continue
        print(f"== {name}", flush=True)
        started = time.monotonic()
        code = module.main([])
        print(f"== {name}: exit {code} after {time.monotonic() - started:.0f} s", flush=True)
        if code:
            failed.append(name)
    if failed:
        print(f"benchmarks that missed their goals: {', '.join(failed)}", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
