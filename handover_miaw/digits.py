"""The one rule for a number a client sends as text (a limit, a cursor, Last-Event-ID, Retry-After, an SSE
`retry`): ASCII digits only.

`str.isdigit()` alone also takes "²", which `int()` and `float()` refuse (a ValueError that was a 500, or a
delivery stuck pending), and Arabic-Indic or full-width digits, which they read as numbers.
"""

from __future__ import annotations

__all__ = ["ascii_digits"]


def ascii_digits(text: str, max_digits: int | None = None) -> bool:
    """True when `text` is one or more of 0-9 and nothing else, and at most `max_digits` of them if given."""
    return text.isascii() and text.isdigit() and (max_digits is None or len(text) <= max_digits)
