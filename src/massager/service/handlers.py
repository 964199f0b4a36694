"""The API's methods, each a coroutine taking the client and its checked params."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import massager
from massager import api
from massager.errors import InputError, MassagerError, SafetyError, UsageError
from massager.service.core import ServiceCore
from massager.service.describe import describe, summary
from massager.service.errors import DEVICE_ERROR, INVALID_PARAMS, PROFILE_PROBLEMS, RpcError
from massager.service.models import (
    ControlResult,
    DescribeParams,
    HistoryParams,
    IntensityParams,
    Params,
    RigSummary,
    ServerInfo,
    StartParams,
    Status,
    TakeParams,
)
from massager.stream import CommandStream

Handler = Callable[[Any, Any], Awaitable[Any]]


def profile_error(exc: MassagerError) -> RpcError:
    """A profile that does not load or compile -> -32004 with its located problems
    (`file:line:col` as `massager validate` prints them); a bad param -> -32602."""
    if isinstance(exc, UsageError):
        return RpcError(INVALID_PARAMS, f"params: {str(exc).removeprefix('--set ')}")
    problems: list[dict[str, Any]] = []
    if isinstance(exc, InputError):
        problems = [
            {"file": p.path, "line": p.line, "col": p.col, "message": p.message}
            for p in exc.problems
        ]
    first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    kind = "refused by a safety limit" if isinstance(exc, SafetyError) else "profile problems"
    return RpcError(PROFILE_PROBLEMS, f"{kind}: {first}", {"problems": problems})


def parse_cap(value: str | int | None, limit_ms: int) -> int | None:
    """`session_cap` ("30m", "90s" or ms) in ms, at most the service's cap; else -32602."""
    from massager.units import format_duration, parse_duration_ms

    if value is None:
        return None
    try:
        cap = value if isinstance(value, int) else parse_duration_ms(value)
    except ValueError as exc:
        raise RpcError(INVALID_PARAMS, f"session_cap: {exc}") from None
    if cap <= 0:
        raise RpcError(INVALID_PARAMS, f"session_cap: must be above zero, got {value}")
    if cap > limit_ms:
        raise RpcError(
            INVALID_PARAMS,
            f"session_cap: at most the service's cap of {format_duration(limit_ms)}, got {value}",
        )
    return cap


class Handlers:
    """Every method of the API, on one ServiceCore."""

    def __init__(self, core: ServiceCore, *, listen: str, auth_required: bool) -> None:
        self.core = core
        self.listen = listen
        self.auth_required = auth_required
        self._profiles: list[dict[str, Any]] | None = None
        self._table: dict[str, Handler] = {
            "server.info": self.server_info,
            "profile.list": self.profile_list,
            "rig.list": self.rig_list,
            "profile.describe": self.profile_describe,
            "session.start": self.session_start,
            "session.pause": self.session_pause,
            "session.resume": self.session_resume,
            "session.set_intensity": self.session_set_intensity,
            "session.stop": self.session_stop,
            "fault.acknowledge": self.fault_acknowledge,
            "control.take": self.control_take,
            "control.release": self.control_release,
            "status.get": self.status,
            "status.subscribe": self.status,
            "history.list": self.history_list,
        }

    async def run(self, method: str, client: Any, params: Params) -> Any:
        """Run `method` (already known and its params checked)."""
        return await self._table[method](client, params)

    def _status(self, client: Any) -> Status:
        return Status.model_validate(self.core.status(client.id))

    async def status(self, client: Any, params: Params) -> Status:
        """`status.get` / `status.subscribe`: the status object now."""
        return self._status(client)

    async def server_info(self, client: Any, params: Params) -> ServerInfo:
        """What the service drives and how it is reached."""
        core = self.core
        return ServerInfo(
            version=massager.__version__,
            device=core.options.device,
            rig=core.rig.name,
            listen=self.listen,
            auth_required=self.auth_required,
            deadman_s=core.options.deadman_s,
            session_cap_ms=core.options.session_cap_ms,
        )

    async def profile_list(self, client: Any, params: Params) -> list[dict[str, Any]]:
        """The bundled profiles (loaded once, in a worker thread)."""
        if self._profiles is None:
            self._profiles = await asyncio.to_thread(summary)
        return self._profiles

    async def rig_list(self, client: Any, params: Params) -> list[RigSummary]:
        """The bundled rigs, and whether each is the one the service drives."""

        def rows() -> list[RigSummary]:
            out = []
            for name in api.bundled_rigs():
                try:
                    rig = api.load_rig(name)
                except MassagerError:
                    continue
                out.append(
                    RigSummary(
                        name=rig.name,
                        actuators=len(rig.actuators),
                        current=rig.name == self.core.rig.name,
                    )
                )
            return out

        return await asyncio.to_thread(rows)

    async def _compile(self, params: DescribeParams | StartParams) -> CommandStream:
        cap = None
        if isinstance(params, StartParams):
            cap = parse_cap(params.session_cap, self.core.options.session_cap_ms)
        try:
            return await asyncio.to_thread(
                self.core.compile,
                profile=params.profile,
                text=params.text,
                params=params.params,
                cap_ms=cap,
            )
        except MassagerError as exc:
            raise profile_error(exc) from None

    async def profile_describe(self, client: Any, params: DescribeParams) -> dict[str, Any]:
        """Steps, actuators and the compiled timeline of a profile for this rig."""
        stream = await self._compile(params)
        return await asyncio.to_thread(describe, self.core, params, stream)

    async def session_start(self, client: Any, params: StartParams) -> Status:
        """Compile and play a profile; the caller becomes the controller if nobody is."""
        self.core.control.may(client)  # refuse a second controller before compiling
        stream = await self._compile(params)
        cap = parse_cap(params.session_cap, self.core.options.session_cap_ms)
        try:
            self.core.start(
                client,
                stream,
                intensity=params.intensity,
                cap_ms=cap,
                local=bool(getattr(client, "local", False)),
            )
        except MassagerError as exc:  # the device could not be set up
            raise RpcError(DEVICE_ERROR, f"device error: {exc}") from None
        return self._status(client)

    async def session_pause(self, client: Any, params: Params) -> Status:
        """Ramp down and hold."""
        self.core.pause(client)
        return self._status(client)

    async def session_resume(self, client: Any, params: Params) -> Status:
        """Ramp back up and continue."""
        self.core.resume(client)
        return self._status(client)

    async def session_set_intensity(self, client: Any, params: IntensityParams) -> Status:
        """Change the user intensity."""
        self.core.set_intensity(client, params.value)
        return self._status(client)

    async def session_stop(self, client: Any, params: Params) -> Status:
        """Stop: anyone, any state, idempotent."""
        self.core.stop()
        return self._status(client)

    async def fault_acknowledge(self, client: Any, params: Params) -> Status:
        """Clear a latched fault."""
        self.core.acknowledge()
        return self._status(client)

    async def control_take(self, client: Any, params: TakeParams) -> ControlResult:
        """Become the controller."""
        self.core.control.take(client, params.force)
        return self._control()

    async def control_release(self, client: Any, params: Params) -> ControlResult:
        """Give up control."""
        self.core.control.release(client)
        return self._control()

    def _control(self) -> ControlResult:
        return ControlResult.model_validate({"controller": self.core.control.holder()})

    async def history_list(self, client: Any, params: HistoryParams) -> list[dict[str, Any]]:
        """The latest sessions, newest first."""
        history = self.core.history
        if history is None:
            return []
        return await asyncio.to_thread(history.list, params.limit)
