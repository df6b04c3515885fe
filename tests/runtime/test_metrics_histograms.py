"""The latency histograms of /metrics get observations through a whole handover on the real simulator."""

from __future__ import annotations

from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from handover_miaw.metrics import LAG_BUCKETS, LATENCY_BUCKETS
from tests.waiting import wait_for

from .conftest import Bot


async def _histograms(bot: Bot) -> dict[str, dict[tuple[tuple[str, str], ...], dict[str, Any]]]:
    """Histogram name → label set (without `le`) → {"count", "sum", "buckets": {le: cumulative count}}."""
    text = await (await bot.api.get("/metrics")).text()
    found: dict[str, dict[tuple[tuple[str, str], ...], dict[str, Any]]] = {}
    for family in text_string_to_metric_families(text):
        if family.type != "histogram":
            continue
        series = found.setdefault(family.name, {})
        for sample in family.samples:
            key = tuple(sorted((k, v) for k, v in sample.labels.items() if k != "le"))
            entry = series.setdefault(key, {"count": 0.0, "sum": 0.0, "buckets": {}})
            if sample.name.endswith("_bucket"):
                entry["buckets"][float(sample.labels["le"])] = sample.value
            elif sample.name.endswith("_count"):
                entry["count"] = sample.value
            elif sample.name.endswith("_sum"):
                entry["sum"] = sample.value
    return found


async def test_every_histogram_is_observed_through_a_whole_handover(bot: Bot) -> None:
    await bot.connector("acme")
    sim, rx = bot.sim, bot.receiver
    hid, cid = await bot.with_agent()
    rx.fail_next = 1  # the first push answers 503: an attempt with outcome 5xx, then a retried 2xx
    await sim.send_text(cid, "Hi, how can I help?")
    await wait_for(lambda: len(rx.of_type("agent.message", hid)) == 1, "the agent message", seconds=10)
    response = await bot.api.post(f"/v1/handovers/{hid}/messages", json={"id": "c1", "text": "A refund please"})
    assert response.status == 202

    seen = await _histograms(bot)

    calls = seen["handover_miaw_miaw_call_seconds"]
    endpoints = {dict(labels)["endpoint"] for labels, entry in calls.items() if entry["count"] > 0}
    assert {"access_token", "sse", "create_conversation", "send_message"} <= endpoints
    assert seen["handover_miaw_start_seconds"][()]["count"] == 1
    assert seen["handover_miaw_message_relay_seconds"][()]["count"] == 1
    attempts = seen["handover_miaw_delivery_attempt_seconds"]
    assert attempts[(("outcome", "5xx"),)]["count"] == 1
    assert attempts[(("outcome", "2xx"),)]["count"] >= 2  # the active status and the agent message
    lag = seen["handover_miaw_delivery_lag_seconds"]
    message_lag = lag[(("type", "agent.message"),)]
    assert message_lag["count"] == 1
    # The lag runs from the event's receipt to the 2xx: it spans the failed attempt and the backoff too.
    assert message_lag["sum"] >= attempts[(("outcome", "5xx"),)]["sum"]
    assert tuple(sorted(message_lag["buckets"]))[:-1] == LAG_BUCKETS  # the last one is +Inf
    assert tuple(sorted(seen["handover_miaw_start_seconds"][()]["buckets"]))[:-1] == LATENCY_BUCKETS
