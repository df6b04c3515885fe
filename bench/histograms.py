"""The runtime's own latency figures, read from the histograms of its /metrics (handover_miaw/metrics.py).

A benchmark scrapes before and after a measured phase; the difference of the cumulative bucket counts is
that phase's distribution, and its quantiles are estimated as Prometheus' histogram_quantile() does (linear
within the bucket). They sit in the JSON beside the client's own timings: a mismatch is a finding.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

# Histogram name → label values (without `le`, sorted by label name) → {upper bound: cumulative count}.
Scrape = dict[str, dict[tuple[str, ...], dict[float, float]]]


def parse(text: str) -> Scrape:
    """The bucket series of every histogram in a Prometheus text exposition."""
    found: Scrape = {}
    for family in text_string_to_metric_families(text):
        if family.type != "histogram":
            continue
        series = found.setdefault(family.name, {})
        for sample in family.samples:
            if sample.name.endswith("_bucket"):
                key = tuple(v for k, v in sorted(sample.labels.items()) if k != "le")
                series.setdefault(key, {})[float(sample.labels["le"])] = sample.value
    return found


async def scrape(http: aiohttp.ClientSession, urls: Iterable[str]) -> Scrape:
    """The runtime processes' histograms, summed over the processes."""
    total: Scrape = {}
    for url in urls:
        async with http.get(f"{url}/metrics") as response:
            response.raise_for_status()
            one = parse(await response.text())
        for name, series in one.items():
            for key, buckets in series.items():
                merged = total.setdefault(name, {}).setdefault(key, {})
                for bound, count in buckets.items():
                    merged[bound] = merged.get(bound, 0.0) + count
    return total


def quantile(q: float, buckets: dict[float, float]) -> float:
    """histogram_quantile(q) over cumulative buckets; NaN when empty, the last finite bound past it."""
    bounds = sorted(buckets)
    total = buckets[bounds[-1]] if bounds else 0.0
    if total <= 0:
        return math.nan
    rank = q * total
    lower, below = 0.0, 0.0
    for bound in bounds:
        count = buckets[bound]
        if count >= rank:
            if math.isinf(bound):
                return lower
            return lower + (bound - lower) * (rank - below) / max(count - below, 1e-12)
        lower, below = bound, count
    return lower


def figures(before: Scrape, after: Scrape, name: str, *labels: str) -> dict[str, Any]:
    """The phase's count, p50 and p99 (ms) of one series of histogram `name` (its label values, in label
    name order; none: every series summed)."""
    diff: dict[float, float] = {}
    for key, buckets in after.get(name, {}).items():
        if labels and key != labels:
            continue
        earlier = before.get(name, {}).get(key, {})
        for bound, count in buckets.items():
            diff[bound] = diff.get(bound, 0.0) + count - earlier.get(bound, 0.0)
    count = diff.get(math.inf, 0.0)
    return {
        "count": int(count),
        "p50_ms": round(quantile(0.5, diff) * 1000, 2),
        "p99_ms": round(quantile(0.99, diff) * 1000, 2),
    }
