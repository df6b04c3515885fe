"""Webhook signatures: sign/verify, the replay window, tampering — and the documented receiver recipe."""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Callable

import pytest

from handover_miaw.delivery import envelope
from handover_miaw.delivery.envelope import SignatureError, sign, verify

SECRET = "whsec_0123456789abcdef"
BODY = b'{"id":"dl_1","type":"agent.message"}'


def _recipe() -> Callable[..., bool]:
    """The `verify_delivery` function exactly as the module docstring documents it."""
    match = re.search(r"```python\n(.*?)```", envelope.__doc__ or "", re.DOTALL)
    assert match, "the envelope module documents a verification recipe"
    namespace: dict[str, object] = {}
    exec(compile(match.group(1), "recipe", "exec"), namespace)  # noqa: S102 - our own documented code
    function = namespace["verify_delivery"]
    assert callable(function)
    return function  # type: ignore[return-value]


def test_a_signature_verifies_with_the_module_and_with_the_recipe() -> None:
    now = int(time.time())
    header = sign(SECRET, BODY, now)
    verify(SECRET, BODY, header, now)
    assert _recipe()(SECRET, BODY, header) is True


@pytest.mark.parametrize(
    ("secret", "body", "age_s"),
    [
        ("whsec_other", BODY, 0),  # wrong secret
        (SECRET, BODY + b" ", 0),  # body changed by one byte
        (SECRET, BODY, 301),  # outside the replay window
        (SECRET, BODY, -301),  # from the future
    ],
)
def test_tampering_and_replays_are_refused(secret: str, body: bytes, age_s: int) -> None:
    now = int(time.time())
    header = sign(SECRET, BODY, now - age_s)
    with pytest.raises(SignatureError):
        verify(secret, body, header, now)
    assert _recipe()(secret, body, header) is False


@pytest.mark.parametrize("header", ["", "t=abc,v1=00", "v1=00", "t=1", "garbage"])
def test_malformed_headers_are_refused(header: str) -> None:
    with pytest.raises(SignatureError):
        verify(SECRET, BODY, header, time.time())
    assert _recipe()(SECRET, BODY, header) is False


@pytest.mark.parametrize(
    ("handover_id", "key"),
    [("ho_1", "entry-1"), ("ho_2", "status:queued"), ("hö_ß", "ключ\u2603"), ("", ""), ("ho_3", "x" * 500)],
)
def test_delivery_ids_are_the_name_based_uuids_they_always_were(handover_id: str, key: str) -> None:
    # Ids are stable across restarts and versions: an event replayed after an upgrade must find its delivery.
    namespace = uuid.UUID("6f1c9a52-1d2e-4f7e-9d6a-2b7f0f3c8e11")
    expected = "dl_" + uuid.uuid5(namespace, f"{handover_id}\x00{key}").hex
    assert envelope.delivery_id(handover_id, key) == expected
