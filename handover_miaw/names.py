"""The one rule for connector names, checked by the API, the connectors file and handover start.

Pure: no I/O. A name is 1 to 63 characters: lowercase ASCII letters and digits, '-' and '_', starting
with a letter or a digit. ASCII only on purpose: `str.isalnum` accepts `café` and an Arabic-Indic
digit one, names that would then appear in URLs, logs and metrics in forms a caller cannot be sure to repeat.
"""

from __future__ import annotations

import re

__all__ = ["CONNECTOR_NAME_PATTERN", "CONNECTOR_NAME_RULE", "connector_name_problem"]

CONNECTOR_NAME_PATTERN = "^[a-z0-9][a-z0-9_-]{0,62}$"
CONNECTOR_NAME_RULE = (
    "connector names are 1 to 63 characters: lowercase ASCII letters a-z, digits 0-9, '-' and '_', "
    "starting with a letter or a digit"
)
# re.ASCII is belt and braces: the classes are spelled out, but `$` would also match before a final "\n".
_NAME = re.compile(CONNECTOR_NAME_PATTERN[1:-1], re.ASCII)


def connector_name_problem(name: object) -> str | None:
    """None when `name` is a valid connector name, else the reason: the rule itself."""
    if isinstance(name, str) and _NAME.fullmatch(name):
        return None
    return CONNECTOR_NAME_RULE
