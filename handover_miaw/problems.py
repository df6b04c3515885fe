"""The one shape every validation finding takes: where (JSON Pointer) and why.

Pure: used by the manifest pipeline, the CLI validator and the API's error bodies alike.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

__all__ = ["Problem", "pointer", "sort_problems"]


def _escape(token: str | int) -> str:
    return str(token).replace("~", "~0").replace("/", "~1")


def pointer(path: Iterable[str | int]) -> str:
    """Build an RFC 6901 JSON Pointer from path segments ("" is the whole document)."""
    return "".join("/" + _escape(token) for token in path)


@dataclass(frozen=True, slots=True)
class Problem:
    """One finding: the JSON Pointer of the offending value and a human reason.

    A JSON syntax error has no pointer yet; it carries the line and column instead.
    """

    pointer: str
    message: str
    line: int | None = None
    column: int | None = None

    def sort_key(self) -> tuple[int, int, str, str]:
        """Order: syntax errors by position first, then by pointer."""
        return (self.line or 0, self.column or 0, self.pointer, self.message)

    def as_dict(self) -> dict[str, str | int]:
        """Return the problem as a JSON-ready mapping."""
        out: dict[str, str | int] = {"pointer": self.pointer, "message": self.message}
        if self.line is not None and self.column is not None:
            out["line"] = self.line
            out["column"] = self.column
        return out


def sort_problems(problems: Iterable[Problem]) -> list[Problem]:
    """Deduplicate and order problems for a stable report."""
    return sorted(set(problems), key=Problem.sort_key)
