"""The simulator command's browser-client flags: what they set, and refusals (exit 2) for bad TLS flags."""

from __future__ import annotations

from typing import Any

import pytest

from handover_miaw.cli import _parser, main
from handover_miaw.simulator_command import config_options


def test_flags_set_the_config() -> None:
    args = _parser().parse_args(
        [
            "simulator",
            "--cors-origin",
            "https://a.example.com",
            "--cors-origin",
            "https://b.example.com",
            "--control-origin",
            "http://devbox:3000",
            "--require-last-event-id",
            "--retention-s",
            "30",
        ]
    )
    assert config_options(args) == {
        "cors_origins": frozenset({"https://a.example.com", "https://b.example.com"}),
        "control_origins": frozenset({"http://devbox:3000"}),
        "require_last_event_id": True,
        "retention_s": 30.0,
    }
    defaults = config_options(_parser().parse_args(["simulator"]))
    assert defaults == {
        "cors_origins": None,
        "control_origins": frozenset(),
        "require_last_event_id": False,
        "retention_s": 900.0,
    }


@pytest.mark.parametrize(
    ("args", "reason"),
    [
        (["--tls-cert", "c.pem"], "--tls-cert and --tls-key go together"),
        (["--tls", "self-signed", "--tls-key", "k.pem"], "leave out --tls-cert/--tls-key"),
        (["--tls-cert", "missing-cert.pem", "--tls-key", "missing-key.pem"], "missing-cert.pem / missing-key.pem"),
    ],
)
def test_bad_tls_flags_exit_2(args: list[str], reason: str, capsys: Any) -> None:
    assert main(["simulator", "--port", "0", *args]) == 2
    assert reason in capsys.readouterr().err
