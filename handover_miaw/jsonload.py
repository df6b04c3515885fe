"""Read JSON the way a validator must: every duplicate key found, syntax errors with line and column.

The standard library parser is used here rather than orjson because only it exposes
`object_pairs_hook`, which is how a duplicate key (silently last-wins elsewhere) becomes visible.
"""

from __future__ import annotations

import json
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
        value = json.loads(raw, object_pairs_hook=_pairs_hook)
    except json.JSONDecodeError as exc:
        return None, [Problem("", f"invalid JSON: {exc.msg}", line=exc.lineno, column=exc.colno)]
    except RecursionError:
        return None, [Problem("", "invalid JSON: nested too deeply")]
    return _plain(value), _duplicate_problems(value, [])
