"""The README's first command: `handover-miaw demo` plays a whole handover and exits 0."""

from __future__ import annotations

import io
import subprocess
import sys

from handover_miaw.demo import run_demo


async def test_demo_plays_a_whole_handover() -> None:
    out = io.StringIO()
    assert await run_demo(out) == 0
    text = out.getvalue()
    assert "transcript → agent: User: Hi, my order 1042 arrived broken." in text
    assert "── queued, waiting for an agent (position 2, about 90 s)" in text
    assert "── Maria joined" in text
    assert "agent Maria: Done: the refund of 49.90 EUR is on its way, 3-5 business days." in text
    assert "── handover ended: completed (agent_ended)" in text
    summary = text.strip().splitlines()[-1]
    assert summary.startswith("demo: ok ")
    assert "state=ended reason=agent_ended transcript_messages=1 agent_messages=3 user_messages=2" in summary


def test_demo_command_exits_0() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "handover_miaw", "demo"], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip().splitlines()[-1].startswith("demo: ok ")
    assert result.stderr == ""
