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
from typing import Any

from massager import bundled
from massager.compiler import DEFAULT_CAP_MS, HARD_CAP_MS, Settings, compile_profile
from massager.errors import InputError, Problem
from massager.profile import loader as profile_loader
from massager.profile.model import Profile
from massager.rig import loader as rig_loader
from massager.rig.model import Rig
from massager.stream import CommandStream

__all__ = [
    "DEFAULT_CAP_MS",
    "DEFAULT_RIG",
    "HARD_CAP_MS",
    "bundled_profiles",
    "bundled_rigs",
    "compile_stream",
    "load_profile",
    "load_rig",
    "parse_sets",
    "profile_from_data",
    "rig_from_data",
]

DEFAULT_RIG = "reference"
"""The bundled rig used when none is named."""


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
        raise InputError(
            Problem(
                str(ref), 1, 1, f"no such file and no bundled {what} of that name; bundled: {names}"
            )
        )
    return found, f"<bundled>/{found.name}"


def load_profile(ref: str | Path, *, params: Mapping[str, Any] | None = None) -> Profile:
    """Load a profile from a path or a bundled name, optionally overriding its params.

    Raises InputError (located problems) or UsageError (an unknown param in `params`).
    """
    path, shown = _resolve("profiles", ref)
    return profile_loader.load(path, params=params, display=shown)


def load_rig(ref: str | Path | None = None) -> Rig:
    """Load a rig from a path or a bundled name; None gives the bundled `reference` rig."""
    path, shown = _resolve("rigs", DEFAULT_RIG if ref is None else ref)
    return rig_loader.load(path, display=shown)


def profile_from_data(data: dict[str, Any], *, name: str = "<data>") -> Profile:
    """Build a profile from a dict shaped like a profile file (tests, generators)."""
    return profile_loader.from_data(data, path=name)


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
