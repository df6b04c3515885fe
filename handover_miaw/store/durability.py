"""What a restart of the store would lose, judged from its persistence settings. Pure: no I/O.

A default Redis keeps everything in memory with at most an RDB snapshot now and then (or none at all, as
many packaged configurations ship): a restart loses every live handover and pending delivery written
since. With the append-only file (AOF) each write is logged: `appendfsync always` loses nothing Redis
acknowledged, `everysec` up to about a second of writes on a crash of the host or the process (a clean
restart loses nothing), `no` whatever the OS had not flushed (typically up to 30 s).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

__all__ = ["Durability", "from_redis_config", "from_redis_info", "sqlite_durability", "unknown_redis"]


@dataclass(frozen=True, slots=True)
class Durability:
    """`safe`: a restart of the store loses nothing acknowledged (or at most ~1 s on a crash); `detail`
    says what it would lose, for the log and /readyz."""

    engine: str
    safe: bool
    detail: str

    def view(self) -> dict[str, object]:
        """As /readyz shows it."""
        return {"engine": self.engine, "durable": self.safe, "detail": self.detail}


def sqlite_durability() -> Durability:
    """The embedded store: WAL with synchronous=NORMAL."""
    return Durability("sqlite", True, "WAL, synchronous=NORMAL: a crash of the process loses nothing")


def from_redis_config(config: Mapping[str, str]) -> Durability:
    """Judge CONFIG GET appendonly / appendfsync / save."""
    if config.get("appendonly", "no").lower() == "yes":
        fsync = config.get("appendfsync", "everysec").lower()
        if fsync == "always":
            return Durability("redis", True, "AOF with appendfsync always: a restart loses nothing")
        if fsync == "everysec":
            return Durability("redis", True, "AOF with appendfsync everysec: a crash may lose up to ~1 s of writes")
        return Durability(
            "redis", False, f"AOF with appendfsync {fsync}: a crash loses what the OS had not flushed (~30 s)"
        )
    if config.get("save", "").strip():
        return Durability(
            "redis",
            False,
            f"no AOF, RDB snapshots only (save {config['save'].strip()!r}): a restart loses every write since "
            "the last snapshot; turn on appendonly yes",
        )
    return Durability(
        "redis", False, "no persistence (appendonly no, save ''): a restart loses everything; turn on appendonly yes"
    )


def from_redis_info(info: Mapping[str, object]) -> Durability:
    """Judge INFO persistence, for a server where CONFIG is disabled (the fsync policy is not shown there)."""
    if str(info.get("aof_enabled", "0")) == "1":
        return Durability("redis", True, "AOF on (CONFIG is disabled, so its fsync policy is unknown)")
    return Durability(
        "redis",
        False,
        "no AOF (read from INFO: CONFIG is disabled): a restart loses every write since the last RDB snapshot, "
        "if there is one; turn on appendonly yes",
    )


def unknown_redis(reason: str) -> Durability:
    """Neither CONFIG nor INFO answered."""
    return Durability("redis", False, f"persistence settings could not be read ({reason}); assume a restart loses data")
