"""Prometheus metrics, on a registry of our own so tests and several apps in one process do not collide."""

from __future__ import annotations

from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Gauge

__all__ = ["Metrics"]


@dataclass
class Metrics:
    """The runtime's metrics."""

    registry: CollectorRegistry = field(default_factory=CollectorRegistry)
    _miaw_call_children: dict[tuple[str, str], Counter] = field(default_factory=dict, init=False, repr=False)

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

    def miaw_call(self, endpoint: str, outcome: str) -> None:
        """Count one MIAW HTTP attempt (a `CallObserver`); `outcome` is the status or the failure's name."""
        child = self._miaw_call_children.get((endpoint, outcome))
        if child is None:
            # labels() takes a lock and builds a key on every call; the children are few and kept here.
            child = self._miaw_call_children[(endpoint, outcome)] = self.miaw_calls.labels(endpoint, outcome)
        child.inc()
