"""Pydantic models of a massage profile: its params, steps and blocks.

A profile names zones and techniques, never actuators or pins. Every step has
a technique, a duration and an intensity (0..1, scaled later by each zone's
sensitivity and the user's intensity). Blocks group steps: ``parallel`` runs
its tracks at once, ``repeat`` runs its steps N times, ``steps`` is a named
sequence and ``include`` pulls in another profile.

Unit-bearing fields are stored in base units: ``duration`` in milliseconds,
``frequency`` in hertz, ``target`` in degrees C. Any field may instead hold a
``$name`` reference to a param, replaced before validation by the loader.
"""

# No `from __future__ import annotations` here: pydantic evaluates every annotation of a
# model class and of each of its bases when it creates the class, and a string
# annotation is compiled anew each time (about 190 times at import, 14 M instructions of
# `massager validate`'s start-up). Names defined further down are quoted.

import re
from collections.abc import Sequence
from contextvars import ContextVar
from functools import cache, cached_property
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Literal, NamedTuple, Self, Union

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    GetCoreSchemaHandler,
    GetJsonSchemaHandler,
    PrivateAttr,
    TypeAdapter,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
    model_validator,
)
from pydantic_core import CoreSchema, core_schema

from massager import zones
from massager.diagnostics import At as FieldError
from massager.errors import Problem
from massager.records import record
from massager.units import (
    DURATION_PATTERN,
    FREQUENCY_PATTERN,
    TEMPERATURE_PATTERN,
    format_duration,
    parse_duration,
    parse_frequency_hz,
    parse_temperature_c,
    whole_ms,
)
from massager.yamlio import Loc, Located

if TYPE_CHECKING:
    from pydantic.json_schema import JsonSchemaValue

PARAM_NAME = r"^[a-z_][a-z0-9_]*$"
PARAM_REF: dict[str, Any] = {
    "type": "string",
    "pattern": r"^\$[a-z_][a-z0-9_]*$",
    "description": "a $param",
}
"""The JSON Schema of a `$param` reference (the loader substitutes it)."""
MAX_REPEAT = 1_000_000_000
"""Highest `repeat` count read (the session cap and the compiler's limit on expanded
steps refuse far lower counts, with messages that say why)."""


def _with_ref(schema: dict[str, Any]) -> WithJsonSchema:
    return WithJsonSchema({"anyOf": [schema, PARAM_REF]})


def _intensity(value: object) -> object:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"intensity {value!r} must be a number from 0 to 1")
    if not 0.0 <= float(value) <= 1.0:
        raise ValueError(f"intensity {value!r} is outside 0..1")
    return float(value)


def _zone_list(value: object) -> object:
    if isinstance(value, str):
        return (value,)
    if not isinstance(value, list | tuple):
        raise ValueError("zones must be a zone name or a list of zone names")
    return tuple(value)


def _zone_name(value: str) -> str:
    if value == zones.FORBIDDEN_ZONE:
        raise ValueError(
            f"zone {zones.FORBIDDEN_ZONE!r} (the hollow of the knee) is forbidden: "
            "no step may target it"
        )
    zones.check(value)
    return value


ZoneName = Annotated[str, AfterValidator(_zone_name)]
"""One zone a step works on (each checked on its own, so every bad one is reported)."""


_ROUNDED: ContextVar[dict[str, tuple[str, float]] | None] = ContextVar("rounded", default=None)
"""Durations written finer than a millisecond in the model being validated: field name ->
(as written, exact ms). Set around each duration-bearing model's validation (`_Timed`)."""


def _duration(value: object, info: ValidationInfo) -> int:
    """A duration field: parsed once into whole ms, its rounding recorded for its model."""
    ms, exact = parse_duration(value)
    rounded = _ROUNDED.get()
    if rounded is not None and info.field_name is not None and not whole_ms(exact):
        rounded[info.field_name] = (str(value), exact)
    return ms


Duration = Annotated[
    int,
    BeforeValidator(_duration),
    _with_ref({"type": "string", "pattern": DURATION_PATTERN, "examples": ["90s"]}),
]
"""A duration written with units (`90s`, `1m30s`, `5m`, `250ms`), held in milliseconds."""

Frequency = Annotated[
    float,
    BeforeValidator(parse_frequency_hz),
    _with_ref({"type": "string", "pattern": FREQUENCY_PATTERN, "examples": ["2Hz"]}),
]
"""A frequency written like `2Hz`, held in hertz."""

Temperature = Annotated[
    float,
    BeforeValidator(parse_temperature_c),
    _with_ref({"type": "string", "pattern": TEMPERATURE_PATTERN, "examples": ["40C"]}),
]
"""A temperature written like `40C`, held in degrees Celsius."""

Intensity = Annotated[
    float,
    BeforeValidator(_intensity),
    _with_ref({"type": "number", "minimum": 0, "maximum": 1}),
]
"""A step level from 0 to 1, before zone sensitivity and the user's intensity."""

Zones = Annotated[
    tuple[ZoneName, ...],
    BeforeValidator(_zone_list),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "string", "enum": list(zones.ALL_ZONES)},
                {"type": "array", "items": {"type": "string", "enum": list(zones.ALL_ZONES)}},
            ]
        }
    ),
]
"""Zone names (a single name is read as a one-item list)."""

Feet = Literal["left", "right", "both", "alternate"]
Shape = Literal["sine", "triangle"]


@record
class Origin:
    """Where a step or block was written: its document and its path inside it."""

    doc: Located
    loc: Loc

    def __init__(self, doc: Located, loc: Loc) -> None:
        set_field = object.__setattr__
        set_field(self, "doc", doc)
        set_field(self, "loc", loc)

    def problem(self, message: str, field: str | None = None) -> Problem:
        """A problem located at this item (or at one of its fields)."""
        loc = self.loc if field is None else (*self.loc, field)
        return self.doc.problem(loc, message)

    def prefix(self, field: str | None = None) -> str:
        """`PATH:LINE:COL: ` of this item (or of one of its fields)."""
        line, col = self.doc.where(self.loc if field is None else (*self.loc, field))
        return f"{self.doc.path}:{line}:{col}: "


class _Model(BaseModel):
    # built on first use, not at import: a profile's validator is built once, whole, when
    # the first profile loads (each step class built on its own cost `validate` ~30 ms)
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)
    _origin: Origin | None = PrivateAttr(None)

    @property
    def origin(self) -> Origin | None:
        """Where this item was written, when it came from a file."""
        return self._origin

    def where(self, field: str | None = None) -> str:
        """`PATH:LINE:COL: ` prefix for messages about this item (empty if unknown)."""
        return self._origin.prefix(field) if self._origin else ""


class _Timed(_Model):
    """A model with duration fields whose rounding to whole milliseconds is recorded."""

    _rounded: dict[str, tuple[str, float]] = PrivateAttr(default_factory=dict)

    @model_validator(mode="wrap")
    @classmethod
    def _record_rounding(cls, data: Any, handler: Any) -> Any:
        rounded: dict[str, tuple[str, float]] = {}
        token = _ROUNDED.set(rounded)  # each Duration field parsed below reports here
        try:
            model = handler(data)
        finally:
            _ROUNDED.reset(token)
        if isinstance(model, _Timed) and model is not data:  # not an instance passed through
            fields = type(model).model_fields
            model._rounded.update((fields[k].alias or k, how) for k, how in rounded.items())
        return model

    @property
    def rounded_durations(self) -> dict[str, tuple[str, float]]:
        """Duration fields written finer than a millisecond: field (as written, e.g.
        `duration`) -> (as written, exact ms)."""
        return self._rounded


class StepBase(_Timed):
    """Fields every technique step has."""

    technique: str
    name: str | None = Field(None, max_length=80, description="label shown while running")
    duration_ms: Duration = Field(alias="duration", description="how long the step lasts")
    intensity: Intensity = Field(0.5, description="0..1, scaled by zone and user intensity")
    zones: Zones = Field(("sole",), description="zones the step works on")
    feet: Feet = Field("both", description="left, right, both, or alternate (half each)")
    optional: bool = Field(False, description="skip the parts the rig cannot reach")

    PRESSES: ClassVar[bool] = True
    """Whether the technique presses (pressing the ankle bones is refused)."""

    @field_validator("zones")
    @classmethod
    def _not_pressing_ankles(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if cls.PRESSES:
            pressed = [(k, z) for k, z in enumerate(value) if z in zones.PRESS_FORBIDDEN]
            if pressed:
                names = ", ".join(repr(z) for _, z in pressed)
                raise FieldError(
                    (pressed[0][0],),
                    f"the ankle bones are circled, never pressed: {names} cannot "
                    "take this technique (use ankle_circles)",
                )
        return value

    @property
    def label(self) -> str:
        """The step's name, or its technique when it has none."""
        return self.name or self.technique

    @property
    def total_ms(self) -> int:
        """How long the step runs."""
        return self.duration_ms

    @property
    def expanded_steps(self) -> int:
        """A step places itself once."""
        return 1


class Rub(StepBase):
    """Warm-up rubbing: rollers alternate direction at 1-3 Hz, low to middle level."""

    technique: Literal["rub"]
    intensity: Intensity = 0.4
    zones: Zones = ("sole",)
    frequency: Frequency = Field(1.5, description="direction changes per second (1-3 Hz)")


class ToeWork(StepBase):
    """Each toe separately, nail to base: one toe at a time, short strokes."""

    technique: Literal["toe_work"]
    intensity: Intensity = 0.5
    zones: Zones = ("toes",)
    strokes: int = Field(3, ge=1, le=20, description="strokes per toe")


class PointPress(StepBase):
    """Thumb-like point pressure: press, hold, release, move on to the next point."""

    technique: Literal["point_press"]
    intensity: Intensity = 0.7
    zones: Zones = ("sole",)
    presses: int = Field(1, ge=1, le=20, description="presses per point")


class HeelPress(StepBase):
    """Strong heel pressure: the highest level the heel allows."""

    technique: Literal["heel_press"]
    intensity: Intensity = 1.0
    zones: Zones = ("heel",)
    presses: int = Field(3, ge=1, le=20, description="number of presses")


class RollerPass(StepBase):
    """Rollers travel toe to heel (or back): a travelling wave along the rollers."""

    technique: Literal["roller_pass"]
    intensity: Intensity = 0.6
    zones: Zones = ("toes", "sole")
    passes: int = Field(3, ge=1, le=100, description="number of passes")
    direction: Literal["toe_to_heel", "heel_to_toe", "both"] = Field(
        "both", description="which way the wave travels; both alternates"
    )


class Knead(StepBase):
    """Vigorous kneading over the whole foot: slow alternating direction, deep level."""

    technique: Literal["knead"]
    intensity: Intensity = 0.8
    zones: Zones = ("toes", "sole")
    frequency: Frequency = Field(0.5, description="direction changes per second")


class Achilles(StepBase):
    """Up and down along the tendon: slow oscillation of ankle or calf actuators."""

    technique: Literal["achilles"]
    intensity: Intensity = 0.6
    zones: Zones = ("achilles",)
    frequency: Frequency = Field(0.2, description="squeezes per second")


class AnkleCircles(StepBase):
    """Circles around the ankle bones, both ways: inner and outer 90 degrees apart."""

    technique: Literal["ankle_circles"]
    PRESSES: ClassVar[bool] = False
    intensity: Intensity = 0.6
    zones: Zones = ("ankle",)
    frequency: Frequency = Field(0.2, description="circles per second")


class PebbleWalk(StepBase):
    """Stepping foot to foot on pebbles: alternating feet, irregular seeded pulses."""

    technique: Literal["pebble_walk"]
    intensity: Intensity = 0.8
    zones: Zones = ("sole",)
    feet: Feet = "alternate"
    pace: Frequency = Field(1.0, description="footsteps per second")
    seed: int = Field(1, ge=0, description="seed of the pebble pattern (same seed, same walk)")


class Vibrate(StepBase):
    """Plain vibration: a steady level, or a wave between `low` and the intensity."""

    technique: Literal["vibrate"]
    PRESSES: ClassVar[bool] = False
    intensity: Intensity = 0.5
    zones: Zones = ("sole",)
    frequency: Frequency | None = Field(None, description="wave frequency; none = steady")
    shape: Shape = Field("sine", description="wave shape")
    low: Intensity = Field(0.0, description="wave low point (0..1, scaled like intensity)")

    @model_validator(mode="after")
    def _low_below_intensity(self) -> Self:
        if self.low > self.intensity:
            raise FieldError(
                ("low",), f"low {self.low:g} is above the intensity {self.intensity:g}"
            )
        return self


class Heat(StepBase):
    """Warm the sole: closed-loop heating toward a target temperature, capped by the rig."""

    technique: Literal["heat"]
    PRESSES: ClassVar[bool] = False
    intensity: Intensity = Field(0.8, description="heater duty ceiling 0..1")
    zones: Zones = ("sole",)
    target_c: Temperature = Field(40.0, alias="target", description="target temperature")

    @field_validator("target_c")
    @classmethod
    def _target(cls, value: float) -> float:
        if not 30.0 <= value <= 45.0:
            raise ValueError(f"target {value:g}C is outside 30C..45C")
        return value


def _key_time(value: object) -> object:
    """`at` of a keyframe: a duration (`0s` allowed) or a percent of the cycle (`50%`)."""
    if isinstance(value, str) and (match := _PERCENT.match(value.strip())):
        percent = float(match.group(1))
        if percent > 100.0:
            raise ValueError(f"at {value!r} is past 100%")
        return KeyTime(percent / 100.0, True)
    if value == 0 or (isinstance(value, str) and _ZERO.match(value.strip())):
        return KeyTime(0.0, False)
    if isinstance(value, int | float) and not isinstance(value, bool):
        raise ValueError(
            f"at {value!r} needs a unit: write a time like 1.5s or 250ms, or a percent like 40%"
        )
    return KeyTime(parse_duration(value)[1], False)  # refuses what a duration cannot be


def _level(low: float) -> Any:
    def check(value: object) -> object:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError(f"level {value!r} must be a number from {low:g} to 1")
        if not low <= float(value) <= 1.0:  # also refuses NaN
            raise ValueError(f"level {value!r} is outside {low:g}..1")
        return float(value)

    return check


_PERCENT = re.compile(r"^(\d+(?:\.\d+)?)\s*%$")
_ZERO = re.compile(r"^0+(\.0+)?(ms|s|m|h)?$")


class KeyTime(NamedTuple):
    """When a keyframe is: `value` ms from the cycle's start, or (`percent`) a 0..1 share of it."""

    value: float
    percent: bool

    def exact(self, cycle_ms: int) -> float:
        """The time in ms inside a cycle of `cycle_ms`, as written (maybe not a whole ms)."""
        return self.value * cycle_ms if self.percent else self.value

    def ms(self, cycle_ms: int) -> int:
        """The time in whole ms inside a cycle of `cycle_ms` (the nearest to `exact`)."""
        return round(self.exact(cycle_ms))


At = Annotated[
    KeyTime,
    BeforeValidator(_key_time),
    _with_ref(
        {
            "anyOf": [
                {"type": "string", "pattern": DURATION_PATTERN, "examples": ["1.5s"]},
                {"type": "string", "pattern": r"^\s*\d+(\.\d+)?\s*%\s*$", "examples": ["40%"]},
                {"type": "string", "pattern": r"^\s*0+(\.0+)?(ms|s|m|h)?\s*$"},
                {"const": 0},
            ]
        }
    ),
]
"""A keyframe time: a duration from the start (`0s`, `1.5s`) or a percent (`40%`)."""


class Keyframe(_Model):
    """One point of a curve: a time and a level from 0 to 1."""

    at: At = Field(description="time from the start of the step (or loop), or a percent of it")
    level: Annotated[
        float,
        BeforeValidator(_level(0.0)),
        _with_ref({"type": "number", "minimum": 0, "maximum": 1}),
    ] = Field(description="0..1, scaled by intensity, zone sensitivity and the user's intensity")


class RollerKeyframe(Keyframe):
    """One point of a roller curve: a time and a level from -1 to 1 (the sign is direction)."""

    level: Annotated[
        float,
        BeforeValidator(_level(-1.0)),
        _with_ref({"type": "number", "minimum": -1, "maximum": 1}),
    ] = Field(description="-1..1 (sign = direction), scaled like any level")


MAX_CURVE_POINTS = 100_000
"""Most keyframes one curve step may expand to (keyframes x loop rounds, every kind)."""


def _few_enough(value: object) -> object:
    """Refuse a huge keyframe list before validating each of its keyframes."""
    if isinstance(value, list) and len(value) > MAX_CURVE_POINTS:
        raise ValueError(
            f"{len(value):,} keyframes, more than the {MAX_CURVE_POINTS:,} a curve step may have"
        )
    return value


class Keyframes(_Model):
    """The keyframes of a curve, per actuator kind (at least one kind)."""

    roller: Annotated[list[RollerKeyframe] | None, BeforeValidator(_few_enough)] = Field(
        None, min_length=1
    )
    vibration: Annotated[list[Keyframe] | None, BeforeValidator(_few_enough)] = Field(
        None, min_length=1
    )
    air: Annotated[list[Keyframe] | None, BeforeValidator(_few_enough)] = Field(None, min_length=1)

    @model_validator(mode="after")
    def _some_kind(self) -> Self:
        if not self.kinds():
            raise ValueError("keyframes need at least one kind: roller, vibration or air")
        return self

    def kinds(self) -> dict[str, Sequence[Keyframe]]:
        """The kinds that have keyframes, in a fixed order, with their keyframes."""
        out: dict[str, Sequence[Keyframe]] = {}
        for kind in ("roller", "vibration", "air"):
            frames = getattr(self, kind)
            if frames:
                out[kind] = frames
        return out


class FootOffsets(_Model):
    """How much later each foot's curve starts (a duration, or a percent of the cycle)."""

    left: At = KeyTime(0.0, False)
    right: At = KeyTime(0.0, False)


MIN_LOOP_MS = 100
"""Shortest loop period: faster patterns are waves (`vibrate` with a frequency)."""


class Curve(StepBase):
    """Exact control: keyframes per actuator kind, interpolated step, linear or smooth."""

    technique: Literal["curve"]
    PRESSES: ClassVar[bool] = False
    intensity: Intensity = Field(1.0, description="scales every keyframe level (0..1)")
    zones: Zones = ("sole",)
    feet: Literal["left", "right", "both"] = Field(
        "both", description="left, right or both (use offset for one foot after the other)"
    )
    interpolation: Literal["step", "linear", "smooth"] = Field(
        "linear", description="step holds each level; linear joins them; smooth: monotone cubic"
    )
    loop: Duration | None = Field(None, description="repeat the keyframes with this period")
    offset: FootOffsets = Field(
        default_factory=FootOffsets, description="delay of each foot's curve"
    )
    keyframes: Keyframes = Field(description="per kind (roller, vibration, air): at, level")

    @property
    def kinds(self) -> tuple[str, ...]:
        """The actuator kinds this curve drives."""
        return tuple(self.keyframes.kinds())

    @property
    def cycle_ms(self) -> int:
        """What keyframe times and percents are relative to: the loop period, or the step."""
        return self.loop if self.loop is not None else self.duration_ms

    def times(self, kind: str) -> list[int]:
        """The keyframe times of `kind` in ms from the cycle's start."""
        cycle = self.cycle_ms
        return [frame.at.ms(cycle) for frame in self.keyframes.kinds()[kind]]

    def located_problems(self) -> list[tuple[tuple[str | int, ...], str]]:
        """Problems only the whole step can see, each at its field: (path in the step, message)."""
        out: list[tuple[tuple[str | int, ...], str]] = []
        cycle = self.cycle_ms
        what = "loop period" if self.loop is not None else "step"
        if self.loop is not None:
            if self.loop > self.duration_ms:
                out.append(
                    (("loop",), f"loop {format_duration(self.loop)} is longer than the step")
                )
            elif self.loop < MIN_LOOP_MS:
                out.append(
                    (("loop",), f"loop shorter than {MIN_LOOP_MS} ms: use vibrate with a frequency")
                )
        if self.keyframes.roller and zones.PRESS_FORBIDDEN.intersection(zones.expand(self.zones)):
            out.append(
                (
                    ("keyframes", "roller"),
                    "the ankle bones are circled, never pressed: a curve on them drives only "
                    "air or vibration",
                )
            )
        total = 0
        for kind, frames in self.keyframes.kinds().items():
            last = 0
            for i, frame in enumerate(frames):
                t = frame.at.ms(cycle)
                where = ("keyframes", kind, i, "at")
                if t > cycle:
                    out.append(
                        (
                            where,
                            f"at {format_duration(t)} is past the end of the {what} "
                            f"({format_duration(cycle)})",
                        )
                    )
                elif t < last:
                    out.append(
                        (
                            where,
                            f"at {format_duration(t)} comes before the keyframe above it "
                            f"({format_duration(last)}): keyframes go in time order",
                        )
                    )
                last = max(last, t)
            rounds = -(-self.duration_ms // cycle)
            total += len(frames) * rounds
        for foot in ("left", "right"):
            if getattr(self.offset, foot).ms(cycle) >= self.duration_ms:
                out.append((("offset", foot), f"the {foot} offset is not shorter than the step"))
        if total > MAX_CURVE_POINTS:
            out.append(
                (
                    ("keyframes",),
                    f"{total:,} keyframes once looped, more than the {MAX_CURVE_POINTS:,} "
                    "a curve step may have (thin them, or lengthen the loop)",
                )
            )
        return out


class Rest(_Timed):
    """Rest after the massage: everything off for a while."""

    technique: Literal["rest"]
    name: str | None = Field(None, max_length=80, description="label shown while running")
    duration_ms: Duration = Field(alias="duration", description="how long the rest lasts")

    zones: ClassVar[tuple[str, ...]] = ()
    feet: ClassVar[Feet] = "both"
    optional: ClassVar[bool] = False
    intensity: ClassVar[float] = 0.0

    @property
    def label(self) -> str:
        """The step's name, or `rest`."""
        return self.name or "rest"

    @property
    def total_ms(self) -> int:
        """How long the rest lasts."""
        return self.duration_ms

    @property
    def expanded_steps(self) -> int:
        """A rest places itself once."""
        return 1


Step = Annotated[
    Rub
    | ToeWork
    | PointPress
    | HeelPress
    | RollerPass
    | Knead
    | Achilles
    | AnkleCircles
    | PebbleWalk
    | Vibrate
    | Heat
    | Curve
    | Rest,
    Field(discriminator="technique"),
]
"""One technique step (discriminated by `technique`)."""

TECHNIQUES: dict[str, type[StepBase] | type[Rest]] = {
    cls.model_fields["technique"].annotation.__args__[0]: cls  # type: ignore[union-attr]
    for cls in (
        Rub,
        ToeWork,
        PointPress,
        HeelPress,
        RollerPass,
        Knead,
        Achilles,
        AnkleCircles,
        PebbleWalk,
        Vibrate,
        Heat,
        Curve,
        Rest,
    )
}
"""Every technique name and the model of its step."""

RESERVED_TECHNIQUES: dict[str, str] = {}
"""Technique names kept for future versions."""

AnyStep = StepBase | Rest

_LISTING: ContextVar[bool] = ContextVar("listing", default=False)
"""Whether the JSON Schema of an item list is being written (its items' schemas with it)."""


class _ItemList:
    """How a profile's or a block's list of items (`Items`) is validated and described.

    The loader validates each step and block with its own class before it builds the list
    that holds them, so an item that is already one of `Item`'s classes is taken as it is,
    as pydantic takes a model instance; anything else is validated as an `Item`. A load
    builds only the validators of the steps it meets, never the whole union up front. The
    JSON Schema is the union's.

    The list's shortest length is given here: a `Field(min_length=...)` beside it would be
    lost (pydantic applies it before this schema, which replaces the list's).
    """

    def __init__(self, min_length: int) -> None:
        self.min_length = min_length

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> CoreSchema:
        """A list of at least `min_length` items, each checked by `_item`."""
        return core_schema.list_schema(
            core_schema.no_info_plain_validator_function(_item), min_length=self.min_length
        )

    def __get_pydantic_json_schema__(
        self, schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> "JsonSchemaValue":
        """The schema of a list of `Item`: the first list met describes every item class
        (in the document's definitions), the lists inside those refer to them."""
        union = _item_adapter().core_schema
        if _LISTING.get():
            union = _refs(union)
        token = _LISTING.set(True)
        try:
            return handler({**schema, "items_schema": union})
        finally:
            _LISTING.reset(token)


def _refs(schema: Any) -> Any:
    """`schema` with every model in it replaced by a reference to its definition."""
    if isinstance(schema, dict):
        if schema.get("type") == "model" and "ref" in schema:
            return core_schema.definition_reference_schema(schema["ref"])
        return {key: _refs(value) for key, value in schema.items()}
    if isinstance(schema, list):
        return [_refs(value) for value in schema]
    return schema


class Parallel(_Model):
    """Tracks that run at once (e.g. heat under kneading); lasts as long as the longest."""

    parallel: "Tracks" = Field(description="the tracks, each a step or block")
    name: str | None = Field(None, max_length=80)

    @cached_property
    def total_ms(self) -> int:
        """Duration of the longest track."""
        return max(item.total_ms for item in self.parallel)

    @cached_property
    def expanded_steps(self) -> int:
        """Steps the block places on the session clock: every track's."""
        return sum(item.expanded_steps for item in self.parallel)


class Repeat(_Model):
    """Steps repeated a number of times."""

    repeat: int = Field(ge=1, le=MAX_REPEAT, description="how many times")
    steps: "Items"
    name: str | None = Field(None, max_length=80)

    @cached_property
    def once_ms(self) -> int:
        """Duration of one round."""
        return sum(item.total_ms for item in self.steps)

    @cached_property
    def total_ms(self) -> int:
        """Duration of every round together."""
        return self.repeat * self.once_ms

    @cached_property
    def once_steps(self) -> int:
        """Steps one round places on the session clock."""
        return sum(item.expanded_steps for item in self.steps)

    @cached_property
    def expanded_steps(self) -> int:
        """Steps every round together places (multiplied, never expanded)."""
        return self.repeat * self.once_steps


class Group(_Model):
    """A named sequence of steps."""

    steps: "Items"
    name: str | None = Field(None, max_length=80)

    @cached_property
    def total_ms(self) -> int:
        """Sum of its steps."""
        return sum(item.total_ms for item in self.steps)

    @cached_property
    def expanded_steps(self) -> int:
        """Steps it places on the session clock."""
        return sum(item.expanded_steps for item in self.steps)


class Include(_Model):
    """Another profile's steps, by bundled name or by path relative to this profile."""

    include: str = Field(min_length=1, description="bundled profile name or relative path")
    set: dict[str, Any] = Field(default_factory=dict, description="values for its params")
    name: str | None = Field(None, max_length=80)
    _profile: "Profile | None" = PrivateAttr(None)

    @property
    def profile(self) -> "Profile":
        """The included profile (resolved by the loader)."""
        if self._profile is None:
            raise RuntimeError(f"include {self.include!r} was not resolved")
        return self._profile

    @property
    def total_ms(self) -> int:
        """Duration of the included profile."""
        return self.profile.total_ms

    @property
    def expanded_steps(self) -> int:
        """Steps the included profile places on the session clock."""
        return self.profile.expanded_steps


Item = Union[Step, Parallel, Repeat, Group, Include]  # noqa: UP007 (forward references)
"""A profile entry: a technique step or a block."""

Items = Annotated[list[Item], _ItemList(1)]
"""A profile's or a block's items, at least one (each validated by its own class first)."""
Tracks = Annotated[list[Item], _ItemList(2)]
"""A parallel block's tracks, at least two."""

_ITEM_CLASSES = (*TECHNIQUES.values(), Parallel, Repeat, Group, Include)


def _item(value: object) -> object:
    """An item of an `Items` list: one already built, or `value` validated as an `Item`."""
    if isinstance(value, _ITEM_CLASSES):
        return value
    return _item_adapter().validate_python(value)


@cache
def _item_adapter() -> TypeAdapter[Item]:
    """The validator of the whole `Item` union (built the first time it is needed)."""
    return TypeAdapter(Item)


ParamValue = bool | int | float | str


class Profile(_Model):
    """A massage profile: named params and a sequence of steps and blocks."""

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]*$", max_length=60)
    description: str = ""
    params: dict[Annotated[str, Field(pattern=PARAM_NAME)], ParamValue] = Field(
        default_factory=dict, description="named values steps use as $name; --set overrides"
    )
    steps: Items
    _doc: Located | None = PrivateAttr(None)
    _loads: Any = PrivateAttr(None)  # the loader's parsed files and built includes

    @cached_property
    def total_ms(self) -> int:
        """The profile's computed duration: steps in sequence, parallel tracks at once."""
        return sum(item.total_ms for item in self.steps)

    @cached_property
    def expanded_steps(self) -> int:
        """Steps compiling it places on the session clock (repeats multiplied, not expanded)."""
        return sum(item.expanded_steps for item in self.steps)

    @property
    def duration_ms(self) -> int:
        """Same as total_ms: the length of the session this profile makes."""
        return self.total_ms

    def techniques(self) -> list[str]:
        """Techniques the profile uses, in first-use order (includes followed)."""
        seen: dict[str, None] = {}
        for step in iter_steps(self.steps):
            seen.setdefault(step.technique, None)
        return list(seen)


def children(item: Item) -> list[Item]:
    """The items directly under a block (an include's: its profile's steps); none for a step."""
    if isinstance(item, Parallel):
        return list(item.parallel)
    if isinstance(item, Include):
        return list(item.profile.steps)
    if isinstance(item, Group | Repeat):
        return list(item.steps)
    return []


def iter_steps(items: list[Item]) -> list[AnyStep]:
    """Every technique step under `items`, in written order.

    Repeats are not expanded, and a profile included several times is walked
    once (its first time), so the walk is as long as the files, never as the
    expansion.
    """
    out: list[AnyStep] = []
    stack: list[Any] = list(reversed(items))
    walked: set[int] = set()
    while stack:
        item = stack.pop()
        if isinstance(item, Parallel):
            stack.extend(reversed(item.parallel))
        elif isinstance(item, Repeat | Group):
            stack.extend(reversed(item.steps))
        elif isinstance(item, Include):
            if id(item.profile) not in walked:
                walked.add(id(item.profile))
                stack.extend(reversed(item.profile.steps))
        else:
            out.append(item)
    return out
