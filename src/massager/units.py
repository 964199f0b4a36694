"""Parse the unit-bearing values of profiles and rigs (durations, frequencies, temperatures)
and write times back for people."""

from __future__ import annotations

import re

_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|h|m|s)")
_DURATION_FULL = re.compile(r"^(?:\d+(?:\.\d+)?(?:ms|h|m|s))+$")
_MS_PER_UNIT = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000}
_FREQUENCY = re.compile(r"^(\d+(?:\.\d+)?)\s*Hz$")
_TEMPERATURE = re.compile(r"^(-?\d+(?:\.\d+)?)\s*C$")
_NUMBER_WORD = re.compile(r"^\s*(-?\d+(?:\.\d+)?)\s*([^\d\s.]+)\s*$")
_UNIT_WORDS: dict[str, dict[str, str]] = {
    "duration": {
        **dict.fromkeys(("sec", "secs", "second", "seconds", "S"), "s"),
        **dict.fromkeys(("min", "mins", "minute", "minutes", "M"), "m"),
        **dict.fromkeys(("hr", "hrs", "hour", "hours", "H"), "h"),
        **dict.fromkeys(("msec", "msecs", "millisecond", "milliseconds", "MS", "Ms"), "ms"),
    },
    "frequency": dict.fromkeys(("hz", "HZ", "hZ", "hertz", "Hertz", "/s"), "Hz"),
    "temperature": dict.fromkeys(("c", "°C", "°c", "°", "degC", "celsius", "Celsius"), "C"),
}


def _unit_hint(kind: str, text: str) -> str:
    """` (did you mean '90s'?)` when `text` is a number with a misspelt unit, else ""."""
    match = _NUMBER_WORD.match(text)
    if not match:
        return ""
    unit = _UNIT_WORDS[kind].get(match.group(2))
    return f" (did you mean {match.group(1) + unit!r}?)" if unit else ""


DURATION_PATTERN = r"^ *(?:(?:\d *)+(?:\. *(?:\d *)+)?(?:m *s|h|m|s) *)+$"
"""JSON Schema `pattern` of what parse_duration_ms reads (spaces anywhere, as it drops them)."""

FREQUENCY_PATTERN = r"^\s*\d+(\.\d+)?\s*Hz\s*$"
"""JSON Schema `pattern` of what parse_frequency_hz reads."""

TEMPERATURE_PATTERN = r"^\s*-?\d+(\.\d+)?\s*C\s*$"
"""JSON Schema `pattern` of what parse_temperature_c reads."""

_SHOWN_CHARS = 24

MAX_DURATION_MS = 24 * 3_600_000
"""Longest duration any field accepts: 24h (every wire field holding one has room for it)."""

MAX_FREQUENCY_HZ = 1e6
"""Highest frequency read; the compiler slows waves to what the rig allows anyway."""

MAX_TEMPERATURE_C = 1000.0
"""Largest temperature (either sign) read; fields check their own, narrower ranges."""


def _shown(value: object) -> str:
    """`value` as a message quotes it (its repr), shortened when it is absurdly long."""
    text = repr(value)
    if len(text) <= _SHOWN_CHARS:
        return text
    return f"{text[:16]}...{text[-1]} ({len(str(value)):,} characters)"


def parse_duration_ms(text: object) -> int:
    """Parse `90s`, `1m30s`, `5m`, `250ms`, `1h` into whole milliseconds (> 0).

    A duration written finer (`1.0005s`) is rounded to the nearest millisecond
    (the profile loader records it, and the compiler warns). Raises ValueError
    with a message fit to show a profile author.
    """
    return parse_duration(text)[0]


def parse_duration(text: object) -> tuple[int, float]:
    """Parse a duration as parse_duration_ms does: (whole milliseconds, exact milliseconds).

    The exact value is what was written (`1.0005s`: 1000.5); the whole one its nearest
    millisecond, which must be above zero.
    """
    exact = exact_duration_ms(text)
    ms = round(exact)
    if ms <= 0:
        raise ValueError(f"duration {_shown(text)} must be longer than zero")
    return ms, exact


def whole_ms(exact: float) -> bool:
    """Whether a time of `exact` ms is a whole millisecond (within float error: a nanosecond)."""
    return abs(exact - round(exact)) < 1e-6


def exact_ms_text(exact: float) -> str:
    """Milliseconds to a nanosecond, without trailing zeros (`1000.5`, `6666.667`)."""
    return f"{exact:.6f}".rstrip("0").rstrip(".")


def exact_duration_ms(text: object) -> float:
    """The milliseconds a duration is written as, before rounding (`1.0005s` is 1000.5).

    Raises ValueError as parse_duration_ms does (but takes zero).
    """
    if isinstance(text, bool) or not isinstance(text, str):
        raise ValueError(
            f"duration {_shown(text)} needs a unit: write it like 90s, 1m30s, 5m or 250ms"
        )
    compact = text.replace(" ", "")
    if not _DURATION_FULL.match(compact):
        raise ValueError(
            f"cannot read duration {_shown(text)}{_unit_hint('duration', text)}: "
            "write it like 90s, 1m30s, 5m or 250ms"
        )
    total = 0.0
    for number, unit in _DURATION_PART.findall(compact):
        total += float(number) * _MS_PER_UNIT[unit]
    if not total <= MAX_DURATION_MS:  # also infinity, from hundreds of digits
        longest = format_duration(MAX_DURATION_MS)
        raise ValueError(f"duration {_shown(text)} is too long: the longest is {longest}")
    return total


def parse_frequency_hz(text: object) -> float:
    """Parse `2Hz` or `0.5 Hz` into hertz (> 0)."""
    if isinstance(text, bool) or not isinstance(text, str):
        raise ValueError(f"frequency {_shown(text)} needs a unit: write it like 2Hz")
    match = _FREQUENCY.match(text.strip())
    if not match:
        raise ValueError(
            f"cannot read frequency {_shown(text)}{_unit_hint('frequency', text)}: "
            "write it like 2Hz or 0.5Hz"
        )
    value = float(match.group(1))
    if not value <= MAX_FREQUENCY_HZ:
        raise ValueError(
            f"frequency {_shown(text)} is too high: the highest is {MAX_FREQUENCY_HZ:,.0f}Hz"
        )
    if value <= 0:
        raise ValueError(f"frequency {_shown(text)} must be above zero")
    return value


def parse_temperature_c(text: object) -> float:
    """Parse `40C` into degrees Celsius."""
    if isinstance(text, bool) or not isinstance(text, str):
        raise ValueError(f"temperature {_shown(text)} needs a unit: write it like 40C")
    match = _TEMPERATURE.match(text.strip())
    if not match:
        raise ValueError(
            f"cannot read temperature {_shown(text)}{_unit_hint('temperature', text)}: "
            "write it like 40C"
        )
    value = float(match.group(1))
    if not abs(value) <= MAX_TEMPERATURE_C:
        raise ValueError(
            f"temperature {_shown(text)} is out of range: at most {MAX_TEMPERATURE_C:g}C either way"
        )
    return value


def format_duration(ms: int, *, exact: bool = True) -> str:
    """Render milliseconds the way profiles write them: `1m30s`, `45s`, `250ms`, `2h5m`.

    Hours appear only past an hour (the 60-minute cap reads `60m`). The text parses
    back to `ms`; with `exact=False` a duration of a minute or more is first rounded
    to the second, for messages.
    """
    if not exact and ms >= 60_000:
        ms = round(ms / 1000) * 1000
    if ms > 3_600_000:
        hours, rest = divmod(ms, 3_600_000)
        return f"{hours}h{_minutes_seconds(rest) if rest else ''}"
    return _minutes_seconds(ms)


def _minutes_seconds(ms: int) -> str:
    if ms % 1000:
        return f"{ms}ms" if ms < 1000 else f"{ms / 1000:.3f}".rstrip("0") + "s"
    seconds = ms // 1000
    minutes, seconds = divmod(seconds, 60)
    if minutes and seconds:
        return f"{minutes}m{seconds}s"
    return f"{minutes}m" if minutes else f"{seconds}s"


def clock_text(ms: float) -> str:
    """A time on the session clock (or a span of it) as m:ss, h:mm:ss from an hour.

    The one format of times in what people read while and after a profile plays:
    the live view, plain lines, closing lines and the messages a run ends with.
    """
    seconds = max(0, int(ms // 1000))
    minutes, secs = divmod(seconds, 60)
    if minutes >= 60:
        return f"{minutes // 60}:{minutes % 60:02d}:{secs:02d}"
    return f"{minutes}:{secs:02d}"
