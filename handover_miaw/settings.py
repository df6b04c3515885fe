"""The runtime's settings: one object, from command-line flags over environment variables over defaults.

Environment variables are `HANDOVER_MIAW_<NAME>` (e.g. `HANDOVER_MIAW_API_KEYS=key1,key2`).
"""

from __future__ import annotations

import argparse
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from handover_miaw.delivery.targets import TargetPolicy
from handover_miaw.schema_formats import is_loopback_host

__all__ = ["ENV_PREFIX", "MIN_API_KEY_LENGTH", "SALESFORCE_MESSAGING_DOMAINS", "Settings", "add_arguments"]

ENV_PREFIX = "HANDOVER_MIAW_"
# MIAW base URLs are SCRT 2.0 URLs, `https://<mydomain>.my.salesforce-scrt.com` (sandboxes:
# `<mydomain>.sandbox.my.salesforce-scrt.com`), per ../shared/miaw-api.md; any other host needs an
# explicit allow-list entry (HANDOVER_MIAW_ALLOWED_HOSTS).
SALESFORCE_MESSAGING_DOMAINS = ("my.salesforce-scrt.com",)
# An API key is the only thing between the network and every conversation: 32 characters of a random
# token (e.g. `openssl rand -hex 32` gives 64) are beyond guessing; shorter ones are refused at start.
MIN_API_KEY_LENGTH = 32


def _csv(value: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in value.split(",") if part.strip())


def _bool(value: str) -> bool:
    return value.strip().lower() in {"1", "true", "yes", "on"}


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything the runtime can be told."""

    host: str = "127.0.0.1"
    port: int = 8080
    data_dir: Path = Path("data")
    connectors: Path | None = None
    store: str | None = None
    insecure_dev: bool = False
    api_keys: tuple[str, ...] = field(default=(), repr=False)
    allowed_hosts: tuple[str, ...] = SALESFORCE_MESSAGING_DOMAINS
    log_level: str = "INFO"
    max_body_bytes: int = 1024 * 1024
    max_file_bytes: int = 5 * 1024 * 1024
    delivery_horizon_s: float = 3600.0
    heartbeat_timeout_s: float = 90.0
    # Each MIAW REST call's own time limit; a call that takes longer is retried like a lost answer.
    miaw_timeout_s: float = 10.0
    # How long before the MIAW access token's `exp` the agent and the bot are told the session will end
    # (an authenticated user's handover goes on if the bot supplies a fresh identity token meanwhile).
    token_warning_s: float = 120.0
    # A handover still waiting for an agent this long after it (re-)entered the queue ends with
    # `queue_timeout` and its MIAW conversation is closed; 0 turns the limit off.
    queue_timeout_s: float = 1800.0
    # Several processes on one Redis store: a live handover's stream belongs to the process holding its
    # lease; a process that dies stops renewing and another takes its streams over within about this long.
    lease_ttl_s: float = 15.0
    # Stored state stays bounded: an ended handover with nothing pending is deleted with its events,
    # messages and deliveries after `retention_s`; one holding a dead letter is kept at least
    # `dead_letter_retention_s`, so the dead letter can be re-driven (both engines).
    retention_s: float = 7 * 86400.0
    dead_letter_retention_s: float = 30 * 86400.0
    # SQLite: past this size the WAL file is checkpointed and emptied (it otherwise grows under load).
    wal_limit_bytes: int = 64 * 1024 * 1024
    # A connection must send a whole request head this soon after it opens or after the previous answer,
    # else it is closed: slow-header clients cannot hold connections open (aiohttp's default is 75 s).
    header_timeout_s: float = 10.0
    # Readers of one handover's /events at once, per process; more get 429. A bot platform needs one
    # (two while a reconnect overlaps the old stream).
    max_event_subscribers: int = 8
    # The web UI (/ui/) is served unless switched off.
    no_ui: bool = False
    # Delivery targets (webhook / Cognigy URLs) that may be internal: host names or CIDRs, e.g. in-cluster
    # receivers. Everything else must be a public address (see delivery/targets.py); https always.
    delivery_allow: tuple[str, ...] = ()
    # Development mode answers the API only for localhost, IP addresses, `host` and these names (`Host`
    # header; `.example.com` takes a whole domain): the guard against DNS rebinding (api/dev_hosts.py).
    dev_hosts: tuple[str, ...] = ()

    def delivery_policy(self) -> TargetPolicy:
        """Where deliveries may go; ValueError for a malformed allow-list entry."""
        return TargetPolicy.build(insecure_dev=self.insecure_dev, allow=self.delivery_allow)

    @property
    def store_url(self) -> str:
        """The store to open: the explicit one, else SQLite in the data directory."""
        return self.store or str(self.data_dir / "handover-miaw.db")

    def base_url_allowed(self, host: str) -> bool:
        """Whether MIAW calls may go to this host: the allow-list, or loopback in development mode."""
        host = host.lower().rstrip(".")
        if is_loopback_host(host):
            return self.insecure_dev
        return any(host == d or host.endswith("." + d) for d in self.allowed_hosts)

    def problems(self) -> list[str]:
        """What makes these settings unusable for a start, as messages that quote no secret."""
        found = []
        if not self.insecure_dev and not self.api_keys:
            found.append("set HANDOVER_MIAW_API_KEYS (or --api-keys), or run with --insecure-dev")
        for index, key in enumerate(self.api_keys, start=1):
            if len(key) < MIN_API_KEY_LENGTH:
                found.append(
                    f"API key {index} of {len(self.api_keys)} is {len(key)} characters long; keys must have at "
                    f"least {MIN_API_KEY_LENGTH} (make one with `openssl rand -hex 32`)"
                )
        for name in _SECONDS:
            value = getattr(self, name)
            if name in _MORE_THAN_ZERO and not (math.isfinite(value) and value > 0):
                found.append(f"{ENV_PREFIX}{name.upper()} must be a number of seconds above 0 (got {value})")
            elif not (math.isfinite(value) and value >= 0):
                found.append(f"{ENV_PREFIX}{name.upper()} must be a number of seconds, 0 or more (got {value})")
        if self.wal_limit_bytes < 1:
            found.append("HANDOVER_MIAW_WAL_LIMIT_BYTES must be at least 1")
        try:
            self.delivery_policy()
        except ValueError as exc:
            found.append(f"HANDOVER_MIAW_DELIVERY_ALLOW: {exc}")
        return found

    @classmethod
    def from_sources(cls, args: argparse.Namespace | None = None, env: Mapping[str, str] | None = None) -> Settings:
        """Flags win over environment variables, which win over defaults."""
        env = os.environ if env is None else env
        values: dict[str, Any] = {}
        for item in fields(cls):
            raw = env.get(ENV_PREFIX + item.name.upper())
            if raw is not None:
                values[item.name] = _convert(item.name, raw)
            flag = getattr(args, item.name, None) if args is not None else None
            if flag is not None and flag is not False:
                values[item.name] = flag
        return cls(**values)


# The settings given in seconds, and those of them 0 would break: a lease of no time, a MIAW call or a
# stream read that times out at once, a slow-header limit aiohttp then drops.
_MORE_THAN_ZERO = frozenset({"lease_ttl_s", "miaw_timeout_s", "heartbeat_timeout_s", "header_timeout_s"})
_SECONDS = (
    "delivery_horizon_s",
    "heartbeat_timeout_s",
    "miaw_timeout_s",
    "token_warning_s",
    "queue_timeout_s",
    "lease_ttl_s",
    "retention_s",
    "dead_letter_retention_s",
    "header_timeout_s",
)


def _convert(name: str, raw: str) -> Any:
    if name in {"port", "max_body_bytes", "max_file_bytes", "max_event_subscribers", "wal_limit_bytes"}:
        return int(raw)
    if name in _SECONDS:
        return float(raw)
    if name in {"data_dir", "connectors"}:
        return Path(raw)
    if name in {"insecure_dev", "no_ui"}:
        return _bool(raw)
    if name in {"api_keys", "allowed_hosts", "delivery_allow", "dev_hosts"}:
        return _csv(raw)
    return raw


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The `serve` flags (every setting can also come from HANDOVER_MIAW_<NAME>)."""
    parser.add_argument("--host", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, help="port to listen on (default 8080)")
    parser.add_argument("--data-dir", dest="data_dir", type=Path, help="folder of the SQLite store (default ./data)")
    parser.add_argument("--connectors", type=Path, help="JSON file of connectors loaded at start")
    parser.add_argument("--store", help="store URL: a SQLite path or sqlite:///… (default), or redis://host:port/db")
    parser.add_argument(
        "--insecure-dev",
        dest="insecure_dev",
        action="store_true",
        default=None,
        help="development mode: no API key required, loopback MIAW URLs allowed (logs a warning)",
    )
    parser.add_argument(
        "--no-ui", dest="no_ui", action="store_true", default=None, help="do not serve the web UI under /ui/"
    )
    parser.add_argument(
        "--api-keys",
        dest="api_keys",
        type=_csv,
        help="comma-separated API keys for /v1 (prefer HANDOVER_MIAW_API_KEYS: ps shows a flag to every user)",
    )
    parser.add_argument(
        "--delivery-allow",
        dest="delivery_allow",
        type=_csv,
        help="comma-separated hosts or CIDRs that deliveries may reach although internal (in-cluster receivers)",
    )
    parser.add_argument(
        "--dev-hosts",
        dest="dev_hosts",
        type=_csv,
        help="development mode: host names the API answers for besides localhost and IP addresses "
        "(.example.com for a domain)",
    )
    parser.add_argument("--log-level", dest="log_level", help="DEBUG, INFO, WARNING, ERROR (default INFO)")
    parser.add_argument(
        "--token-warning-s",
        dest="token_warning_s",
        type=float,
        help="seconds before the MIAW token expires to warn the agent and the bot (default 120)",
    )
    parser.add_argument(
        "--queue-timeout-s",
        dest="queue_timeout_s",
        type=float,
        help="end a handover still queued after this many seconds; 0 = never (default 1800)",
    )
    parser.add_argument(
        "--lease-ttl-s",
        dest="lease_ttl_s",
        type=float,
        help="with several processes on Redis: how soon a dead process's handovers are taken over (default 15)",
    )
