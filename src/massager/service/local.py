"""A small blocking client of the service's Unix socket (`massager remote`, the start button)."""

from __future__ import annotations

import itertools
import json
import socket
from pathlib import Path
from typing import Any

from massager.errors import DeviceError, MassagerError


class RemoteError(MassagerError):
    """The service answered a call with a JSON-RPC error."""

    exit_code = 1

    def __init__(self, code: int, message: str, data: Any = None) -> None:
        super().__init__(message)
        self.code = code
        self.data = data


class LocalClient:
    """Newline-delimited JSON-RPC over the service's Unix socket (no token needed)."""

    def __init__(self, path: Path, timeout: float = 10.0) -> None:
        self.path = path
        self._ids = itertools.count(1)
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._sock.settimeout(timeout)
        try:
            self._sock.connect(str(path))
        except OSError as exc:
            self._sock.close()
            raise DeviceError(
                f"no `massager serve` answers on {path} ({exc.strerror or exc}); "
                "start it with `massager serve` (or give --socket)"
            ) from None
        self._file = self._sock.makefile("rb")

    def call(self, method: str, params: dict[str, Any] | None = None) -> Any:
        """Call `method`; its result, or RemoteError with the service's message."""
        rid = next(self._ids)
        request = {"jsonrpc": "2.0", "id": rid, "method": method, "params": params or {}}
        try:
            self._sock.sendall(json.dumps(request).encode() + b"\n")
            while True:
                line = self._file.readline()
                if not line:
                    raise DeviceError(f"the service on {self.path} closed the connection")
                reply = json.loads(line)
                if reply.get("id") == rid:
                    break
        except OSError as exc:
            raise DeviceError(f"the service on {self.path} did not answer: {exc}") from None
        error = reply.get("error")
        if error is not None:
            raise RemoteError(
                int(error.get("code", 0)), str(error.get("message")), error.get("data")
            )
        return reply.get("result")

    def close(self) -> None:
        """Close the connection (idempotent)."""
        self._file.close()
        self._sock.close()

    def __enter__(self) -> LocalClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
