"""Pydantic models of a rig file: actuators, their limits and their driver bindings.

Field values arrive already unit-parsed where a unit applies (see the loader);
the models check ranges and cross-field rules.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from massager import zones
from massager.units import parse_duration_ms, parse_temperature_c

ActuatorKind = Literal["roller", "vibration", "air", "heater"]
Foot = Literal["left", "right"]
Level = Annotated[float, Field(ge=0.0, le=1.0)]
Pin = Annotated[int, Field(ge=0, le=27, description="BCM GPIO number")]

KIND_CODES: dict[str, int] = {"roller": 0, "vibration": 1, "air": 2, "heater": 3}
"""Kind codes shared with the executor and the wire protocol."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TempSensor(_Strict):
    """Where a heater's temperature is read on a Pi."""

    type: Literal["ds18b20", "mcp3008"]
    id: str | None = Field(None, description="1-wire device id (ds18b20), e.g. 28-00000abc1234")
    channel: int | None = Field(None, ge=0, le=7, description="MCP3008 channel (mcp3008)")


class GpioBinding(_Strict):
    """How an actuator is wired to the Pi's GPIO (BCM numbers)."""

    forward: Pin | None = Field(None, description="roller: forward PWM input (Motor)")
    backward: Pin | None = Field(None, description="roller: backward PWM input (Motor)")
    phase: Pin | None = Field(None, description="roller: phase pin (PhaseEnableMotor)")
    enable: Pin | None = Field(None, description="roller: enable PWM pin (PhaseEnableMotor)")
    pin: Pin | None = Field(None, description="vibration, air pump, heater: the PWM pin")
    valve: Pin | None = Field(None, description="air: vent valve (on = hold air)")
    pwm_hz: int = Field(1000, ge=1, le=40_000, description="PWM frequency in Hz")
    sensor: TempSensor | None = Field(None, description="heater: temperature sensor")

    def pins(self) -> list[int]:
        """Every GPIO pin this binding uses."""
        named = (self.forward, self.backward, self.phase, self.enable, self.pin, self.valve)
        return [p for p in named if p is not None]


class SerialBinding(_Strict):
    """Which channel of the Pico firmware drives the actuator."""

    channel: int = Field(ge=0, le=15)


class Bindings(_Strict):
    """An actuator's binding for each driver that can drive it."""

    gpio: GpioBinding | None = None
    serial: SerialBinding | None = None


class Actuator(_Strict):
    """One actuator of a rig, with the zones it reaches and its safety limits."""

    id: str = Field(pattern=r"^[a-z][a-z0-9_]*$", max_length=40)
    kind: ActuatorKind
    foot: Foot
    reaches: list[str] = Field(min_length=1)
    max_level: Level = 1.0
    min_level: Level = Field(0.0, description="below this the motor stalls (rollers)")
    max_slew: float = Field(2.0, gt=0.0, le=100.0, description="level per second (soft start)")
    max_on_ms: int = Field(
        600_000, gt=0, description="longest continuous on-time, e.g. `10m`; air defaults to 30s"
    )
    max_temp_c: float | None = Field(None, description="heater: hard temperature cap, e.g. `42C`")
    bindings: Bindings

    @field_validator("max_on_ms", mode="before")
    @classmethod
    def _duration(cls, value: object) -> object:
        return (
            value
            if isinstance(value, int) and not isinstance(value, bool)
            else parse_duration_ms(value)
        )

    @field_validator("max_temp_c", mode="before")
    @classmethod
    def _temperature(cls, value: object) -> object:
        return None if value is None else parse_temperature_c(value)

    @field_validator("reaches")
    @classmethod
    def _zones(cls, value: list[str]) -> list[str]:
        for zone in value:
            if zone == zones.FORBIDDEN_ZONE:
                raise ValueError(f"no actuator may reach {zones.FORBIDDEN_ZONE!r} (forbidden zone)")
            if not zones.is_zone(zone):
                raise ValueError(
                    f"unknown zone {zone!r}; known zones: {', '.join(zones.ALL_ZONES)}"
                )
        return value

    @model_validator(mode="after")
    def _limits(self) -> Actuator:
        if self.min_level > self.max_level:
            raise ValueError(f"min_level {self.min_level} is above max_level {self.max_level}")
        if self.kind == "heater":
            if self.max_temp_c is None:
                raise ValueError("a heater needs max_temp_c (for example 42C)")
            if not 30.0 <= self.max_temp_c <= 45.0:
                raise ValueError(f"max_temp_c {self.max_temp_c:g}C is outside 30C..45C")
        elif self.max_temp_c is not None:
            raise ValueError("max_temp_c applies to heaters only")
        if self.bindings.gpio is None and self.bindings.serial is None:
            raise ValueError(f"actuator {self.id!r} has no binding: give it gpio or serial")
        return self

    @property
    def leaf_zones(self) -> tuple[str, ...]:
        """Every leaf zone this actuator reaches."""
        return zones.expand(self.reaches)

    @property
    def low_bound(self) -> float:
        """Lowest level the actuator accepts: -max_level for rollers, else 0."""
        return -self.max_level if self.kind == "roller" else 0.0


class Rig(_Strict):
    """A massager's hardware: its actuators and the Pi-side extras."""

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]*$")
    description: str = ""
    actuators: list[Actuator] = Field(min_length=1)
    sensitivity: dict[str, Annotated[float, Field(ge=0.0, le=1.0)]] = Field(
        default_factory=dict, description="per-zone sensitivity, only lower than the defaults"
    )
    estop_pin: Pin | None = Field(None, description="GPIO emergency-stop button (gpio driver)")
    heat_max_ms: int = Field(
        1_200_000, gt=0, description="heat timer across the session, e.g. `20m`"
    )
    watchdog_ms: int = Field(250, ge=20, le=5000, description="device watchdog")

    @field_validator("heat_max_ms", mode="before")
    @classmethod
    def _heat_duration(cls, value: object) -> object:
        return (
            value
            if isinstance(value, int) and not isinstance(value, bool)
            else parse_duration_ms(value)
        )

    @model_validator(mode="after")
    def _consistent(self) -> Rig:
        ids = [a.id for a in self.actuators]
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            raise ValueError(f"actuator ids must be unique; repeated: {', '.join(dupes)}")
        for zone, factor in self.sensitivity.items():
            if not zones.is_zone(zone) or zone in zones.PARENTS:
                raise ValueError(f"sensitivity names {zone!r}, which is not a leaf zone")
            if factor > zones.DEFAULT_SENSITIVITY[zone]:
                raise ValueError(
                    f"sensitivity of {zone} may only be lowered "
                    f"(default {zones.DEFAULT_SENSITIVITY[zone]}, given {factor})"
                )
        return self

    def actuator(self, actuator_id: str) -> Actuator:
        """The actuator with this id; KeyError if there is none."""
        for act in self.actuators:
            if act.id == actuator_id:
                return act
        raise KeyError(actuator_id)

    def zone_sensitivity(self, zone: str) -> float:
        """Sensitivity of `zone` on this rig (rig overrides applied)."""
        return zones.sensitivity(zone, self.sensitivity)
