"""validation: request bodies validated per second by the runtime's compiled validators
(ApiDocument(load_manifest()).is_valid("startHandover", body)), in this process, single-threaded."""

from __future__ import annotations

import argparse
import time
from typing import Any

from bench.figures import print_table, write_results
from handover_miaw.api.openapi import ApiDocument
from handover_miaw.manifest import load_manifest

BODIES: dict[str, dict[str, Any]] = {
    "minimal": {"connector": "acme", "sessionId": "s-1", "userId": "u-1"},
    "typical": {
        "connector": "acme",
        "sessionId": "session-0123456789",
        "userId": "user-0123456789",
        "language": "en_US",
        "settings": {
            "sendTranscript": True,
            "routingAttributes": {"language": "en_US", "Case_Number__c": "00001234", "Priority__c": "High"},
            "userConnectsMessage": True,
            "userDisconnectsMessage": True,
            "endOnParticipantChange": False,
        },
        "transcript": [
            {
                "source": "user" if i % 2 else "bot",
                "text": f"turn {i}: where is my order?",
                "timestamp": "2024-05-01T10:00:00Z",
            }
            for i in range(10)
        ],
        "context": {"channel": "webchat", "locale": "en-US"},
    },
}


def rate(doc: ApiDocument, body: dict[str, Any], seconds: float) -> tuple[int, float]:
    if not doc.is_valid("startHandover", body):
        raise RuntimeError(f"the benchmark body is not valid: {body}")
    done = 0
    started = time.perf_counter()
    deadline = started + seconds
    is_valid = doc.is_valid
    while time.perf_counter() < deadline:
        for _ in range(1000):
            is_valid("startHandover", body)
        done += 1000
    return done, time.perf_counter() - started


def run(args: argparse.Namespace) -> dict[str, Any]:
    doc = ApiDocument(load_manifest())
    seconds = 0.5 if args.quick else 3.0
    figures: dict[str, Any] = {"operation": "startHandover", "seconds_per_body": seconds, "target_per_second": 100_000}
    rows = []
    for name, body in BODIES.items():
        rate(doc, body, 0.1)  # warm-up
        done, took = rate(doc, body, seconds)
        per_second = done / took
        figures[name] = {"validated": done, "per_second": round(per_second), "us_per_body": round(1e6 / per_second, 2)}
        rows.append([name, done, per_second, 1e6 / per_second])
    print_table("validation (compiled validators, one core)", ["body", "validated", "bodies/s", "µs/body"], rows)
    print(f"target ≥ {figures['target_per_second']:,}/s")
    print(f"→ {write_results('validation', figures, quick=args.quick)}")
    return figures
