"""The process's descriptor table, sized once at start. No dependency on the rest of the package: the
benchmarks' floor processes call it too, and must not load the runtime to do so."""

from __future__ import annotations

import os
import resource

__all__ = ["DESCRIPTOR_TABLE", "reserve_descriptors"]

# How many descriptors the table is sized for at start: every live handover holds its event stream's
# connection, so the table grows with them; 8 bytes of kernel memory each.
DESCRIPTOR_TABLE = 65_536


def reserve_descriptors(size: int = DESCRIPTOR_TABLE) -> None:
    """Size the process's descriptor table for `size` descriptors (at most the soft RLIMIT_NOFILE) once,
    at start, while the process has one thread.

    Linux doubles the table when a new descriptor passes its size (256, 512, 1024, ...), and in a process
    with threads (the store's, the resolver's) each doubling waits for an RCU grace period: 6-19 ms here
    during which the event loop stands still, inside whichever start opened the 256th connection; the
    slowest starts of `python -m bench start` were exactly those. A descriptor placed at the top and closed
    again leaves the table at that size, which Linux never shrinks, so no later doubling happens."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    top = size - 1 if soft == resource.RLIM_INFINITY else min(size, soft) - 1
    if top < 3:
        return
    try:
        os.fstat(top)
    except OSError:
        pass
    else:
        return  # already open, so the table is that large (and dup2 would close it)
    try:
        probe = os.open(os.devnull, os.O_RDONLY)
    except OSError:  # no /dev/null, or no descriptor left: the table grows as it always did
        return
    try:
        if probe != top:  # else the table already reaches the top
            os.dup2(probe, top, inheritable=False)
            os.close(top)
    except OSError:  # the limit lowered meanwhile
        pass
    finally:
        os.close(probe)
