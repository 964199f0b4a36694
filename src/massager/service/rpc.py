"""JSON-RPC 2.0 dispatch: one method set for every transport (websocket, HTTP, Unix, MQTT).

Transports hand each message's text to `Dispatcher.handle_text`, which parses
it (single request or batch), checks the envelope, and calls `Dispatcher.call`
for each request; `call` checks the token, the rate limit and the params (the
pydantic models of `service.models`) and runs the method. Every failure is an
`RpcError`: a code and a clear message, never a traceback.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import time
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, TypeAdapter, ValidationError

from massager.service.core import ServiceCore
from massager.service.errors import (
    INTERNAL_ERROR,
    INVALID_PARAMS,
    INVALID_REQUEST,
    METHOD_NOT_FOUND,
    PARSE_ERROR,
    RATE_LIMITED,
    TOO_LARGE,
    UNAUTHORIZED,
    RpcError,
)
from massager.service.handlers import Handlers
from massager.service.models import METHODS

__all__ = ["MAX_MESSAGE", "Client", "Dispatcher", "RpcError"]

log = logging.getLogger("massager.service")
MAX_MESSAGE = 1 << 20
"""Largest message accepted (1 MiB); a longer one gets error -32007."""
OPEN_METHODS = frozenset({"session.stop", "server.info"})
"""Allowed without a token, even when the service listens on the network."""
RATE_PER_S = 100.0
RATE_BURST = 200.0
PUSH_INTERVAL_S = 0.1
"""Status notifications go out at most this often (10 per second)."""


class Client:
    """One connection (websocket, HTTP request, Unix connection, the MQTT bridge).

    `authorized`: it gave the token, or needs none (local). `local`: the Unix
    socket on the service's own machine (a session it starts has no remote
    dead-man). Transports override `notify` to push a message; it must not block.
    """

    def __init__(self, id: str, name: str, *, authorized: bool = True, local: bool = False) -> None:
        self.id = id
        self.name = name
        self.authorized = authorized
        self.local = local

    async def notify(self, method: str, params: dict[str, Any]) -> None:
        """Push a notification to this client (the base class drops it)."""


class _Bucket:
    """A token bucket: `rate` requests a second, up to `burst` at once, timed on `clock` (s)."""

    def __init__(self, rate: float, burst: float, clock: Callable[[], float]) -> None:
        self.rate, self.burst = rate, burst
        self.clock = clock
        self.tokens = burst
        self.at = clock()

    def take(self) -> bool:
        now = self.clock()
        self.tokens = min(self.burst, self.tokens + (now - self.at) * self.rate)
        self.at = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False


def _params_error(exc: ValidationError) -> RpcError:
    parts = []
    for error in exc.errors():
        where = ".".join(str(p) for p in error["loc"]) or "params"
        message = str(error["msg"]).removeprefix("Value error, ")
        parts.append(f"{where}: {message}")
    return RpcError(INVALID_PARAMS, "; ".join(parts))


class Dispatcher:
    """Runs API methods for clients; keeps their subscriptions and pushes status changes.

    Each client may make `rate_per_s` calls a second, `burst` at once (`session.stop`
    is never refused), timed on `clock` (seconds; time.monotonic unless a test gives one).
    """

    def __init__(
        self,
        core: ServiceCore,
        *,
        listen: str = "",
        auth_required: bool = False,
        rate_per_s: float = RATE_PER_S,
        burst: float = RATE_BURST,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.core = core
        self.handlers = Handlers(core, listen=listen, auth_required=auth_required)
        self._rate = (rate_per_s, burst)
        self._clock = clock  # seconds, for the rate buckets (tests pass a virtual one)
        self._buckets: dict[str, _Bucket] = {}
        self._subscribers: dict[str, Client] = {}
        self._sent: dict[str, dict[str, Any]] = {}
        self._changed = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        core.add_listener(self._on_change)

    # -- clients ----------------------------------------------------------------------------

    def connect(self, client: Client) -> None:
        """Register a connected client (it may hold control and subscribe)."""
        self.core.connect(client)

    def disconnect(self, client: Client) -> None:
        """Unregister a client: drops its subscription, its control and its rate bucket."""
        self._subscribers.pop(client.id, None)
        self._sent.pop(client.id, None)
        self._buckets.pop(client.id, None)
        self.core.disconnect(client)

    # -- calls ------------------------------------------------------------------------------

    async def call(
        self, client: Client, method: str, params: dict[str, Any] | list[Any] | None
    ) -> Any:
        """Run `method` for `client`; returns its JSON-able result or raises RpcError."""
        if method not in METHODS:
            raise RpcError(METHOD_NOT_FOUND, f"method not found: {method}")
        if not client.authorized and method not in OPEN_METHODS:
            raise RpcError(
                UNAUTHORIZED,
                "unauthorized: this service needs its token (?token= or Authorization: Bearer)",
            )
        if method != "session.stop":  # stop is never refused
            bucket = self._buckets.get(client.id)
            if bucket is None:
                bucket = self._buckets[client.id] = _Bucket(*self._rate, self._clock)
            if not bucket.take():
                raise RpcError(
                    RATE_LIMITED, f"rate limited: at most {self._rate[0]:g} requests a second"
                )
        if params is None or params == []:
            params = {}
        if not isinstance(params, dict):
            raise RpcError(INVALID_PARAMS, "params: give the params by name, as an object")
        model, result_type = METHODS[method]
        try:
            checked = model.model_validate(params)
        except ValidationError as exc:
            raise _params_error(exc) from None
        if method == "status.subscribe":
            self._subscribers[client.id] = client
            self._sent.pop(client.id, None)
        elif method == "status.unsubscribe":
            self._subscribers.pop(client.id, None)
            return True
        result = await self.handlers.run(method, client, checked)
        return _dump(result, result_type)

    async def handle_text(self, client: Client, text: str | bytes) -> str | None:
        """Answer one transport message (a request, a notification or a batch): the reply text,
        or None when nothing is to be answered (notifications only)."""
        if len(text) > MAX_MESSAGE:
            return _encode(_error(None, RpcError(TOO_LARGE, "message too large: at most 1 MiB")))
        try:
            message = json.loads(text)
        except json.JSONDecodeError as exc:
            where = f" (line {exc.lineno}, column {exc.colno}: {exc.msg})"
            return _encode(
                _error(None, RpcError(PARSE_ERROR, f"parse error: not valid JSON{where}"))
            )
        except (ValueError, RecursionError):  # not UTF-8, or nested too deep
            return _encode(_error(None, RpcError(PARSE_ERROR, "parse error: not valid JSON")))
        if isinstance(message, list):
            if not message:
                return _encode(
                    _error(None, RpcError(INVALID_REQUEST, "invalid request: empty batch"))
                )
            replies = [r for r in [await self._one(client, m) for m in message] if r is not None]
            return _encode(replies) if replies else None
        reply = await self._one(client, message)
        return None if reply is None else _encode(reply)

    async def _one(self, client: Client, message: Any) -> dict[str, Any] | None:
        if not isinstance(message, dict):
            return _error(None, RpcError(INVALID_REQUEST, "invalid request: not a JSON object"))
        has_id = "id" in message
        rid = message.get("id")
        if (has_id and not (rid is None or isinstance(rid, str | int))) or isinstance(rid, bool):
            return _error(
                None, RpcError(INVALID_REQUEST, "invalid request: id must be a string or number")
            )
        method = message.get("method")
        if message.get("jsonrpc") != "2.0" or not isinstance(method, str):
            return _error(
                rid,
                RpcError(INVALID_REQUEST, 'invalid request: needs "jsonrpc": "2.0" and a method'),
            )
        try:
            result = await self.call(client, method, message.get("params"))
        except RpcError as exc:
            return _error(rid, exc) if has_id else None
        except Exception:
            log.exception("method %s failed", method)
            return _error(rid, RpcError(INTERNAL_ERROR, "internal error")) if has_id else None
        if not has_id:
            return None
        return {"jsonrpc": "2.0", "id": rid, "result": result}

    # -- status pushes ----------------------------------------------------------------------

    def _on_change(self) -> None:
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        with contextlib.suppress(RuntimeError):  # the loop is closing
            loop.call_soon_threadsafe(self._changed.set)

    async def push_loop(self) -> None:
        """Push each subscriber the status when it changed, at most 10 times a second (a task).

        It also runs the remote dead-man's check, at least 4 times a second.
        """
        self._loop = asyncio.get_running_loop()
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), timeout=0.25)
            self._changed.clear()
            started = time.monotonic()
            self.core.check_deadman()
            await self.push_now()
            await asyncio.sleep(max(0.0, PUSH_INTERVAL_S - (time.monotonic() - started)))

    async def push_now(self) -> None:
        """Send each subscriber its status if it differs from what it was sent last."""
        for client in list(self._subscribers.values()):
            status = self.core.status(client.id)
            if self._sent.get(client.id) == status:
                continue
            self._sent[client.id] = status
            try:
                await asyncio.wait_for(client.notify("status", status), timeout=1.0)
            except Exception:  # a client that cannot take pushes loses its subscription
                self._subscribers.pop(client.id, None)


@functools.cache
def _adapter(result_type: Any) -> TypeAdapter[Any]:
    """The (cached) pydantic adapter of a method's result type."""
    return TypeAdapter(result_type)


def _dump(result: Any, result_type: Any) -> Any:
    """A method's result as JSON data: a model as it is; anything else (dicts, lists of them)
    read as the method's result type first, so it is dumped as the model it stands for."""
    if isinstance(result, BaseModel):
        return result.model_dump(mode="json")
    adapter = _adapter(result_type)
    return adapter.dump_python(adapter.validate_python(result), mode="json")


def _error(rid: Any, exc: RpcError) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": rid, "error": exc.to_json()}


def _encode(message: Any) -> str:
    return json.dumps(message, separators=(",", ":"), allow_nan=False)
