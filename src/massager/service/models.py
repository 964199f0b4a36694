"""The messages of the service API: pydantic models of every method's params and result.

`massager schema api` prints their JSON Schema; docs/api.md describes them.
Params are strict (a number is a JSON number, no unknown members).
"""

from __future__ import annotations

import math
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

MAX_TEXT = 1 << 20
"""Longest uploaded profile text (the largest message is 1 MiB too)."""


class Params(BaseModel):
    """Base of every method's params: strict types, no unknown members."""

    model_config = ConfigDict(extra="forbid", strict=True)


class NoParams(Params):
    """A method that takes no params: `{}` (or none at all)."""


def _unit_interval(value: float) -> float:
    if not (math.isfinite(value) and 0.0 <= value <= 1.0):
        raise ValueError(f"must be within 0..1, got {value:g}")
    return value


class ProfileRef(Params):
    """A profile by bundled name (or path on the service's machine), or as uploaded YAML text."""

    profile: str | None = Field(None, max_length=4096, description="a bundled profile's name")
    text: str | None = Field(None, max_length=MAX_TEXT, description="a profile as YAML text")
    params: dict[str, str] = Field(
        default_factory=dict, description="profile params to override, as text (like --set)"
    )

    @model_validator(mode="after")
    def _one_source(self) -> ProfileRef:
        if (self.profile is None) == (self.text is None):
            raise ValueError("give either profile (a name) or text (YAML), not both or neither")
        return self


class DescribeParams(ProfileRef):
    """`profile.describe`."""


class StartParams(ProfileRef):
    """`session.start`: what to play, at what user intensity, for how long at most."""

    intensity: float = Field(1.0, description="user intensity 0..1")
    session_cap: str | int | None = Field(
        None, description='end the session after this long: "30m", "90s" or milliseconds'
    )

    _check_intensity = field_validator("intensity")(_unit_interval)


class IntensityParams(Params):
    """`session.set_intensity`."""

    value: float = Field(description="user intensity 0..1")

    _check_value = field_validator("value")(_unit_interval)


class TakeParams(Params):
    """`control.take`."""

    force: bool = Field(False, description="take control from whoever holds it")


class HistoryParams(Params):
    """`history.list`."""

    limit: int = Field(20, ge=1, le=1000)


# -- results ------------------------------------------------------------------------------


class ServerInfo(BaseModel):
    """`server.info`: what the service drives and how it is reached."""

    version: str
    device: str
    rig: str
    listen: str
    auth_required: bool
    deadman_s: float | None
    session_cap_ms: int


class ProfileSummary(BaseModel):
    """One entry of `profile.list`."""

    name: str
    description: str
    duration_ms: int
    techniques: list[str]


class RigSummary(BaseModel):
    """One entry of `rig.list`."""

    name: str
    actuators: int
    current: bool


class StepRow(BaseModel):
    """A step of a described profile, on the session clock."""

    index: int
    label: str
    technique: str
    zones: list[str]
    start_ms: int
    end_ms: int


class ActuatorRow(BaseModel):
    """An actuator of the service's rig."""

    id: str
    kind: str
    foot: str
    zones: list[str]


class Description(BaseModel):
    """`profile.describe`: the profile's steps and its compiled timeline for this rig."""

    name: str
    description: str
    duration_ms: int
    params: dict[str, Any]
    steps: list[StepRow]
    actuators: list[ActuatorRow]
    timeline: dict[str, list[tuple[float, float]]]
    warnings: list[str]


class StepNow(BaseModel):
    """The step playing."""

    index: int
    count: int
    label: str
    technique: str
    ends_in_ms: int


class StepNext(BaseModel):
    """The step after it."""

    index: int
    label: str
    technique: str


class Controller(BaseModel):
    """Who holds control."""

    id: str
    name: str


class FaultInfo(BaseModel):
    """A latched fault."""

    reason: str
    message: str


class LastOutcome(BaseModel):
    """How the previous session ended."""

    outcome: str
    message: str


class Status(BaseModel):
    """The status object: what every client draws."""

    state: Literal["idle", "running", "paused", "stopping", "fault"]
    profile: str | None
    session_ms: int
    duration_ms: int
    time_left_ms: int
    step: StepNow | None
    next_step: StepNext | None
    intensity: float
    levels: dict[str, float]
    zones: dict[str, float]
    temps: dict[str, float]
    fault: FaultInfo | None
    controller: Controller | None
    you: str | None
    clients: int
    deadman_in_s: float | None
    last_outcome: LastOutcome | None
    warnings: list[str]


class ControlResult(BaseModel):
    """`control.take` / `control.release`: who holds control now."""

    controller: Controller | None


class HistoryRecord(BaseModel):
    """One session of `history.list`."""

    id: int
    profile: str
    started_at: str
    duration_ms: int
    outcome: Literal["done", "stopped", "cap", "deadman", "fault", "error"]
    message: str
    faults: list[str]


METHODS: dict[str, tuple[type[Params], Any]] = {
    "server.info": (NoParams, ServerInfo),
    "profile.list": (NoParams, list[ProfileSummary]),
    "rig.list": (NoParams, list[RigSummary]),
    "profile.describe": (DescribeParams, Description),
    "session.start": (StartParams, Status),
    "session.pause": (NoParams, Status),
    "session.resume": (NoParams, Status),
    "session.set_intensity": (IntensityParams, Status),
    "session.stop": (NoParams, Status),
    "fault.acknowledge": (NoParams, Status),
    "control.take": (TakeParams, ControlResult),
    "control.release": (NoParams, ControlResult),
    "status.get": (NoParams, Status),
    "status.subscribe": (NoParams, Status),
    "status.unsubscribe": (NoParams, bool),
    "history.list": (HistoryParams, list[HistoryRecord]),
}
"""Every method: its params model and its result type."""


def api_schema() -> dict[str, Any]:
    """The JSON Schema of every method's params and result, and of the status notification."""
    from pydantic import TypeAdapter

    methods: dict[str, Any] = {}
    for name, (params, result) in METHODS.items():
        methods[name] = {
            "params": params.model_json_schema(),
            "result": TypeAdapter(result).json_schema(),
        }
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "massager service API (JSON-RPC 2.0)",
        "methods": methods,
        "notifications": {"status": Status.model_json_schema()},
    }
