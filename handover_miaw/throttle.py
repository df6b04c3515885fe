"""At most one log line per key per interval, counting what was held back. Pure: no I/O, clock given.

A delivery that fails on every attempt must not fill the log (one failing at once made ~1,000 lines a
second): its first failure is logged, then at most one line per interval, which says how many it stands for.
So must the SQLite upkeep on a full disk (a traceback every half second, on the disk that was full).
"""

from __future__ import annotations

__all__ = ["LogThrottle"]


class LogThrottle:
    """Admit a key's line when its interval has passed; remember at most `max_keys` keys."""

    def __init__(self, interval_s: float = 60.0, max_keys: int = 4096) -> None:
        self.interval_s = interval_s
        self.max_keys = max_keys
        self._last: dict[str, tuple[float, int]] = {}

    def admit(self, key: str, now: float) -> int | None:
        """None to hold this line back; else how many lines of the key were held back since the last one."""
        last = self._last.get(key)
        if last is not None and now - last[0] < self.interval_s:
            self._last[key] = (last[0], last[1] + 1)
            return None
        if len(self._last) >= self.max_keys:
            self._last = {k: v for k, v in self._last.items() if now - v[0] < self.interval_s}
        self._last[key] = (now, 0)
        return 0 if last is None else last[1]

    def forget(self, key: str) -> None:
        """The key's trouble is over (its delivery settled)."""
        self._last.pop(key, None)
