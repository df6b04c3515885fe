"""Loop stalls of a benchmark process, with where the loop stood: `BENCH_STALLS=<ms>` makes the runtime
(bench._runtime) start a watcher thread that prints the event loop's stack to its log (the bench-runtime-*.log
file named at start) whenever the loop has not come round for that many milliseconds. A diagnostic for a
p99: it costs a thread waking every millisecond, so it is off in measured runs."""

from __future__ import annotations

import asyncio
import sys
import threading
import time
import traceback

__all__ = ["watch_stalls"]

_tasks: set[asyncio.Task[None]] = set()  # a reference, so the heartbeat is not collected


def watch_stalls(threshold_ms: float) -> None:
    """Start the heartbeat task (on the running loop) and the watcher thread."""
    loop_thread = threading.get_ident()
    beat = [time.perf_counter()]

    async def heartbeat() -> None:
        while True:
            beat[0] = time.perf_counter()
            await asyncio.sleep(0.0005)

    def watcher() -> None:
        reported = 0.0
        while True:
            time.sleep(0.001)
            last = beat[0]
            stalled = time.perf_counter() - last
            if stalled * 1000 > threshold_ms and reported != last:
                reported = last
                frame = sys._current_frames().get(loop_thread)
                stack = "".join(traceback.format_stack(frame)[-10:]) if frame is not None else "?"
                print(f"STALL {stalled * 1000:.1f} ms at {time.time():.3f}\n{stack}", file=sys.stderr, flush=True)

    _tasks.add(asyncio.get_running_loop().create_task(heartbeat()))
    threading.Thread(target=watcher, name="stall-watcher", daemon=True).start()
