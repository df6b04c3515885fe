"""Prometheus metrics, on a registry of our own so tests and several apps in one process do not collide.

Latency histograms (seconds; buckets from 0.5 ms, since the runtime's own work is ms-scale on loopback and
a few tens of ms against Salesforce): MIAW call latency by endpoint, start latency, user-message relay
latency, delivery attempt latency by outcome, and the lag from an event's receipt to its delivery's 2xx.
The benchmarks read their server-side figures from these same histograms (bench/histograms.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

__all__ = ["LAG_BUCKETS", "LATENCY_BUCKETS", "Metrics"]

LATENCY_BUCKETS = (0.0005, 0.001, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.015, 0.02, 0.03, 0.05, 0.075, 0.1,
                   0.25, 0.5, 1.0, 2.5, 5.0, 10.0)  # fmt: skip
# A delivery waits out retries with backoff (up to the horizon): the lag needs minutes as well.
LAG_BUCKETS = (*LATENCY_BUCKETS, 30.0, 60.0, 300.0, 900.0, 3600.0)


@dataclass
class Metrics:
    """The runtime's metrics."""

    registry: CollectorRegistry = field(default_factory=CollectorRegistry)
    _miaw_call_children: dict[tuple[str, str], Counter] = field(default_factory=dict, init=False, repr=False)
    _children: dict[tuple[Histogram, str], Histogram] = field(default_factory=dict, init=False, repr=False)

    def __post_init__(self) -> None:
        self.handovers = Gauge("handover_miaw_handovers", "Live handovers by state", ["state"], registry=self.registry)
        self.handover_transitions = Counter(
            "handover_miaw_transitions", "Lifecycle transitions", ["state"], registry=self.registry
        )
        self.miaw_calls = Counter(
            "handover_miaw_miaw_calls",
            "MIAW calls by endpoint and status",
            ["endpoint", "status"],
            registry=self.registry,
        )
        self.deliveries = Counter(
            "handover_miaw_deliveries", "Delivery attempts by outcome", ["outcome"], registry=self.registry
        )
        self.dead_deliveries = Gauge(
            "handover_miaw_dead_deliveries",
            "Dead letters in the store (deliveries given up on, waiting for a re-drive), read at each scrape",
            registry=self.registry,
        )
        self.stream_reconnects = Counter(
            "handover_miaw_stream_reconnects", "MIAW event stream reconnects", registry=self.registry
        )
        self.miaw_call_seconds = Histogram(
            "handover_miaw_miaw_call_seconds",
            "One MIAW HTTP attempt, request to body read (sse: to the headers), by endpoint",
            ["endpoint"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.start_seconds = Histogram(
            "handover_miaw_start_seconds",
            "POST /v1/handovers that started a handover: request handled to response built",
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.relay_seconds = Histogram(
            "handover_miaw_message_relay_seconds",
            "POST /v1/handovers/{id}/messages that sent to MIAW: request handled to response built",
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.delivery_attempt_seconds = Histogram(
            "handover_miaw_delivery_attempt_seconds",
            "One push delivery attempt to the bot platform, request to body read, by outcome",
            ["outcome"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.delivery_lag_seconds = Histogram(
            "handover_miaw_delivery_lag_seconds",
            "From the store write that recorded the event (its receipt) to its delivery's 2xx, by delivery type",
            ["type"],
            buckets=LAG_BUCKETS,
            registry=self.registry,
        )

    def miaw_call(self, endpoint: str, outcome: str, seconds: float) -> None:
        """Count and time one MIAW HTTP attempt (a `CallObserver`); `outcome` is the status or the failure's name."""
        child = self._miaw_call_children.get((endpoint, outcome))
        if child is None:
            # labels() takes a lock and builds a key on every call; the children are few and kept here.
            child = self._miaw_call_children[(endpoint, outcome)] = self.miaw_calls.labels(endpoint, outcome)
        child.inc()
        self._child(self.miaw_call_seconds, endpoint).observe(seconds)

    def delivery_attempt(self, outcome: str, seconds: float) -> None:
        """Time one delivery attempt; `outcome` is the status class (`2xx`, `3xx`, `4xx`, `5xx`), `timeout` or
        `connection`."""
        self._child(self.delivery_attempt_seconds, outcome).observe(seconds)

    def delivery_lag(self, kind: str, seconds: float) -> None:
        """The lag of one delivered delivery of type `kind`."""
        self._child(self.delivery_lag_seconds, kind).observe(seconds)

    def _child(self, histogram: Histogram, label: str) -> Histogram:
        key = (histogram, label)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = histogram.labels(label)
        return child
