"""The JSON-RPC error codes of the service API and the exception that carries one."""

from __future__ import annotations

from typing import Any

PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
INTERNAL_ERROR = -32603
UNAUTHORIZED = -32001
NOT_CONTROLLER = -32002
WRONG_STATE = -32003
PROFILE_PROBLEMS = -32004
DEVICE_ERROR = -32005
RATE_LIMITED = -32006
TOO_LARGE = -32007


class RpcError(Exception):
    """A JSON-RPC error: `code`, a `message` for people, optional `data`."""

    def __init__(self, code: int, message: str, data: Any = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.data = data

    def to_json(self) -> dict[str, Any]:
        """The `error` member of a JSON-RPC response."""
        out: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.data is not None:
            out["data"] = self.data
        return out
