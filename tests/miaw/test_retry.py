"""The retry table, row by row, and the reconnect backoff (pure; no event loop)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from handover_miaw.miaw.retry import (
    FailureKind,
    ReconnectPolicy,
    RetryDecision,
    RetryPolicy,
    decide,
    parse_retry_after,
    reconnect_delay,
)

POLICY = RetryPolicy(max_attempts=4, base_delay=1.0, max_delay=5.0, max_retry_after=30.0)
NOW = 1_732_500_000.0  # 2024-11-25T02:00:00Z


def constant(value: float) -> Callable[[], float]:
    return lambda: value


def low() -> float:
    return 0.0


def high() -> float:
    return 0.999999


@pytest.mark.parametrize(
    ("outcome", "attempt", "retry_after", "expected"),
    [
        # 429 honours Retry-After in seconds, capped at max_retry_after.
        (429, 1, "3", RetryDecision(True, 3.0, "rate_limited")),
        (429, 1, "120", RetryDecision(True, 30.0, "rate_limited")),
        # ... or as an HTTP date (10 s after NOW); never sooner than the backoff (a date already past, or 0,
        # spent every attempt at once).
        (429, 2, "Mon, 25 Nov 2024 02:00:10 GMT", RetryDecision(True, 10.0, "rate_limited")),
        (429, 2, "Mon, 25 Nov 2024 01:00:00 GMT", RetryDecision(True, 1.0, "rate_limited")),
        (429, 1, "0", RetryDecision(True, 0.5, "rate_limited")),
        # ... and falls back to backoff when absent or unreadable (low jitter: half the ceiling).
        (429, 1, None, RetryDecision(True, 0.5, "rate_limited")),
        (429, 1, "soon", RetryDecision(True, 0.5, "rate_limited")),
        (429, 1, "\u00b2", RetryDecision(True, 0.5, "rate_limited")),  # a superscript two raised in float()
        (429, 4, "1", RetryDecision(False, 0.0, "rate_limited_attempts_exhausted")),
        # 5xx: exponential backoff 1, 2, 4 (capped at 5), low jitter halves it.
        (500, 1, None, RetryDecision(True, 0.5, "status_500")),
        (503, 2, None, RetryDecision(True, 1.0, "status_503")),
        (502, 3, None, RetryDecision(True, 2.0, "status_502")),
        (504, 4, None, RetryDecision(False, 0.0, "status_504_attempts_exhausted")),
        # A 5xx's Retry-After is not what drives its delay.
        (503, 1, "9", RetryDecision(True, 0.5, "status_503")),
        # Timeouts and connection errors like 5xx.
        (FailureKind.TIMEOUT, 1, None, RetryDecision(True, 0.5, "timeout")),
        (FailureKind.CONNECTION, 3, None, RetryDecision(True, 2.0, "connection")),
        (FailureKind.CONNECTION, 4, None, RetryDecision(False, 0.0, "connection_attempts_exhausted")),
        # Any other answer is final, whatever the attempt.
        (400, 1, None, RetryDecision(False, 0.0, "status_400_final")),
        (401, 1, None, RetryDecision(False, 0.0, "status_401_final")),
        (403, 1, None, RetryDecision(False, 0.0, "status_403_final")),
        (404, 1, None, RetryDecision(False, 0.0, "status_404_final")),
        (409, 1, None, RetryDecision(False, 0.0, "status_409_final")),
        (413, 1, "5", RetryDecision(False, 0.0, "status_413_final")),
        (417, 1, None, RetryDecision(False, 0.0, "status_417_final")),
        (302, 1, None, RetryDecision(False, 0.0, "status_302_final")),
    ],
)
def test_retry_table(
    outcome: int | FailureKind, attempt: int, retry_after: str | None, expected: RetryDecision
) -> None:
    assert decide(outcome, attempt, retry_after, now=NOW, policy=POLICY, rand=low) == expected


def test_backoff_is_capped_and_jittered() -> None:
    policy = RetryPolicy(max_attempts=100, base_delay=1.0, max_delay=5.0)
    assert decide(500, 10, policy=policy, rand=low).delay == 2.5
    assert decide(500, 10, policy=policy, rand=high).delay == pytest.approx(5.0)
    # Never zero, never above the cap, for any draw.
    for draw in (0.0, 0.25, 0.5, 0.75, 0.999):
        delay = decide(FailureKind.TIMEOUT, 1, policy=policy, rand=constant(draw)).delay
        assert 0.5 <= delay <= 1.0


def test_huge_attempt_numbers_do_not_overflow() -> None:
    policy = RetryPolicy(max_attempts=10**9, base_delay=1.0, max_delay=5.0)
    assert decide(500, 10**8, policy=policy, rand=low).delay == 2.5


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, None),
        ("0", 0.0),
        (" 12 ", 12.0),
        ("-3", None),
        ("1.5", None),
        ("Mon, 25 Nov 2024 02:01:00 GMT", 60.0),
        ("Monday, 25-Nov-24 02:01:00 GMT", 60.0),
        ("garbage", None),
        ("Mon, 25 Nov 2024 02:01:00 -0000", None),
        ("Mon, 01 Jan 2030 00:00:99999999999999999999 GMT", None),
        ("Mon, 01 Jan 99999999999999999999 00:00:00 GMT", None),
        ("Mon, 99999999999999999999 Jan 2030 00:00:00 GMT", None),
    ],
)
def test_parse_retry_after(value: str | None, expected: float | None) -> None:
    assert parse_retry_after(value, NOW) == expected


def test_reconnect_delay_grows_and_is_capped() -> None:
    policy = ReconnectPolicy(initial_delay=1.0, factor=2.0, max_delay=8.0)
    assert reconnect_delay(0, policy, high) == 0.0
    assert [reconnect_delay(n, policy, low) for n in range(1, 7)] == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]
    assert reconnect_delay(3, policy, high) == pytest.approx(4.0)
    assert reconnect_delay(10**9, policy, high) == pytest.approx(8.0)
