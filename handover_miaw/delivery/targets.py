"""Where deliveries may go, and what may become a header. Pure: no I/O.

Outside development mode a delivery URL (webhook, Cognigy endpoint) must be https and must not point at
this machine or a private network: loopback, private (RFC 1918), link-local (cloud metadata at
169.254.169.254), shared / CGNAT (100.64/10), unique-local, IPv6 site-local, multicast, unspecified and
reserved addresses are refused, whatever the spelling. An IPv4 host is read as the resolver reads it
(`inet_aton`: `0x7f000001`, `2130706433`, `0177.0.0.1` and `127.1` are all 127.0.0.1); IPv6 addresses
that carry an IPv4 one (mapped, 6to4, NAT64) are judged by it too. A name is judged by the addresses it
resolves to, at connect time (`guard.py`), so a public name pointed at 10.x (DNS rebinding) is refused as
well. The operator's allow-list (hosts or CIDRs) lets in-cluster receivers through.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import yarl

__all__ = ["TargetPolicy", "control_character_problems", "parse_host_address"]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
# C0 controls and DEL: CR and LF split a header (aiohttp refuses them at every attempt), NUL truncates.
_CONTROL = frozenset(chr(c) for c in [*range(0x20), 0x7F])


def parse_host_address(host: str) -> IPAddress | None:
    """The IP address a URL host denotes, read as the resolver would; None for a name."""
    host = host.strip("[]")
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    if ":" in host:
        return None
    try:
        # inet_aton takes every legacy IPv4 spelling (hex, octal, a single 32-bit number, `127.1`) as
        # getaddrinfo does; ipaddress alone takes only dotted-decimal.
        return ipaddress.IPv4Address(socket.inet_aton(host))
    except OSError:
        return None


def _embedded_v4(address: IPAddress) -> ipaddress.IPv4Address | None:
    if isinstance(address, ipaddress.IPv4Address):
        return None
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def _is_public(address: IPAddress) -> bool:
    embedded = _embedded_v4(address)
    if embedded is not None and not _is_public(embedded):
        return False
    return address.is_global and not (
        address.is_multicast
        or address.is_private
        or address.is_loopback
        or address.is_link_local
        or address.is_unspecified
        or address.is_reserved
        # fec0::/10 was deprecated (RFC 3879), but hosts and routers may still treat it as internal, and
        # ipaddress counts it neither as private nor as reserved.
        or (isinstance(address, ipaddress.IPv6Address) and address.is_site_local)
    )


@dataclass(frozen=True, slots=True)
class TargetPolicy:
    """Which delivery URLs and resolved addresses are allowed; `open` (development mode) allows all."""

    open: bool = False
    allowed_hosts: frozenset[str] = frozenset()
    allowed_networks: tuple[IPNetwork, ...] = ()

    @classmethod
    def build(cls, *, insecure_dev: bool, allow: Iterable[str]) -> TargetPolicy:
        """From the settings: each allow-list entry is a CIDR / address, or else a host name.

        ValueError for an entry that is neither (empty, or a malformed network).
        """
        hosts: set[str] = set()
        networks: list[IPNetwork] = []
        for entry in allow:
            text = entry.strip().lower().rstrip(".")
            if not text:
                raise ValueError("an empty delivery allow-list entry")
            try:
                networks.append(ipaddress.ip_network(text, strict=False))
            except ValueError:
                if "/" in text or any(c in text for c in " :@[]"):
                    raise ValueError(f"delivery allow-list entry {entry!r} is neither a host nor a CIDR") from None
                hosts.add(text)
        return cls(open=insecure_dev, allowed_hosts=frozenset(hosts), allowed_networks=tuple(networks))

    def host_allowed(self, host: str) -> bool:
        """True when the host is on the allow-list by name (its addresses are then not checked)."""
        return self.open or host.lower().rstrip(".") in self.allowed_hosts

    def address_allowed(self, address: IPAddress) -> bool:
        """A resolved (or literal) address: public, or inside an allowed network."""
        if self.open or any(address in network for network in self.allowed_networks):
            return True
        embedded = _embedded_v4(address)
        if embedded is not None and any(embedded in network for network in self.allowed_networks):
            return True
        return _is_public(address)

    def url_problem(self, url: str) -> str | None:
        """Why a delivery URL is refused, or None. Names are let through here: the resolver decides them."""
        if self.open:
            return None
        try:
            parsed = yarl.URL(url)
            # The host as aiohttp connects to it: yarl applies IDNA's mapping (NFKC), so full-width digits and
            # ideographic full stops spell 127.0.0.1 there, while urlsplit's host was a name and passed.
            host = (parsed.raw_host or "").rstrip(".")
        except ValueError:  # UnicodeError too, for a host IDNA refuses
            return "is not a URL"
        if parsed.scheme != "https":
            return "must be an https URL"
        if not host:
            return "has no host"
        if self.host_allowed(host):
            return None
        address = parse_host_address(host)
        if address is None:
            if host == "localhost" or host.endswith(".localhost"):
                return "must not point at this machine (localhost)"
            return None
        if not self.address_allowed(address):
            return "must not point at a loopback, private, link-local or otherwise internal address"
        return None


def control_character_problems(value: Any, pointer: str = "") -> list[tuple[str, str]]:
    """(pointer, reason) for every string under `value` holding a control character; never the value."""
    if isinstance(value, str):
        if any(c in _CONTROL for c in value):
            return [(pointer, "must not contain control characters (CR, LF, NUL and the like)")]
        return []
    if isinstance(value, Mapping):
        return [
            found
            for key, item in value.items()
            for found in control_character_problems(item, f"{pointer}/{str(key).replace('~', '~0').replace('/', '~1')}")
        ]
    if isinstance(value, list):
        return [found for i, item in enumerate(value) for found in control_character_problems(item, f"{pointer}/{i}")]
    return []
