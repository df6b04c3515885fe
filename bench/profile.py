"""Profile the runtime on the relay or fan-in path with py-spy: `python -m bench.profile relay|fanin|bare [SECONDS]`.

`bare` profiles the bare relay (bench._bare_relay, the relay benchmark's floor) under the same load, so the
two relay profiles can be set side by side. Writes collapsed stacks (GIL-holding samples only: where the
event loop spends CPU) to bench/results/profile-<path>.txt and prints the top functions by self and
inclusive time."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from pathlib import Path

from bench import bench_fanin, bench_relay
from bench.common import stack
from bench.figures import RESULTS
from bench.processes import spawn


def _spy(pid: int, seconds: float, out: Path) -> subprocess.Popen[bytes]:
    """py-spy recording `pid` for `seconds` into `out` (collapsed stacks, GIL-holding samples)."""
    return subprocess.Popen(
        ["py-spy", "record", "-p", str(pid), "-d", str(int(seconds)), "-o", str(out), "--format", "raw",
         "-r", "250", "--gil"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip


async def main(path: str, seconds: float) -> str:
    out = RESULTS / f"profile-{path}.txt"
    async with stack() as st:
        if path == "relay":
            views, _ = await st.start_handovers(200, 32, prefix="prof")
            ids = [v["id"] for v in views]
            await bench_relay.relay_runtime(st, ids, 1000, 64, "warm", 30)
            spy = _spy(st.runtime.pid, seconds, out)
            fig = await bench_relay.relay_runtime(st, ids, 1_000_000, 64, "p", seconds)
        elif path == "bare":
            bare = spawn("bare", "bench._bare_relay", ["--sim", st.sim.url, "--conversations", "200", "--uvloop"])
            try:
                await bench_relay.relay_bare(st.http, bare.url, 200, 1000, 64, 30)
                spy = _spy(bare.pid, seconds, out)
                fig = await bench_relay.relay_bare(st.http, bare.url, 200, 1_000_000, 64, seconds)
                spy.wait(seconds + 30)  # before the floor stops
            finally:
                bare.stop()
        else:
            conversations = await bench_fanin.prepare(st, 200)
            spy = _spy(st.runtime.pid, seconds, out)
            fig = await bench_fanin.runtime_phase(st, conversations, int(1500 * seconds), 1500, seconds + 30)
        spy.wait(seconds + 30)
        time.sleep(0.1)
    print(fig)
    return str(out)


if __name__ == "__main__":
    target = asyncio.run(main(sys.argv[1], float(sys.argv[2]) if len(sys.argv) > 2 else 10.0))
    subprocess.run([sys.executable, "-m", "bench.profile_summary", target, "45"], check=False)
