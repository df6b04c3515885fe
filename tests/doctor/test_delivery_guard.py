"""Line 7 pings through the runtime's guarded delivery session: a name that resolves to an internal address is
refused before any connection, as the outbox refuses it (DNS rebinding), and the doctor says so."""

from __future__ import annotations

import ssl
from urllib.parse import urlsplit

import aiohttp

from handover_miaw.delivery.guard import delivery_session
from handover_miaw.doctor import Status
from handover_miaw.doctor.probes import Context, probe_delivery
from handover_miaw.miaw import MiawClient
from handover_miaw.settings import Settings
from tests.conftest import ORG_ID
from tests.delivery.test_targets import FakeResolver

from .conftest import DEPLOYMENT, SECRET, Receiver


async def test_line_7_refuses_a_public_name_that_resolves_to_an_internal_address(
    receiver: Receiver, sim_url: str
) -> None:
    resolver = FakeResolver("127.0.0.1")
    port = urlsplit(receiver.url).port
    target = {"format": "webhook", "url": f"https://hooks.example.com:{port}/hook", "secret": SECRET}
    async with (
        aiohttp.ClientSession() as session,
        delivery_session(Settings().delivery_policy(), resolver) as deliveries,
    ):
        context = Context(
            name="acme",
            config={},
            delivery=target,
            nodes=(),
            identity_token=None,
            session=session,
            deliveries=deliveries,
            ssl_context=ssl.create_default_context(),
            client=MiawClient(sim_url, ORG_ID, DEPLOYMENT, "1", session=session),
            timeout_s=5.0,
        )
        finding = await probe_delivery(context)
    assert finding.status is Status.FAIL
    assert "resolves to an internal address" in finding.found
    assert "HANDOVER_MIAW_DELIVERY_ALLOW" in (finding.fix or "")
    assert resolver.asked == ["hooks.example.com"]
    assert receiver.pings == []
