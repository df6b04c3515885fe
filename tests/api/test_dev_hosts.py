"""Development mode's guard against DNS rebinding: which `Host` the API answers without a key (pure cases;
the runtime and a real browser in tests/runtime/test_dev_hosts_served.py and tests/ui/test_dns_rebinding.py)."""

from __future__ import annotations

import pytest

from handover_miaw.api.dev_hosts import host_served, requested_name


@pytest.mark.parametrize(
    ("host", "name"),
    [
        ("localhost:8080", "localhost"),
        ("LOCALHOST.", "localhost"),
        ("[::1]:8080", "::1"),
        ("127.0.0.1", "127.0.0.1"),
        (" Evil.Example:80 ", "evil.example"),
        ("[::1", "[::1"),
    ],
)
def test_the_name_a_host_header_asks_for(host: str, name: str) -> None:
    assert requested_name(host) == name


@pytest.mark.parametrize(
    "host",
    [
        None,  # HTTP/1.0 without Host: no browser sends that
        "localhost",
        "localhost:8080",
        "LocalHost.:8080",
        "app.localhost:8080",
        "127.0.0.1:8080",
        "10.1.2.3",
        "[::1]:8080",
        "[fe80::1%25eth0]:8080",
        "[::ffff:127.0.0.1]",
        "runtime:8080",  # listed
        "chat.dev.example:443",  # under a listed domain
        "dev.example",  # the listed domain itself
    ],
)
def test_served(host: str | None) -> None:
    assert host_served(host, ["runtime", ".dev.example"])


@pytest.mark.parametrize(
    "host",
    [
        "rebound.example:8080",
        "localhost.rebound.example",  # a name that only starts like localhost
        "notlocalhost",
        "runtime.rebound.example",  # an exact listed name does not take names under it
        "xdev.example",  # the listed domain is matched by label, not by suffix string
        "",
        "[::1",
        "a b",
    ],
)
def test_not_served(host: str) -> None:
    assert not host_served(host, ["runtime", ".dev.example"])
