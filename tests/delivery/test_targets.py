"""Where deliveries may go: the policy's decisions on every spelling of an internal address (pure), and
the delivery session's resolver refusing a name that resolves to one before any connection is made."""

from __future__ import annotations

import socket
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.test_utils import TestServer

from handover_miaw.delivery.guard import GuardedResolver, delivery_session
from handover_miaw.delivery.targets import TargetPolicy, control_character_problems, parse_host_address

STRICT = TargetPolicy.build(insecure_dev=False, allow=[])

REFUSED = [
    "http://hooks.example.com/plain-http",
    "https://127.0.0.1:6379/",
    "https://localhost:6379",
    "https://LOCALHOST./",
    "https://api.localhost/",
    "https://[::1]:6379/",
    "https://169.254.169.254/latest/meta-data/",
    "https://10.0.0.1/",
    "https://172.16.5.4/",
    "https://192.168.1.1/",
    "https://100.64.0.1/",
    "https://0x7f000001:6379/",
    "https://2130706433/",
    "https://0177.0.0.1/",
    "https://127.1/",
    "https://10.1/",
    "https://0.0.0.0/",
    "https://[::]/",
    "https://224.0.0.1/",
    "https://[ff02::1]/",
    "https://240.0.0.1/",
    "https://255.255.255.255/",
    "https://[fc00::1]/",
    "https://[fd12:3456::1]/",
    "https://[fe80::1]/",
    "https://[fec0::1]/",  # deprecated IPv6 site-local: ipaddress calls it global
    "https://[feff:ffff::1]/",
    "https://[::ffff:127.0.0.1]/",
    "https://[::ffff:a9fe:a9fe]/",
    "https://[64:ff9b::a00:1]/",
    "https://[2002:a00:1::]/",
    # Other scripts' digits and dots, which IDNA maps to ASCII before aiohttp connects: they passed as names,
    # and aiohttp, which resolves no IP literal, reached the address.
    "https://\uff11\uff12\uff17.\uff10.\uff10.\uff11:18443/hook",
    "https://127\u30020\u30020\u30021/",
    "https://\u2460\u2461\u2466.0.0.1/",
    "https://\uff11\uff16\uff19.\uff12\uff15\uff14.\uff11\uff16\uff19.\uff12\uff15\uff14/latest/meta-data/",
    "https://\uff11\uff10.0.0.1/",
    "https://\uff4c\uff4f\uff43\uff41\uff4c\uff48\uff4f\uff53\uff54/",
]
ALLOWED = [
    "https://hooks.example.com/x",
    "https://8.8.8.8/",
    "https://[2001:4860:4860::8888]/",
    "https://b\u00fccher.example/hook",
]


@pytest.mark.parametrize("url", REFUSED)
def test_internal_targets_are_refused_in_every_spelling(url: str) -> None:
    assert STRICT.url_problem(url) is not None
    assert TargetPolicy.build(insecure_dev=True, allow=[]).url_problem(url) is None


@pytest.mark.parametrize("url", ALLOWED)
def test_public_https_targets_are_allowed(url: str) -> None:
    assert STRICT.url_problem(url) is None


def test_hosts_are_read_as_the_resolver_reads_them() -> None:
    for spelling in ("0x7f000001", "2130706433", "0177.0.0.1", "127.1", "127.0.0.1"):
        assert str(parse_host_address(spelling)) == "127.0.0.1"
    assert parse_host_address("hooks.example.com") is None


def test_the_allow_list_lets_named_hosts_and_networks_through() -> None:
    policy = TargetPolicy.build(insecure_dev=False, allow=["receiver.cluster.local", "10.20.0.0/16"])
    assert policy.url_problem("https://receiver.cluster.local/hook") is None
    assert policy.url_problem("https://10.20.3.4/hook") is None
    assert policy.url_problem("https://10.21.3.4/hook") is not None
    assert policy.url_problem("http://10.20.3.4/hook") is not None  # https all the same
    with pytest.raises(ValueError, match="neither a host nor a CIDR"):
        TargetPolicy.build(insecure_dev=False, allow=["10.0.0.0/33"])


def test_control_characters_are_named_by_field_never_shown() -> None:
    body = {"delivery": {"apiKey": "k\r\nX-Injected: yes", "urlToken": "ok"}, "config": {"x": "a\x00b"}}
    found = control_character_problems(body)
    assert [pointer for pointer, _ in found] == ["/delivery/apiKey", "/config/x"]
    assert all("Injected" not in reason for _, reason in found)


class FakeResolver(AbstractResolver):
    """Answers every name with one address, as a rebinding DNS server would."""

    def __init__(self, address: str) -> None:
        self.address = address
        self.asked: list[str] = []

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        self.asked.append(host)
        return [ResolveResult(hostname=host, host=self.address, port=port, family=socket.AF_INET, proto=0, flags=0)]

    async def close(self) -> None:
        return None


async def test_a_public_name_resolving_to_a_private_address_is_refused_before_connecting() -> None:
    fake = FakeResolver("10.0.0.1")
    resolver = GuardedResolver(STRICT, fake)
    with pytest.raises(OSError, match="not allowed"):
        await resolver.resolve("hooks.example.com", 443)
    assert fake.asked == ["hooks.example.com"]
    # Through a whole session: the connection fails at resolution, so nothing is ever sent to 10.0.0.1.
    fake2 = FakeResolver("10.0.0.1")
    async with delivery_session(STRICT, fake2) as session:
        with pytest.raises(aiohttp.ClientConnectorError, match="not allowed"):
            await session.post("https://rebound.example.com/hook", data=b"{}")
    assert fake2.asked == ["rebound.example.com"]


async def test_a_name_resolving_to_loopback_reaches_nothing(aiohttp_server: Any) -> None:
    received: list[bytes] = []

    async def hook(request: web.Request) -> web.Response:
        received.append(await request.read())
        return web.Response(status=204)

    app = web.Application()
    app.router.add_post("/hook", hook)
    server: TestServer = await aiohttp_server(app)
    url = f"http://receiver.example.com:{server.port}/hook"
    async with delivery_session(STRICT, FakeResolver("127.0.0.1")) as session:
        with pytest.raises(aiohttp.ClientConnectorError, match="not allowed"):
            await session.post(url, data=b"refused")
    assert received == []
    # The same request with loopback allowed arrives: the refusal above is the guard's, not a broken setup.
    allowing = TargetPolicy.build(insecure_dev=False, allow=["127.0.0.0/8"])
    async with (
        delivery_session(allowing, FakeResolver("127.0.0.1")) as session,
        session.post(url, data=b"allowed") as response,
    ):
        assert response.status == 204
    assert received == [b"allowed"]
