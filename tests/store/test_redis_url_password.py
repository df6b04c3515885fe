"""A Redis store URL's password is never printed, whether it is in `user:pass@` or in a `password` query
parameter, which redis-py takes too: before, `serve --store 'redis://host/0?password=...'` printed it
in its "refusing to start" line."""

from __future__ import annotations

import subprocess
import sys

import pytest

from handover_miaw.store.preflight import redacted_url
from tests.processes import free_port


def _serve(store: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "handover_miaw",
            "serve",
            "--insecure-dev",
            "--port",
            str(free_port()),
            "--store",
            store,
        ],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


@pytest.mark.parametrize(
    ("query", "shown"),
    [
        ("password=S3CRET-query", "password=***"),
        ("namespace=x&password=S3CRET-query", "password=***"),
        ("password=S3CRET-query%2Bmore", "password=***"),
    ],
)
def test_an_unreachable_redis_is_named_without_its_query_password(query: str, shown: str) -> None:
    port = free_port()  # nothing listens there
    result = _serve(f"redis://admin:S3CRET-user@127.0.0.1:{port}/0?{query}")
    assert result.returncode == 2, result.stderr
    assert f"the Redis store at redis://admin:***@127.0.0.1:{port}/0?{shown} does not answer" in result.stderr
    assert "S3CRET" not in result.stderr
    assert "internal error" not in result.stderr


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("redis://h:6379/0?password=pw&x=1", "redis://h:6379/0?password=***&x=1"),
        ("redis://h:6379/0?x=a%2Fb&PassWord=pw", "redis://h:6379/0?x=a%2Fb&PassWord=***"),
        ("redis://h:6379/0?pass%77ord=pw&password=pw2", "redis://h:6379/0?pass%77ord=***&password=***"),
        ("redis://h:6379/0?passwords=kept&password", "redis://h:6379/0?passwords=kept&password"),
    ],
)
def test_redacted_url_hides_every_password_parameter_and_keeps_the_rest(url: str, shown: str) -> None:
    assert redacted_url(url) == shown
