"""The public API: load profiles and rigs, compile them into a command stream.

This is what the command line, the runtime and the drivers use; everything
else in the package is an implementation detail behind it.

>>> from massager import api
>>> stream = api.compile_stream(api.load_profile("classic"), api.load_rig())
>>> stream.duration_ms == api.load_profile("classic").duration_ms
True
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from massager import bundled, yamlio
from massager.compiler import DEFAULT_CAP_MS, HARD_CAP_MS, Settings, compile_profile
from massager.diagnostics import did_you_mean
from massager.errors import InputError, Problem, UsageError
from massager.profile import loader as profile_loader
from massager.profile.model import Profile
from massager.rig import loader as rig_loader
from massager.rig.model import Rig
from massager.stream import CommandStream

if TYPE_CHECKING:  # the runtime and drivers load when a session is opened
    from massager.haptic import Imported
    from massager.runtime.events import EventBus
    from massager.runtime.session import Session

__all__ = [
    "DEFAULT_CAP_MS",
    "DEFAULT_RIG",
    "HARD_CAP_MS",
    "MAX_SPEED",
    "MIN_SPEED",
    "bundled_profiles",
    "bundled_rigs",
    "check_device",
    "compile_stream",
    "import_haptic",
    "load_file",
    "load_profile",
    "load_rig",
    "open_session",
    "parse_sets",
    "profile_from_data",
    "profile_from_text",
    "rig_from_data",
]

DEFAULT_RIG = "reference"
"""The bundled rig used when none is named."""
MAX_SPEED = 300.0
"""Fastest simulator speed: past it the simulator (ticking every 10 ms of device time and
writing its trace) cannot keep up with its sped-up clock on a small computer; its polls come
later and later and the trace runs on past the profile's end."""
MIN_SPEED = 0.01
"""Slowest simulator speed: a hundred times slower than real time (a 5-minute profile in
over 8 hours) is slow enough to watch any ramp; a session still wakes every 100 ms of real
time, so a control or a signal acts at once at any speed."""


def _resolve(kind: bundled.Kind, ref: str | Path) -> tuple[Path, str]:
    """A path for `ref`: an existing file, or the bundled file of that name."""
    path = Path(ref)
    what = "profile" if kind == "profiles" else "rig"
    if path.is_dir():
        raise InputError(Problem(str(ref), 1, 1, f"is a folder, not a {what} file"))
    if path.exists() or isinstance(ref, Path) or path.suffix in bundled.SUFFIXES or "/" in str(ref):
        return path, str(ref)
    found = bundled.find(kind, str(ref))
    if found is None:
        names = ", ".join(bundled.names(kind)) or "none installed"
        hint = did_you_mean(str(ref), bundled.names(kind))
        raise InputError(
            Problem(
                str(ref),
                1,
                1,
                f"no such file and no bundled {what} of that name{hint}; bundled: {names}",
            )
        )
    return found, str(found)


def load_profile(ref: str | Path, *, params: Mapping[str, Any] | None = None) -> Profile:
    """Load a profile from a path or a bundled name, optionally overriding its params.

    Raises InputError (located problems) or UsageError (an unknown param in `params`).
    """
    path, shown = _resolve("profiles", ref)
    return profile_loader.load(path, params=params, display=shown)


def load_file(ref: str | Path) -> Profile | Rig:
    """Load a profile or a rig file, parsed once and told apart by its top level.

    A file whose top level has `actuators` is a rig, any other a profile (so a file
    that does not parse is reported as a profile, at the YAML error); a name that is
    not a file is a bundled profile, else a bundled rig.
    """
    path = Path(ref)
    if not path.is_file():
        is_rig = bundled.find("profiles", str(ref)) is None and bundled.find("rigs", str(ref))
        return load_rig(ref) if is_rig else load_profile(ref)
    doc = yamlio.load(path, display=str(ref))
    if "actuators" in doc.data:
        return rig_loader.build(doc)
    return profile_loader.from_document(doc)


def load_rig(ref: str | Path | None = None) -> Rig:
    """Load a rig from a path or a bundled name; None gives the bundled `reference` rig."""
    path, shown = _resolve("rigs", DEFAULT_RIG if ref is None else ref)
    return rig_loader.load(path, display=shown)


def profile_from_data(data: dict[str, Any], *, name: str = "<data>") -> Profile:
    """Build a profile from a dict shaped like a profile file (tests, generators)."""
    return profile_loader.from_data(data, path=name)


def profile_from_text(text: str, *, name: str = "<upload>") -> Profile:
    """Build a profile from YAML text (an upload); problems are located in `name`.

    Includes resolve among the bundled profiles only. Raises InputError.
    """
    from massager import yamlio

    return profile_loader.build(yamlio.parse(text, name))


def rig_from_data(data: dict[str, Any], *, name: str = "<data>") -> Rig:
    """Build a rig from a dict shaped like a rig file."""
    return rig_loader.from_data(data, path=name)


def compile_stream(
    profile: Profile,
    rig: Rig,
    *,
    intensity: float = 1.0,
    params: Mapping[str, str] | None = None,
    session_cap_ms: int = DEFAULT_CAP_MS,
) -> CommandStream:
    """Compile `profile` for `rig` into a checked command stream.

    `intensity` (0..1) scales every level; `params` override the profile's
    params (`--set` values, as text); `session_cap_ms` bounds the session
    (the command line allows up to HARD_CAP_MS; the API takes any cap).
    The stream's `warnings` (CompileWarning, located in the profile) say what the
    compiler changed or dropped of what the profile asked for on this rig; the
    command line prints them and `--strict` refuses them.
    Raises InputError, SafetyError or UsageError.
    """
    if params:
        profile = profile_loader.with_params(profile, params)
    return compile_profile(
        profile, rig, Settings(intensity=intensity, session_cap_ms=session_cap_ms)
    )


def parse_sets(options: list[str] | None) -> dict[str, str]:
    """Turn `--set NAME=VALUE` options into the `params` of compile_stream (UsageError if bad)."""
    return profile_loader.parse_set_options(options)


def bundled_profiles() -> list[str]:
    """Names of the profiles that ship with massager."""
    return bundled.names("profiles")


def bundled_rigs() -> list[str]:
    """Names of the rigs that ship with massager."""
    return bundled.names("rigs")


def check_device(device: str, speed: float = 1.0) -> str:
    """The driver name of `device` if it and `speed` can be used together; else UsageError.

    `speed` (how much faster than real time) applies to the simulator only, from
    MIN_SPEED to MAX_SPEED.
    """
    from massager.drivers.registry import parse_device

    driver_cls, _ = parse_device(device)
    if not MIN_SPEED <= speed <= MAX_SPEED:  # also refuses NaN
        raise UsageError(f"--speed {speed:g}: give a number from {MIN_SPEED:g} to {MAX_SPEED:g}")
    if speed != 1.0 and driver_cls.name != "sim":
        raise UsageError(f"--speed applies to the simulator only, not to device {device!r}")
    return driver_cls.name


def open_session(
    stream: CommandStream,
    rig: Rig,
    device: str = "sim",
    *,
    intensity: float = 1.0,
    cap_ms: int = DEFAULT_CAP_MS,
    speed: float = 1.0,
    trace: Path | None = None,
    handle_signals: bool = False,
    bus: EventBus | None = None,
) -> Session:
    """A Session that plays `stream` on `device` (``sim``, ``serial[:PORT]``, ``gpio``, ...).

    The one way `massager run` and `massager serve` set a session up: the
    driver named by `device` for `rig`, `speed` (the simulator only, MIN_SPEED to
    MAX_SPEED) with the lookahead stretched to match, the `trace` file,
    the cap and the initial intensity. Nothing is opened until `run()`.
    Raises UsageError for a bad device, speed or intensity.
    """
    from massager.drivers.base import DriverOptions
    from massager.drivers.registry import parse_device
    from massager.runtime.session import Session

    check_device(device, speed)
    driver_cls, target = parse_device(device)
    driver = driver_cls(rig, DriverOptions(target=target, speed=speed, trace=trace))
    # Commands go out the same real time ahead whatever the speed (the simulator likewise
    # stretches its watchdog), so a host hiccup at --speed 60 never makes one late.
    lookahead = driver.lookahead_ms * max(speed, 1.0)
    return Session(
        stream,
        driver,
        bus=bus,
        intensity=intensity,
        cap_ms=cap_ms,
        lookahead_ms=lookahead,
        handle_signals=handle_signals,
    )


def import_haptic(
    path: Path,
    rig: Rig,
    *,
    kind: str = "vibration",
    zones: tuple[str, ...] = ("sole",),
    name: str | None = None,
    tolerance: float = 0.02,
) -> tuple[Imported, Profile]:
    """Import a funscript or AHAP file as a one-step `curve` profile for `rig`.

    Returns the import (the profile's YAML text, a summary, every loss as a
    located warning in the source file) and the profile read back from that
    text, checked to compile on `rig`.
    Raises InputError for a file it cannot import, UsageError for bad options.
    """
    from massager.haptic import import_haptic as run_import

    imported = run_import(path, rig, kind=kind, zone_names=zones, name=name, tolerance=tolerance)
    profile = profile_from_text(imported.text, name=f"<import of {path.name}>")
    compile_profile(profile, rig, Settings(session_cap_ms=HARD_CAP_MS))
    return imported, profile
