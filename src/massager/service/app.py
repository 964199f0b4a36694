"""The transports of the service: a starlette app (websocket, HTTP, the page) on uvicorn, and a
Unix socket server, all clients of one Dispatcher, on one asyncio loop.

Imported only by `massager serve` (starlette and uvicorn load here, not at `massager --help`).
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import itertools
import json
import logging
import os
import re
import signal
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, PlainTextResponse, Response
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles
from starlette.websockets import WebSocket, WebSocketDisconnect

from massager.service.errors import TOO_LARGE, RpcError
from massager.service.rpc import MAX_MESSAGE, Client, Dispatcher

log = logging.getLogger("massager.service")
STATIC = Path(__file__).resolve().parent / "static"
WS_MAX_SIZE = 16 << 20
"""Largest websocket frame taken in (a larger one closes the connection); past MAX_MESSAGE the
frame is answered with error -32007."""
UNIX_LIMIT = 16 << 20
_NAME = re.compile(r"[^\w .()@:-]")


class Access:
    """Who needs the token: everyone but `session.stop`/`server.info`, when `required`."""

    def __init__(self, token: str | None, required: bool) -> None:
        self.token = token
        self.required = required

    def ok(self, given: str | None) -> bool:
        """Whether a client that gave `given` is authorized."""
        if not self.required:
            return True
        return bool(given and self.token and hmac.compare_digest(given, self.token))


class PushClient(Client):
    """A client on a persistent connection: pushes go through a latest-wins slot to a writer
    task, so a slow reader never holds up the service (it only misses intermediate states)."""

    def __init__(self, id: str, name: str, send: Callable[[str], Any], **kw: Any) -> None:
        super().__init__(id, name, **kw)
        self._send = send
        self._lock = asyncio.Lock()
        self._pending: str | None = None
        self._wake = asyncio.Event()

    async def notify(self, method: str, params: dict[str, Any]) -> None:
        """Queue the notification (replacing one not yet sent)."""
        self._pending = json.dumps({"jsonrpc": "2.0", "method": method, "params": params})
        self._wake.set()

    async def send(self, text: str) -> None:
        """Send one message (replies and pushes never interleave)."""
        async with self._lock:
            await self._send(text)

    async def writer(self) -> None:
        """Send queued notifications until cancelled."""
        while True:
            await self._wake.wait()
            self._wake.clear()
            text, self._pending = self._pending, None
            if text is not None:
                await self.send(text)


def _name(given: str | None, user_agent: str, host: str) -> str:
    if given:
        return _NAME.sub("", given)[:40] or "client"
    kind = "phone" if "Mobile" in user_agent else "browser" if "Mozilla" in user_agent else "client"
    return f"{kind} ({host})"


def build_app(dispatcher: Dispatcher, access: Access, static: Path = STATIC) -> Starlette:
    """The starlette app: `/ws`, `POST /rpc`, `/healthz`, the page at `/` and `/static/`."""
    ids = itertools.count(1)

    async def websocket(ws: WebSocket) -> None:
        host = ws.client.host if ws.client else "?"
        await ws.accept()
        client = PushClient(
            f"ws-{next(ids)}",
            _name(ws.query_params.get("name"), ws.headers.get("user-agent", ""), host),
            ws.send_text,
            authorized=access.ok(ws.query_params.get("token")),
        )
        dispatcher.connect(client)
        writer = asyncio.create_task(client.writer())
        try:
            while True:
                message = await ws.receive()
                if message["type"] == "websocket.disconnect":
                    break
                text = message.get("text")
                if text is None:
                    text = message.get("bytes") or b""
                reply = await dispatcher.handle_text(client, text)
                if reply is not None:
                    await client.send(reply)
        except (WebSocketDisconnect, RuntimeError, OSError):
            pass  # the client vanished: the finally below forgets it
        finally:
            writer.cancel()
            dispatcher.disconnect(client)

    async def rpc(request: Request) -> Response:
        header = request.headers.get("authorization", "")
        token = header[7:].strip() if header.lower().startswith("bearer ") else None
        token = token or request.query_params.get("token")
        body = bytearray()
        seen = 0
        async for chunk in request.stream():
            seen += len(chunk)  # past the limit the rest is read and dropped, then answered
            if seen > WS_MAX_SIZE:
                break
            if seen <= MAX_MESSAGE:
                body += chunk
        if seen > MAX_MESSAGE:
            error = RpcError(TOO_LARGE, "message too large: at most 1 MiB")
            return JSONResponse({"jsonrpc": "2.0", "id": None, "error": error.to_json()})
        host = request.client.host if request.client else "?"
        client = Client(
            f"http-{next(ids)}",
            _name(None, request.headers.get("user-agent", ""), host),
            authorized=access.ok(token),
        )
        dispatcher.connect(client)
        try:
            reply = await dispatcher.handle_text(client, bytes(body))
        finally:
            dispatcher.disconnect(client)
        if reply is None:
            return Response(status_code=204)
        return Response(reply, media_type="application/json")

    async def index(request: Request) -> Response:
        page = static / "index.html"
        if not page.is_file():
            return PlainTextResponse("the page is not installed; the API is at /ws and /rpc\n")
        return FileResponse(page)

    async def healthz(request: Request) -> Response:
        return JSONResponse({"ok": True})

    return Starlette(
        routes=[
            Route("/", index),
            Route("/healthz", healthz),
            Route("/rpc", rpc, methods=["POST"]),
            WebSocketRoute("/ws", websocket),
            Mount("/static", StaticFiles(directory=static, check_dir=False), name="static"),
        ]
    )


async def serve_unix(dispatcher: Dispatcher, path: Path) -> asyncio.AbstractServer:
    """Serve newline-delimited JSON-RPC on the Unix socket `path` (mode 0600, no token)."""
    ids = itertools.count(1)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    if path.exists() or path.is_symlink():
        if await _answers(path):
            from massager.errors import UsageError

            raise UsageError(f"another `massager serve` already listens on {path}")
        path.unlink()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        async def send(text: str) -> None:
            if writer.transport.get_write_buffer_size() > MAX_MESSAGE:
                return  # a reader this far behind misses pushes
            writer.write(text.encode() + b"\n")

        client = PushClient(f"unix-{next(ids)}", "cli", send, authorized=True, local=True)
        dispatcher.connect(client)
        pusher = asyncio.create_task(client.writer())
        try:
            while True:
                try:
                    line = await reader.readline()
                except (ValueError, asyncio.LimitOverrunError):
                    await client.send(
                        json.dumps(
                            {
                                "jsonrpc": "2.0",
                                "id": None,
                                "error": {"code": TOO_LARGE, "message": "message too large"},
                            }
                        )
                    )
                    break
                if not line:
                    break
                line = line.rstrip(b"\r\n")
                if not line.strip():
                    continue
                reply = await dispatcher.handle_text(client, line)
                if reply is not None:
                    await client.send(reply)
                    await writer.drain()
        except (ConnectionError, OSError):
            pass
        except asyncio.CancelledError:
            # the service is stopping with this client connected (`massager remote button`
            # always is): end quietly, as Python 3.11's streams log a cancelled handler
            # as an "Exception in callback" traceback
            pass
        finally:
            pusher.cancel()
            dispatcher.disconnect(client)
            with contextlib.suppress(Exception):
                writer.close()

    old = os.umask(0o077)
    try:
        server = await asyncio.start_unix_server(handle, path=str(path), limit=UNIX_LIMIT)
    finally:
        os.umask(old)
    os.chmod(path, 0o600)
    return server


async def _answers(path: Path) -> bool:
    try:
        _, writer = await asyncio.wait_for(asyncio.open_unix_connection(str(path)), 0.5)
    except (OSError, TimeoutError):
        return False
    writer.close()
    return True


def make_server(app: Starlette, host: str, port: int) -> Any:
    """A uvicorn server for `app` whose signals the service handles itself."""
    import uvicorn

    class Server(uvicorn.Server):
        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            yield  # `massager serve` installs its own handlers (stop first, then exit)

    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level="warning",
        lifespan="off",
        ws_max_size=WS_MAX_SIZE,
        ws_ping_interval=10.0,
        ws_ping_timeout=10.0,
        access_log=False,
    )
    return Server(config)


def install_signals(loop: asyncio.AbstractEventLoop, on_signal: Callable[[str], None]) -> None:
    """SIGTERM, SIGINT and SIGHUP call `on_signal(name)` on the loop."""
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        loop.add_signal_handler(sig, on_signal, sig.name)
