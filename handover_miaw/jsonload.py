"""Read JSON the way a validator must: every duplicate key found, syntax errors with line and column.

The standard library parser is used here rather than orjson because only it exposes
`object_pairs_hook`, which is how a duplicate key (silently last-wins elsewhere) becomes visible. It also
takes what orjson, and so the runtime that stores the values, refuses: NaN and Infinity, a number too large
for a float or too long for an int, a lone UTF-16 surrogate ("\\ud800"). Those are refused here, each at its
JSON Pointer, so that `validate` passes no file that `serve` then fails on.
"""

from __future__ import annotations

import json
import math
from typing import Any

from handover_miaw.problems import Problem, pointer

__all__ = ["parse_json"]


class _PairsDict(dict[str, Any]):
    """A dict that remembers the keys its JSON object repeated."""

    duplicates: list[str]


def _pairs_hook(pairs: list[tuple[str, Any]]) -> _PairsDict:
    out = _PairsDict()
    out.duplicates = []
    for key, value in pairs:
        if key in out:
            out.duplicates.append(key)
        out[key] = value
    return out


def _duplicate_problems(value: Any, path: list[str | int]) -> list[Problem]:
    found: list[Problem] = []
    if isinstance(value, _PairsDict):
        found.extend(Problem(pointer([*path, key]), f"duplicate key {key!r}") for key in value.duplicates)
        for key, child in value.items():
            found.extend(_duplicate_problems(child, [*path, key]))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            found.extend(_duplicate_problems(child, [*path, index]))
    return found


class _Unreadable:
    """A value the parser took that the runtime cannot hold; `reason` says why."""

    __slots__ = ("reason",)

    def __init__(self, reason: str) -> None:
        self.reason = reason


def _constant(name: str) -> _Unreadable:
    return _Unreadable(f"{name} is not a JSON number")


def _float(text: str) -> float | _Unreadable:
    value = float(text)
    return value if math.isfinite(value) else _Unreadable("the number is too large (it overflows to infinity)")


def _int(text: str) -> int | _Unreadable:
    try:
        return int(text)
    except ValueError:  # past sys.get_int_max_str_digits() (4300 by default)
        return _Unreadable("the number has too many digits")


def _is_text(value: str) -> bool:
    """False when the string holds a lone surrogate, which no UTF-8 encoder takes."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


_SURROGATE = "holds a lone UTF-16 surrogate (an unpaired \\ud800-\\udfff escape), which is not a character"


def _unreadable_problems(value: Any, path: list[str | int]) -> list[Problem]:
    if isinstance(value, _Unreadable):
        return [Problem(pointer(path), f"invalid JSON: {value.reason}")]
    if isinstance(value, str):
        return [] if _is_text(value) else [Problem(pointer(path), f"invalid JSON: the string {_SURROGATE}")]
    found: list[Problem] = []
    if isinstance(value, dict):
        for key, child in value.items():
            if _is_text(key):
                found.extend(_unreadable_problems(child, [*path, key]))
            else:
                # Reported at the object: a pointer through the key could not be printed.
                found.append(Problem(pointer(path), f"invalid JSON: a key {_SURROGATE}"))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            found.extend(_unreadable_problems(child, [*path, index]))
    return found


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _plain(child) for key, child in value.items()}
    if isinstance(value, list):
        return [_plain(child) for child in value]
    return value


def parse_json(text: str | bytes) -> tuple[Any, list[Problem]]:
    """Parse JSON text; return (value, problems). On a syntax error the value is None."""
    try:
        raw = text.decode("utf-8") if isinstance(text, bytes) else text
    except UnicodeDecodeError as exc:
        return None, [Problem("", f"not UTF-8 text: {exc.reason} at byte {exc.start}")]
    try:
        value = json.loads(
            raw, object_pairs_hook=_pairs_hook, parse_constant=_constant, parse_float=_float, parse_int=_int
        )
    except json.JSONDecodeError as exc:
        return None, [Problem("", f"invalid JSON: {exc.msg}", line=exc.lineno, column=exc.colno)]
    except RecursionError:
        return None, [Problem("", "invalid JSON: nested too deeply")]
    # Like a syntax error, these leave no document to check further.
    if unreadable := _unreadable_problems(value, []):
        return None, unreadable
    return _plain(value), _duplicate_problems(value, [])
