"""`python -m bench [--quick] [name ...]`: run every benchmark (or the named ones) in order.

Names: validation, relay, fanin, start, concurrency, redis, soak, instruments, store.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import sys
import time

from bench.processes import raise_nofile
from handover_miaw.descriptors import reserve_descriptors

NAMES = ("validation", "relay", "fanin", "start", "concurrency", "redis", "soak", "instruments", "store")


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", metavar="name", help=", ".join(NAMES))
    parser.add_argument("--quick", action="store_true", help="a short smoke run (under a minute for all)")
    parser.add_argument("--soak-seconds", type=float, default=180.0, help="how long the soak runs (default 180)")
    parser.add_argument("--std-loop", action="store_true", help="run the runtime and simulator on asyncio's loop")
    parser.add_argument("--fanin-only", action="store_true", help="redis: only the fan-in with one runtime process")
    args = parser.parse_args()
    unknown = [n for n in args.names if n not in NAMES]
    if unknown:
        parser.error(f"unknown benchmark(s): {', '.join(unknown)}; choose from {', '.join(NAMES)}")
    raise_nofile()
    reserve_descriptors()  # the load generator's streams, as every child's (processes.run_child)
    if importlib.util.find_spec("uvloop") is None:
        args.std_loop = True
    failed = []
    for name in args.names or NAMES:
        started = time.monotonic()
        print(f"\n=== {name} ===", flush=True)
        module = importlib.import_module(f"bench.bench_{name}")
        try:
            module.run(args)
        except Exception as exc:  # one failing benchmark does not hide the others' figures
            print(f"{name}: FAILED: {type(exc).__name__}: {exc}", file=sys.stderr)
            failed.append(name)
        print(f"({name}: {time.monotonic() - started:.0f} s)", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
