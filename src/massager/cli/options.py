"""Options and checks the command modules share, so each is defined and worded once."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from typing import TYPE_CHECKING, Annotated

import typer

from massager.errors import UsageError

if TYPE_CHECKING:  # keep `massager --help` light
    from massager.rig import Rig
    from massager.stream import CommandStream

ProfileArg = Annotated[
    str,
    typer.Argument(metavar="PROFILE", help="A profile file, or the name of a bundled profile."),
]
RigOpt = Annotated[
    str | None,
    typer.Option(
        "--rig", "-r", help="A rig file, or the name of a bundled rig (default: reference)."
    ),
]
SetOpt = Annotated[
    list[str] | None,
    typer.Option("--set", metavar="NAME=VALUE", help="Override a profile parameter (repeatable)."),
]
StrictOpt = Annotated[
    bool,
    typer.Option(
        "--strict", help="Treat compiler warnings (what it changed of the profile) as errors."
    ),
]
ByOpt = Annotated[
    str,
    typer.Option(
        "--by",
        help="Lanes of the picture: zone (per foot zone and kind, feet merged when alike) "
        "or actuator.",
    ),
]
SessionCapOpt = Annotated[
    str | None,
    typer.Option("--session-cap", metavar="DURATION", help="Session cap, up to 60m (default 20m)."),
]


def check_intensity(value: float) -> float:
    """`value` if it is a user intensity (0..1); else a usage error."""
    if not 0.0 <= value <= 1.0:  # also refuses NaN
        raise UsageError(f"--intensity {value:g}: give a number from 0 to 1")
    return value


def session_cap_ms(text: str | None) -> int:
    """The session cap `--session-cap` asks for, default 20 min, at most the hard 60 min."""
    from massager.limits import DEFAULT_CAP_MS, HARD_CAP_MS
    from massager.units import format_duration, parse_duration_ms

    if text is None:
        return DEFAULT_CAP_MS
    try:
        cap = parse_duration_ms(text)
    except ValueError as exc:
        raise UsageError(f"--session-cap: {exc}") from None
    if cap > HARD_CAP_MS:
        raise UsageError(
            f"--session-cap {text}: the longest session allowed is {format_duration(HARD_CAP_MS)}"
        )
    return cap


def report_warnings(stream: CommandStream | Rig, *, strict: bool = False) -> None:
    """Print the warnings of a stream (or of a rig file) on stderr; with `strict`, refuse
    them (StrictError, exit 1)."""
    import sys

    from massager.errors import StrictError

    if strict and stream.warnings:
        raise StrictError(stream.warnings)
    for warning in stream.warnings:
        sys.stderr.write(f"{warning}\n")


def resolve_device(device: str) -> tuple[str, str | None]:
    """The driver name and target of `--device`, with the port a bare ``serial`` will use
    (the Pico found by its USB id), so the device can be claimed before it is opened."""
    from massager.drivers.registry import parse_device

    driver_cls, target = parse_device(device)
    if driver_cls.name == "serial" and target is None:
        from massager.drivers.serial_ports import find_pico

        target = find_pico()
    return driver_cls.name, target


def claim(
    driver: str, target: str | None, command: str, on_stop: Callable[[], None]
) -> AbstractContextManager[object]:
    """Hold the device while inside (`massager.runtime.owner`); DeviceBusy if another process
    does. The simulator is never claimed."""
    from massager.runtime.owner import Claim, device_key

    key = device_key(driver, target)
    return nullcontext() if key is None else Claim(key, command, on_stop)


def compile_for(
    profile: str,
    rig: str | None,
    sets: list[str] | None,
    *,
    intensity: float = 1.0,
    cap_ms: int | None = None,
    strict: bool = False,
) -> tuple[CommandStream, Rig]:
    """Load the profile and the rig named on the command line and compile them.

    The compiler's warnings go to stderr (with `strict`: they are errors).
    """
    from massager import api
    from massager.limits import DEFAULT_CAP_MS

    params = api.parse_sets(sets)
    rig_obj = api.load_rig(rig)
    stream = api.compile_stream(
        api.load_profile(profile),
        rig_obj,
        intensity=check_intensity(intensity),
        params=params,
        session_cap_ms=DEFAULT_CAP_MS if cap_ms is None else cap_ms,
    )
    report_warnings(stream, strict=strict)
    return stream, rig_obj
