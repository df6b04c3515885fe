"""The runtime sizes its descriptor table at start (`reserve_descriptors`, called by `serve` and by every
benchmark process), so no connection opened later waits for the kernel to grow it."""

from __future__ import annotations

import resource
import subprocess
import sys
import textwrap

import pytest

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="FDSize is Linux's")

_PROBE = textwrap.dedent(
    """
    import os, resource, sys
    from handover_miaw.descriptors import reserve_descriptors

    def fd_size():
        for line in open("/proc/self/status"):
            if line.startswith("FDSize:"):
                return int(line.split()[1])

    limit, size, keep = (int(a) for a in sys.argv[1:])
    resource.setrlimit(resource.RLIMIT_NOFILE, (limit, resource.getrlimit(resource.RLIMIT_NOFILE)[1]))
    if keep:
        os.dup2(os.open(os.devnull, os.O_RDONLY), keep)
    before, open_before = fd_size(), sorted(os.listdir("/proc/self/fd"))
    reserve_descriptors(size)
    print(before, fd_size(), sorted(os.listdir("/proc/self/fd")) == open_before)
    """
)


def _probe(limit: int, size: int, keep: int = 0) -> tuple[int, int, bool]:
    """(table size before, after, the same descriptors open before and after) in a fresh process."""
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    if hard != resource.RLIM_INFINITY and hard < limit:
        pytest.skip(f"the hard open-file limit ({hard}) is below {limit}")
    out = subprocess.run(
        [sys.executable, "-c", _PROBE, str(limit), str(size), str(keep)], capture_output=True, text=True, check=True
    ).stdout.split()
    return int(out[0]), int(out[1]), out[2] == "True"


def test_the_table_is_sized_once_and_no_descriptor_is_left_open() -> None:
    before, after, same_open = _probe(limit=8192, size=4096)
    assert before < 4096
    assert after >= 4096
    assert same_open


def test_the_table_stays_within_the_open_file_limit() -> None:
    _, after, same_open = _probe(limit=1000, size=4096)
    assert 1000 <= after < 4096
    assert same_open


def test_a_descriptor_already_open_at_the_top_is_left_alone() -> None:
    # dup2 onto it would have closed it: whatever the process had there stays open.
    _, after, same_open = _probe(limit=8192, size=2048, keep=2047)
    assert after >= 2048
    assert same_open
