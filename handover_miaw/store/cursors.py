"""Page cursor pieces both engines read alike. Pure: no I/O.

A cursor comes back from a client, so each piece must be exactly what an engine writes, or the page is
refused (a ValueError, which the API answers 400): `float()` and `int()` alone also take "1_0", " 1" and
Arabic-Indic digits, which Redis then refused (a 500) and SQLite read as a position it never issued.
"""

from __future__ import annotations

import math
import re

from handover_miaw.digits import ascii_digits
from handover_miaw.names import connector_name_problem

__all__ = ["connector_cursor", "finite_decimal", "seq_cursor"]

# A float as Python's repr and Redis write one: "-5", "0.10000000000000001", "1e+20", "9.9999999999999995e-08".
_DECIMAL = re.compile(r"-?[0-9]+(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")


def finite_decimal(text: str) -> bool:
    """True when `text` is a finite number written as the engines write a score or a time."""
    return _DECIMAL.fullmatch(text) is not None and math.isfinite(float(text))


def seq_cursor(after: str | None) -> int:
    """The seq a delivery cursor names (0 for the first page); ValueError when it is not one."""
    if after is None:
        return 0
    if not ascii_digits(after, 18):
        raise ValueError("not a delivery cursor")
    return int(after)


def connector_cursor(after: str | None) -> str:
    """The connector name a connectors cursor is ('' for the first page: every name sorts after it);
    ValueError for a name no connector can have, which no page ever returned."""
    if after is None:
        return ""
    if connector_name_problem(after) is not None:
        raise ValueError("not a connector cursor")
    return after
