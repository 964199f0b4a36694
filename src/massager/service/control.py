"""Who may drive the device: the connected clients and the one among them holding control.

Only the controller may start, pause, resume and change intensity; anyone may
stop and watch. A client that calls one of those while nobody holds control
takes it. When the controller leaves (disconnects or releases), `gone_since`
starts the remote dead-man's clock.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, Protocol

from massager.service.errors import NOT_CONTROLLER, RpcError


class Peer(Protocol):
    """What control needs of a client: who it is."""

    id: str
    name: str


class Control:
    """The connected clients and the controller; `changed()` is called on every change."""

    def __init__(self, changed: Callable[[], None]) -> None:
        self.controller: Peer | None = None
        self.clients: dict[str, Peer] = {}
        self.gone_since: float | None = None
        """When the last controller left (time.monotonic), or None while one holds control."""
        self._changed = changed

    def _holds(self, client: Peer) -> bool:
        return self.controller is not None and self.controller.id == client.id

    def _drop(self) -> None:
        self.controller = None
        self.gone_since = time.monotonic()

    def connect(self, client: Peer) -> None:
        """A client is connected (it counts in `clients` and may hold control)."""
        self.clients[client.id] = client
        self._changed()

    def disconnect(self, client: Peer) -> None:
        """A client is gone: it drops control."""
        self.clients.pop(client.id, None)
        if self._holds(client):
            self._drop()
        self._changed()

    def take(self, client: Peer, force: bool = False) -> None:
        """Make `client` the controller (`force`: from whoever holds it); else NOT_CONTROLLER."""
        if not force:
            self.may(client)
        self.controller = client
        self.gone_since = None
        self._changed()

    def release(self, client: Peer) -> None:
        """`client` gives up control (nothing if it does not hold it)."""
        if self._holds(client):
            self._drop()
            self._changed()

    def may(self, client: Peer) -> None:
        """NOT_CONTROLLER if another client holds control (nothing changes either way)."""
        holder = self.controller
        if holder is not None and holder.id != client.id:
            raise RpcError(NOT_CONTROLLER, f"control is held by {holder.name}")

    def check(self, client: Peer) -> None:
        """Start, pause, resume, intensity: the controller only (or `client`, if nobody is)."""
        if self.controller is None:
            self.take(client)
        else:
            self.may(client)

    def holder(self) -> dict[str, Any] | None:
        """`{"id", "name"}` of the controller, or None."""
        holder = self.controller
        return None if holder is None else {"id": holder.id, "name": holder.name}
