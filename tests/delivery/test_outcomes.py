"""The delivery outcome table row by row, the backoff schedule and the log throttle (all pure)."""

from __future__ import annotations

import pytest

from handover_miaw.backoff import Backoff
from handover_miaw.delivery.outcomes import MAX_RETRY_AFTER_S, Verdict, judge
from handover_miaw.throttle import LogThrottle

NOW = 1_000_000.0
FAR = NOW + 3600


def low() -> float:
    return 0.0


@pytest.mark.parametrize(
    ("status", "attempt", "retry_after", "deadline", "expected"),
    [
        (None, 1, None, FAR, Verdict(retry=True, delay=0.125)),  # no answer, or anything raised
        (503, 3, None, FAR, Verdict(retry=True, delay=0.5)),
        (500, 50, None, FAR, Verdict(retry=True, delay=15.0)),  # capped at 30 s, equal jitter
        (429, 1, "7", FAR, Verdict(retry=True, delay=7.0)),
        (429, 1, "999999", FAR, Verdict(retry=True, delay=MAX_RETRY_AFTER_S)),
        (429, 1, "soon", FAR, Verdict(retry=True, delay=0.125)),  # unreadable: backoff
        (429, 1, "\u00b2", FAR, Verdict(retry=True, delay=0.125)),  # a superscript two raised in float()
        (429, 1, "0", FAR, Verdict(retry=True, delay=0.125)),  # never sooner than the backoff: it spun
        (429, 3, "Thu, 01 Jan 1970 00:00:00 GMT", FAR, Verdict(retry=True, delay=0.5)),  # a date in the past
        (408, 1, None, FAR, Verdict(retry=True, delay=0.125)),  # the receiver timed out reading: not final
        (425, 1, None, FAR, Verdict(retry=True, delay=0.125)),
        (400, 1, None, FAR, Verdict(retry=False)),
        (404, 1, None, FAR, Verdict(retry=False)),
        (302, 1, None, FAR, Verdict(retry=False)),  # redirects are not followed, nor retried
        (None, 1, None, NOW + 0.1, Verdict(retry=False)),  # the retry would start past the horizon
    ],
)
def test_the_table(
    status: int | None, attempt: int, retry_after: str | None, deadline: float, expected: Verdict
) -> None:
    assert judge(status, attempt, retry_after, now=NOW, deadline=deadline, rand=low) == expected


def test_the_backoff_grows_is_capped_and_never_zero() -> None:
    backoff = Backoff(base=0.25, factor=2.0, cap=30.0)
    assert [backoff.ceiling(n) for n in range(7)] == [0.0, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0]
    assert backoff.ceiling(10**9) == 30.0
    assert backoff.delay(1, low) == 0.125
    assert backoff.delay(1, lambda: 0.999999) == pytest.approx(0.25)


def test_one_line_per_key_per_interval_with_the_count_held_back() -> None:
    throttle = LogThrottle(interval_s=60.0)
    assert throttle.admit("d1", 0.0) == 0
    assert [throttle.admit("d1", t) for t in (1.0, 2.0, 59.0)] == [None, None, None]
    assert throttle.admit("d2", 3.0) == 0  # another delivery has its own budget
    assert throttle.admit("d1", 60.0) == 3
    throttle.forget("d1")
    assert throttle.admit("d1", 61.0) == 0
