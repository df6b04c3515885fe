"""The access line of each request `serve` answers: aiohttp's default line and fields, made cheaper.

aiohttp's AccessLogger formats through a format-string machinery per request; this one writes the same
message and `extra` fields (`%a %t "%r" %s %b "%{Referer}i" "%{User-Agent}i"`) directly, and the JSON
formatter (logs.py) renders access records in one step, with the same redaction as every line.
"""

from __future__ import annotations

import functools
import logging
import time

from aiohttp.abc import AbstractAccessLogger
from aiohttp.web import BaseRequest, StreamResponse

__all__ = ["AccessLogger"]


class AccessLogger(AbstractAccessLogger):
    """aiohttp's default access line and fields, without its format-string machinery."""

    @property
    def enabled(self) -> bool:
        """Whether a line would be written; aiohttp skips the call otherwise."""
        return self.logger.isEnabledFor(logging.INFO)

    def log(self, request: BaseRequest, response: StreamResponse, time: float) -> None:
        """Log one answered request (`time`: seconds it took)."""
        remote = request.remote or "-"
        started = _local_time(time)
        version = request.version
        line = f"{request.method} {request.path_qs} HTTP/{version.major}.{version.minor}"
        headers = request.headers
        referer, agent = headers.get("Referer", "-"), headers.get("User-Agent", "-")
        status, size = response.status, response.body_length
        # Made and handled directly: Logger.info would also walk the stack for the caller's file and line,
        # which no access line shows (enabled() has already checked the level).
        record = self.logger.makeRecord(
            self.logger.name,
            logging.INFO,
            "",
            0,
            f'{remote} {started} "{line}" {status} {size} "{referer}" "{agent}"',
            (),
            None,
            extra={
                "remote_address": remote,
                "request_start_time": started,
                "first_request_line": line,
                "response_status": status,
                "response_size": size,
                "request_header": {"Referer": referer, "User-Agent": agent},
            },
        )
        self.logger.handle(record)


def _local_time(seconds_ago: float) -> str:
    """When a request began, as aiohttp's `%t` writes it (local time with its offset)."""
    return _local_second(int(time.time() - seconds_ago))


@functools.lru_cache(maxsize=4)
def _local_second(second: int) -> str:
    # Once per second, not per line: localtime and strftime were the access line's largest single cost.
    return time.strftime("[%d/%b/%Y:%H:%M:%S %z]", time.localtime(second))
