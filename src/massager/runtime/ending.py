"""How a session ended: its `Finished` event (and `Fault`), and its result or its error.

Exactly one `Finished` is published per session, whichever way it ends: before
it started, after a ramp-down (done, stopped, the cap, the pause limit, an
interrupt, an abort) or on a failure (a latched fault, a device error).
"""

from __future__ import annotations

from dataclasses import dataclass

from massager.drivers.base import DeviceStatus
from massager.errors import Interrupted, MassagerError, SafetyStop, TraceError
from massager.runtime.controls import Controls
from massager.runtime.events import EventBus, Fault, Finished, FinishReason, Outcome
from massager.units import clock_text


@dataclass(frozen=True, slots=True)
class SessionResult(Outcome):
    """How a session that ended without an error ended."""

    reason: FinishReason
    session_ms: float
    """Session time reached (pauses excluded)."""
    wall_ms: float
    """Clock time from start to the end, pauses and ramp-down included."""
    intensity: float
    message: str = ""


class Ended(Exception):
    """Leave the play loop towards a ramp-down with this reason."""

    def __init__(self, reason: FinishReason, message: str = "") -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


class EndReport:
    """Publishes how one session ended on `bus`, once, and builds its result or error."""

    def __init__(self, bus: EventBus, controls: Controls, duration_ms: int) -> None:
        self.bus = bus
        self.controls = controls
        self.duration_ms = duration_ms
        """The program's length: a session that is done ended there, whenever it was seen."""
        self.reported = False
        """Whether the `Finished` event is out."""

    def finish(self, event: Finished) -> None:
        """Publish the session's `Finished` event."""
        self.reported = True
        self.bus.publish(event)

    def unstarted(self) -> None:
        """Before session time 0: an interrupt or an abort ends the session unstarted
        (raises its error)."""
        controls = self.controls
        error: MassagerError | None = controls.error
        if controls.interrupts:
            name = controls.signal_name or "SIGINT"
            error = Interrupted(
                f"interrupted ({name}) before the session started; every output is off"
            )
        if error is not None:
            reason: FinishReason = "interrupted" if isinstance(error, Interrupted) else "error"
            self.finish(
                Finished(t_ms=0.0, reason=reason, exit_code=error.exit_code, message=str(error))
            )
            raise error

    def ramped_down(self, end: Ended, *, t: float, wall: float, intensity: float) -> SessionResult:
        """After the ramp-down that `end` began, with the device at session time `t`: the
        result, or (an interrupt, an abort, the cap) raises the error."""
        controls = self.controls
        reason, message = end.reason, end.message
        if controls.ending():
            reason = "interrupted"
        if reason == "done":
            # the program ended at its own end, whenever the last poll noticed it
            t = min(t, float(self.duration_ms))
        if reason == "interrupted":
            error: MassagerError | None = controls.error
            if error is None or (controls.interrupts and not isinstance(error, TraceError)):
                name = controls.signal_name or "SIGINT"
                how = "turned off at once" if controls.interrupts >= 2 else "ramped down and off"
                error = Interrupted(f"interrupted ({name}) at {clock_text(t)}; every output {how}")
            if isinstance(error, Interrupted):
                self.finish(Finished(t_ms=t, reason=reason, exit_code=130, message=str(error)))
            else:
                self.bus.publish(Fault(t_ms=t, kind="output", message=str(error)))
                self.finish(
                    Finished(t_ms=t, reason="error", exit_code=error.exit_code, message=str(error))
                )
            raise error
        if reason == "cap":
            error = SafetyStop(f"{message}; every output ramped down and off")
            self.bus.publish(Fault(t_ms=t, kind="safety", message=str(error)))
            self.finish(Finished(t_ms=t, reason=reason, exit_code=4, message=str(error)))
            raise error
        self.finish(Finished(t_ms=t, reason=reason, exit_code=0, message=message))
        return SessionResult(
            reason=reason, session_ms=t, wall_ms=wall, intensity=intensity, message=message
        )

    def failed(self, exc: MassagerError, t: float, status: DeviceStatus | None) -> None:
        """Report the failure `exc` at session time `t` (unless the end is reported already);
        `status` is the device's last report."""
        if self.reported:
            return
        if isinstance(exc, SafetyStop):
            faults = status.faults if status is not None else ()
            self.bus.publish(Fault(t_ms=t, kind="safety", message=str(exc), faults=faults))
            self.finish(Finished(t_ms=t, reason="fault", exit_code=4, message=str(exc)))
        else:
            self.bus.publish(Fault(t_ms=t, kind="device", message=str(exc)))
            code = exc.exit_code
            self.finish(Finished(t_ms=t, reason="error", exit_code=code, message=str(exc)))

    def trace_cut(
        self, failure: TraceError | None, raising: BaseException | None, t: float
    ) -> None:
        """After closing: if the trace could not be written (`failure`, its final flush too)
        and that is not what is being raised already, report it and raise it."""
        if failure is None or failure is raising:
            return
        self.bus.publish(Fault(t_ms=t, kind="output", message=str(failure)))
        raise failure
