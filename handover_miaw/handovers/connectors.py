"""Connectors as the runtime uses them: one shared MIAW client each, and a short-lived cache of their
configuration's Forward Events setting for the per-event check."""

from __future__ import annotations

import time

import aiohttp

from handover_miaw.errors import NotFoundError
from handover_miaw.manifest import Manifest
from handover_miaw.miaw import CallObserver, MiawClient
from handover_miaw.store.base import Store
from handover_miaw.store.records import ConnectorRecord

__all__ = ["Connectors"]

# A connector changed through another process is seen within this long.
_CACHE_S = 1.0


class Connectors:
    """Connector lookups and MIAW clients for the handover service."""

    def __init__(
        self,
        store: Store,
        manifest: Manifest,
        session: aiohttp.ClientSession,
        request_timeout_s: float,
        observer: CallObserver | None = None,
    ) -> None:
        self._store = store
        self._observer = observer
        self._manifest = manifest
        self._session = session
        self._request_timeout_s = request_timeout_s
        self._clients: dict[tuple[str, float], MiawClient] = {}
        self._forwards: dict[str, tuple[float, bool]] = {}

    def client_for(self, connector: ConnectorRecord) -> MiawClient:
        """The MIAW client of a connector, shared by its handovers (it holds no per-conversation state, and
        one per handover multiplied its memory by the live handovers); a changed connector gets a new one."""
        key = (connector.name, connector.updated_at)
        client = self._clients.get(key)
        if client is None:
            config = self._manifest.connector_with_defaults(connector.config)
            client = MiawClient(
                config["baseUrl"],
                config["organizationId"],
                config["esDeveloperName"],
                config["capabilitiesVersion"],
                session=self._session,
                request_timeout=self._request_timeout_s,
                observer=self._observer,
            )
            self._clients = {k: v for k, v in self._clients.items() if k[0] != connector.name}
            self._clients[key] = client
        return client

    async def forwards_events(self, name: str) -> bool:
        """The connector's Forward Events setting (defaults applied), read for every MIAW event: cached
        briefly, as on Redis each read is a round trip (and applying the defaults each time cost CPU)."""
        now = time.monotonic()
        hit = self._forwards.get(name)
        if hit is not None and hit[0] > now:
            return hit[1]
        record = await self._store.get_connector(name)
        forward = bool(record and self._manifest.connector_with_defaults(record.config).get("forwardEvents"))
        self._forwards[name] = (now + _CACHE_S, forward)
        return forward

    def changed(self, name: str) -> None:
        """A connector was replaced or removed through this process: stop using the cached setting."""
        self._forwards.pop(name, None)

    async def require(self, name: str) -> ConnectorRecord:
        """The connector, or a 404 naming it."""
        record = await self._store.get_connector(name)
        if record is None:
            raise NotFoundError(f"connector {name!r} does not exist", pointer="/connector")
        return record
