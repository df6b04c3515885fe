"""Which `Host` a runtime in development mode answers its API for: the guard against DNS rebinding.

Development mode asks no API key, and only JSON bodies are taken, so another site's page cannot post to the
runtime with a simple request. A page can still be sent to it by DNS: the attacker's name resolves to the
attacker's server first, then to 127.0.0.1, and the browser takes the runtime for the attacker's own origin,
free to read and write its API. Such a request names the attacker's domain in `Host`. So without a key the
API answers only requests for `localhost` (and `*.localhost`, which browsers resolve to loopback
themselves), for an IP address (no DNS involved), or for a name the operator lists (`--dev-hosts`), as Vite
and webpack's dev servers do. Pure: no I/O.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from urllib.parse import urlsplit

__all__ = ["host_served", "requested_name"]


def requested_name(host: str) -> str:
    """The name or address a `Host` value asks for: lower case, without port, brackets or final dot."""
    try:
        name = urlsplit("//" + host.strip()).hostname or ""
    except ValueError:  # an unclosed IPv6 bracket
        return host.strip().lower()
    return name.rstrip(".")


def host_served(host: str | None, names: Iterable[str]) -> bool:
    """Whether a request with this `Host` header (None: none sent, which no browser does) is answered.

    `names` are the operator's: exact names, or `.example.com` for that domain and every name under it.
    """
    if host is None:
        return True
    name = requested_name(host)
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        ipaddress.ip_address(name.partition("%")[0])  # a scoped IPv6 address keeps its zone after %
        return True
    except ValueError:
        pass
    for allowed in names:
        allowed = allowed.strip().lower().rstrip(".")
        if allowed.startswith(".") and (name == allowed[1:] or name.endswith(allowed)):
            return True
        if allowed and name == allowed:
            return True
    return False
