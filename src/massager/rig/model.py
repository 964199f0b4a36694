"""Pydantic models of a rig file: actuators, their limits and their driver bindings.

Field values arrive already unit-parsed where a unit applies (see the loader);
the models check ranges and cross-field rules.
"""

# No `from __future__ import annotations` here (see massager.profile.model): pydantic
# compiles each string annotation again for every model class it creates.

import re
import struct
from collections.abc import Callable
from typing import Annotated, Literal, Self

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from firmware_bridge import codec
from firmware_bridge.names import KIND_CODES
from massager import zones
from massager.diagnostics import At
from massager.errors import CompileWarning
from massager.units import (
    DURATION_PATTERN,
    MAX_DURATION_MS,
    TEMPERATURE_PATTERN,
    format_duration,
    parse_duration_ms,
    parse_temperature_c,
)

ActuatorKind = Literal["roller", "vibration", "air", "heater"]
Foot = Literal["left", "right"]


def _number(value: object, info: ValidationInfo) -> object:
    """`value` if it is written as a number (not text, not true/false), else a ValueError."""
    if isinstance(value, bool):
        raise ValueError(f"{info.field_name} must be a number, not {str(value).lower()}")
    if isinstance(value, str):
        raise ValueError(
            f"{info.field_name} must be a number, not {value!r} (leave out the quotes)"
        )
    if not isinstance(value, int | float):
        raise ValueError(f"{info.field_name} must be a number, not {value!r}")
    return value


Number = BeforeValidator(_number)
"""A rig's numbers are written as numbers: `0.5`, not `"0.5"`; `true` is not 1."""
Real = Annotated[float, Number]
Whole = Annotated[int, Number]
Level = Annotated[float, Field(ge=0.0, le=1.0), Number]
DurationMs = Annotated[
    int, WithJsonSchema({"type": "string", "pattern": DURATION_PATTERN, "examples": ["30s"]})
]
"""Milliseconds, written in a rig file with units (`30s`, `10m`)."""
TemperatureC = Annotated[
    float, WithJsonSchema({"type": "string", "pattern": TEMPERATURE_PATTERN, "examples": ["42C"]})
]
"""Degrees Celsius, written in a rig file like `42C`."""
Pin = Annotated[int, Field(ge=0, le=27, description="BCM GPIO number"), Number]

"""Kind codes shared with the executor and the wire protocol."""

MIN_ON_MS = 1000
"""Shortest max_on: a burst ends ON_MARGIN_MS (200 ms) before it and ramps inside it."""

AIR_MAX_ON_MS = 30_000
"""Default longest inflation of an air bladder."""

HEATER_MAX_TEMP_C = 42.0
"""Default heater cap: skin burns after hours at 44C, so heaters stay below it."""

MIN_SLEW = 0.001
"""Slowest max_slew (level per second): the longest ramp, -1 to 1 at this rate (2001 s),
fits the 32-bit microsecond duration of a ramp on the wire (about 71 min)."""

SPI0_PINS: dict[int, str] = {8: "CE0", 9: "MISO", 10: "MOSI", 11: "SCLK"}
"""BCM pins of the Pi's SPI0 bus, which an MCP3008 temperature input occupies."""


class _Written:
    """A duration as written in a file (under `max_on`, not `max_on_ms`): it needs a unit."""

    def __init__(self, value: object) -> None:
        self.value = value


def _needs_unit(data: dict[str, object], key: str) -> dict[str, object]:
    """Mark a file-written duration so its field validator insists on a unit, and refuse
    it beside its whole-millisecond twin (`max_on` and `max_on_ms`)."""
    if key in data and f"{key}_ms" in data:
        raise At((f"{key}_ms",), f"write one of {key} and {key}_ms, not both", key=True)
    return {**data, key: _Written(data[key])} if key in data else data


def _ms(value: object, info: ValidationInfo) -> object:
    """Milliseconds from a duration with a unit, or from `*_ms` written as a whole number."""
    if isinstance(value, _Written):
        return parse_duration_ms(value.value)
    if isinstance(value, bool):
        raise ValueError(f"{info.field_name} must be a number, not {str(value).lower()}")
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        if value.is_integer():
            return int(value)
        name = info.field_name or "value"
        raise ValueError(
            f"{name} {value:g} is not a whole number of milliseconds "
            f"(or write {name.removesuffix('_ms')} with a unit, {value:g}ms, to have it rounded)"
        )
    return parse_duration_ms(value)


def _reached_zone(zone: str) -> str:
    if zone == zones.FORBIDDEN_ZONE:
        raise ValueError(f"no actuator may reach {zones.FORBIDDEN_ZONE!r} (forbidden zone)")
    zones.check(zone)
    return zone


ReachedZone = Annotated[
    str,
    AfterValidator(_reached_zone),
    WithJsonSchema({"type": "string", "enum": list(zones.ALL_ZONES)}),
]
"""A zone an actuator reaches (each one checked, so a bad one is reported where it is)."""


def wire_problem(encode: Callable[[], bytes]) -> str | None:
    """Why a value cannot travel in the field of the wire message `encode` builds, or None.

    Every rig field a device is configured with is encoded at load by the very codec
    the serial link uses, so one that does not fit its field's width is a located
    error here rather than a failure at `--device serial`.
    """
    try:
        encode()
    except (struct.error, OverflowError, ValueError) as exc:
        return f"cannot travel in the device's configuration message ({exc})"
    return None


class _Strict(BaseModel):
    model_config = ConfigDict(
        extra="forbid", frozen=True, populate_by_name=True, allow_inf_nan=False, defer_build=True
    )


class TempSensor(_Strict):
    """Where a heater's temperature is read on a Pi."""

    type: Literal["ds18b20", "mcp3008"]
    id: str | None = Field(None, description="1-wire device id (ds18b20), e.g. 28-00000abc1234")
    channel: Annotated[int, Field(ge=0, le=7), Number] | None = Field(
        None, description="MCP3008 channel (mcp3008)"
    )
    beta: Real = Field(3950.0, gt=0.0, description="mcp3008: the NTC thermistor's beta (K)")
    r25_ohm: Real = Field(10_000.0, gt=0.0, description="mcp3008: thermistor ohms at 25C")
    series_ohm: Real = Field(
        10_000.0, gt=0.0, description="mcp3008: resistor from 3.3V to the channel"
    )

    @model_validator(mode="after")
    def _addressed(self) -> Self:
        if self.type == "ds18b20":
            if self.id is None:
                raise At(
                    ("type",),
                    "a ds18b20 sensor needs its 1-wire id, e.g. id: 28-00000abc1234 "
                    "(see ls /sys/bus/w1/devices/)",
                )
            if not re.fullmatch(r"[0-9a-f]{2}-[0-9a-f]{12}", self.id):
                raise At(
                    ("id",),
                    f"{self.id!r} is not a 1-wire id: two hex digits, '-', twelve hex digits, "
                    "e.g. 28-00000abc1234 (see ls /sys/bus/w1/devices/)",
                )
            if self.channel is not None:
                raise At(("channel",), "channel applies to mcp3008 sensors only")
        else:
            if self.channel is None:
                raise At(("type",), "an mcp3008 sensor needs its channel (0..7)")
            if self.id is not None:
                raise At(("id",), "id applies to ds18b20 sensors only")
        return self


class GpioBinding(_Strict):
    """How an actuator is wired to the Pi's GPIO (BCM numbers)."""

    forward: Pin | None = Field(None, description="roller: forward PWM input (Motor)")
    backward: Pin | None = Field(None, description="roller: backward PWM input (Motor)")
    phase: Pin | None = Field(None, description="roller: phase pin (PhaseEnableMotor)")
    enable: Pin | None = Field(None, description="roller: enable PWM pin (PhaseEnableMotor)")
    pin: Pin | None = Field(None, description="vibration, air pump, heater: the PWM pin")
    valve: Pin | None = Field(None, description="air: vent valve (on = hold air)")
    pwm_hz: Whole = Field(1000, ge=1, le=40_000, description="PWM frequency in Hz")
    sensor: TempSensor | None = Field(None, description="heater: temperature sensor")

    def pins(self) -> list[int]:
        """Every GPIO pin this binding uses."""
        return list(self.named_pins().values())

    def named_pins(self) -> dict[str, int]:
        """The pins this binding uses, by the field that names them."""
        named = {
            "forward": self.forward,
            "backward": self.backward,
            "phase": self.phase,
            "enable": self.enable,
            "pin": self.pin,
            "valve": self.valve,
        }
        return {name: p for name, p in named.items() if p is not None}

    @model_validator(mode="after")
    def _distinct(self) -> Self:
        seen: dict[int, str] = {}
        for name, p in self.named_pins().items():
            if p in seen:
                raise At((name,), f"GPIO{p} is named twice in one binding ({seen[p]} and {name})")
            seen[p] = name
        return self

    def shape_problem(self, kind: str) -> str | None:
        """Why this binding cannot drive an actuator of `kind`, or None if it can."""
        names = set(self.named_pins())
        if kind == "roller":
            motor, phase_enable = {"forward", "backward"}, {"phase", "enable"}
            if names not in (motor, phase_enable):
                return (
                    "a roller's gpio binding needs forward and backward (Motor) "
                    "or phase and enable (PhaseEnableMotor), nothing else"
                )
        else:
            allowed = {"pin", "valve"} if kind == "air" else {"pin"}
            if "pin" not in names or not names <= allowed:
                extra = " and optionally valve" if kind == "air" else ""
                return f"a {kind}'s gpio binding needs pin{extra}, nothing else"
        if self.sensor is not None and kind != "heater":
            return "sensor applies to heaters only"
        return None


class SerialBinding(_Strict):
    """Which channel of the Pico firmware drives the actuator."""

    channel: Whole = Field(ge=0, le=15)


class Bindings(_Strict):
    """An actuator's binding for each driver that can drive it."""

    gpio: GpioBinding | None = None
    serial: SerialBinding | None = None


class Actuator(_Strict):
    """One actuator of a rig, with the zones it reaches and its safety limits."""

    id: str = Field(pattern=r"^[a-z][a-z0-9_]*$", max_length=40)
    kind: ActuatorKind
    foot: Foot
    reaches: list[ReachedZone] = Field(min_length=1)
    max_level: Level = 1.0
    min_level: Level = Field(0.0, description="below this the motor stalls (rollers)")
    max_slew: Real = Field(2.0, ge=MIN_SLEW, le=100.0, description="level per second (soft start)")
    max_on_ms: DurationMs = Field(
        600_000,
        gt=0,
        le=MAX_DURATION_MS,
        alias="max_on",
        description="longest continuous on-time, e.g. `10m`; air defaults to 30s",
    )
    max_temp_c: TemperatureC | None = Field(
        None, description="heater: hard temperature cap (heaters default to 42C)"
    )
    bindings: Bindings

    @model_validator(mode="before")
    @classmethod
    def _air_on_time(cls, data: object) -> object:
        if not isinstance(data, dict):
            return data
        data = _needs_unit(data, "max_on")
        if data.get("kind") == "air" and "max_on" not in data and "max_on_ms" not in data:
            data = {**data, "max_on_ms": AIR_MAX_ON_MS}
        if data.get("kind") == "heater" and data.get("max_temp_c") is None:
            data = {**data, "max_temp_c": f"{HEATER_MAX_TEMP_C:g}C"}
        return data

    @field_validator("max_on_ms", mode="before")
    @classmethod
    def _duration(cls, value: object, info: ValidationInfo) -> object:
        return _ms(value, info)

    @field_validator("max_temp_c", mode="before")
    @classmethod
    def _temperature(cls, value: object) -> object:
        return None if value is None else parse_temperature_c(value)

    @model_validator(mode="after")
    def _limits(self) -> Self:
        if self.max_on_ms < MIN_ON_MS:
            raise At(
                ("max_on",),
                f"max_on {format_duration(self.max_on_ms)} is too short: the compiler ends "
                "each burst 200 ms before max_on and ramps in and out inside it, so give at "
                f"least {format_duration(MIN_ON_MS)}",
            )
        if self.min_level > self.max_level:
            raise At(
                ("min_level",), f"min_level {self.min_level} is above max_level {self.max_level}"
            )
        if self.kind == "heater":
            if self.max_temp_c is None:
                raise At(("kind",), "a heater needs max_temp_c (for example 42C)")
            if not 30.0 <= self.max_temp_c <= 45.0:
                raise At(("max_temp_c",), f"max_temp_c {self.max_temp_c:g}C is outside 30C..45C")
        elif self.max_temp_c is not None:
            raise At(("max_temp_c",), "max_temp_c applies to heaters only")
        if self.bindings.gpio is None and self.bindings.serial is None:
            raise At(("bindings",), f"actuator {self.id!r} has no binding: give it gpio or serial")
        if self.bindings.gpio is not None:
            problem = self.bindings.gpio.shape_problem(self.kind)
            if problem:
                raise At(("bindings", "gpio"), f"actuator {self.id!r}: {problem}")
        problem = wire_problem(lambda: codec.encode_config_channel(0, *self.device_limits()))
        if problem:
            raise ValueError(f"actuator {self.id!r}: its limits {problem}")
        return self

    @property
    def leaf_zones(self) -> tuple[str, ...]:
        """Every leaf zone this actuator reaches."""
        return zones.expand(self.reaches)

    @property
    def low_bound(self) -> float:
        """Lowest level the actuator accepts: -max_level for rollers, else 0."""
        return -self.max_level if self.kind == "roller" else 0.0

    def device_limits(self) -> tuple[int, float, float, float, int, float | None]:
        """The channel settings a device's executor takes, in `Executor.configure` order.

        (kind code, max_level, min_level, max_slew, max_on_ms, max_temp_c)
        """
        return (
            KIND_CODES[self.kind],
            self.max_level,
            self.min_level,
            self.max_slew,
            self.max_on_ms,
            self.max_temp_c,
        )


class Rig(_Strict):
    """A massager's hardware: its actuators and the Pi-side extras."""

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]*$")
    description: str = ""
    actuators: list[Actuator] = Field(min_length=1)
    sensitivity: dict[str, Level] = Field(
        default_factory=dict,
        description="per-zone sensitivity, only lower than the defaults; a parent zone "
        "(toes, sole, ankle) caps each of its children",
    )
    estop_pin: Pin | None = Field(None, description="GPIO emergency-stop button (gpio driver)")
    heartbeat_pin: Pin | None = Field(
        None,
        description="gpio driver: toggles on every tick while healthy, to keep a hardware "
        "watchdog (on the motor drivers' enable) from cutting the motors",
    )
    heat_max_ms: DurationMs = Field(
        1_200_000,
        gt=0,
        le=MAX_DURATION_MS,
        alias="heat_max",
        description="heat timer across the session, e.g. `20m`",
    )
    watchdog_ms: Whole = Field(250, ge=20, le=5000, description="device watchdog")
    _warnings: tuple[CompileWarning, ...] = PrivateAttr(())

    @property
    def warnings(self) -> tuple[CompileWarning, ...]:
        """What loading changed of what the rig file says (a duration rounded to a whole
        millisecond), located in the rig file; every compile for the rig carries them."""
        return self._warnings

    def set_warnings(self, warnings: list[CompileWarning]) -> None:
        """Record the loader's warnings about this rig (see `warnings`)."""
        self._warnings = tuple(warnings)

    @model_validator(mode="before")
    @classmethod
    def _heat_unit(cls, data: object) -> object:
        return _needs_unit(data, "heat_max") if isinstance(data, dict) else data

    @field_validator("heat_max_ms", mode="before")
    @classmethod
    def _heat_duration(cls, value: object, info: ValidationInfo) -> object:
        return _ms(value, info)

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        seen: set[str] = set()
        channels: dict[int, str] = {}
        for k, act in enumerate(self.actuators):
            if act.id in seen:
                raise At(("actuators", k, "id"), f"actuator id {act.id!r} is used twice")
            seen.add(act.id)
            serial = act.bindings.serial
            if serial is not None and serial.channel in channels:
                raise At(
                    ("actuators", k, "bindings", "serial", "channel"),
                    f"serial channel {serial.channel} is used twice: by "
                    f"{channels[serial.channel]} and by {act.id}; each actuator needs a "
                    "channel of its own",
                )
            if serial is not None:
                channels[serial.channel] = act.id
        for zone, factor in self.sensitivity.items():
            if zone == zones.FORBIDDEN_ZONE:
                raise At(("sensitivity", zone), f"{zone!r} is the forbidden zone", key=True)
            try:
                zones.check(zone)
            except ValueError as exc:
                raise At(("sensitivity", zone), f"sensitivity: {exc}", key=True) from None
            highest = max(zones.DEFAULT_SENSITIVITY[leaf] for leaf in zones.leaves(zone))
            if factor > highest:
                what = "" if zone not in zones.PARENTS else " (its most sensitive child's)"
                raise At(
                    ("sensitivity", zone),
                    f"sensitivity of {zone} may only be lowered "
                    f"(default {highest}{what}, given {factor})",
                )
        self._gpio_pins_distinct()
        problem = wire_problem(lambda: codec.encode_config_begin(0, self.watchdog_ms))
        if problem:
            raise ValueError(f"watchdog_ms {problem}")
        return self

    def _gpio_pins_distinct(self) -> None:
        claims: list[tuple[int, str, tuple[str | int, ...]]] = []
        if self.estop_pin is not None:
            claims.append((self.estop_pin, "estop_pin", ("estop_pin",)))
        if self.heartbeat_pin is not None:
            claims.append((self.heartbeat_pin, "heartbeat_pin", ("heartbeat_pin",)))
        for k, a in enumerate(self.actuators):
            if (
                a.bindings.gpio
                and a.bindings.gpio.sensor
                and a.bindings.gpio.sensor.type == "mcp3008"
            ):
                at = ("actuators", k, "bindings", "gpio", "sensor")
                claims += [(p, f"the MCP3008's SPI {role}", at) for p, role in SPI0_PINS.items()]
                break
        for k, act in enumerate(self.actuators):
            if act.bindings.gpio is not None:
                claims += [
                    (p, f"{act.id} ({n})", ("actuators", k, "bindings", "gpio", n))
                    for n, p in act.bindings.gpio.named_pins().items()
                ]
        owner: dict[int, str] = {}
        for p, who, where in claims:
            if p in owner:
                raise At(
                    where,
                    f"GPIO{p} is used twice: by {owner[p]} and by {who}; every output, "
                    "the emergency stop and the sensors need pins of their own",
                )
            owner[p] = who

    def actuator(self, actuator_id: str) -> Actuator:
        """The actuator with this id; KeyError if there is none."""
        for act in self.actuators:
            if act.id == actuator_id:
                return act
        raise KeyError(actuator_id)

    def zone_sensitivity(self, zone: str) -> float:
        """Sensitivity of `zone` on this rig (rig overrides applied)."""
        return zones.sensitivity(zone, self.sensitivity)
