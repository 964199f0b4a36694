"""Authoring commands: list, validate, compile, schema.

Imports of the compiler and models happen inside the commands, so that
`massager --help` stays fast.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from massager.cli.app import app
from massager.errors import MassagerError, UsageError


def _cap_ms(text: str | None) -> int:
    from massager.compiler import DEFAULT_CAP_MS, HARD_CAP_MS
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


def _intensity(value: float) -> float:
    if not 0.0 <= value <= 1.0:
        raise UsageError(f"--intensity {value:g}: give a number from 0 to 1")
    return value


@app.command("list")
def list_profiles() -> None:
    """List the bundled profiles: name, duration and techniques."""
    from massager import api
    from massager.units import format_duration

    rows = []
    for name in api.bundled_profiles():
        try:
            profile = api.load_profile(name)
        except MassagerError as exc:
            rows.append((name, "?", f"invalid: {exc}"))
            continue
        rows.append((name, format_duration(profile.duration_ms), ", ".join(profile.techniques())))
    width = max((len(r[0]) for r in rows), default=4)
    typer.echo(f"{'NAME':<{width}}  {'LENGTH':>6}  TECHNIQUES")
    for name, length, techniques in rows:
        typer.echo(f"{name:<{width}}  {length:>6}  {techniques}")
    rigs = ", ".join(api.bundled_rigs())
    typer.echo(f"\nrigs: {rigs}")


@app.command()
def validate(
    paths: Annotated[
        list[str],
        typer.Argument(metavar="PATH", help="profile or rig files, or bundled profile names"),
    ],
    rig: Annotated[
        str | None, typer.Option("--rig", help="rig to check profiles against (default reference)")
    ] = None,
) -> None:
    """Check profiles (compiled for a rig) and rig files; report every problem as FILE:LINE:COL."""
    from massager import api
    from massager.units import format_duration

    failed = False
    rig_obj = None
    for ref in paths:
        try:
            if _is_rig_file(ref):
                checked = api.load_rig(Path(ref) if Path(ref).is_file() else ref)
                typer.echo(f"ok: rig {checked.name} ({len(checked.actuators)} actuators)")
                continue
            if rig_obj is None:
                rig_obj = api.load_rig(rig)
            profile = api.load_profile(ref)
            stream = api.compile_stream(profile, rig_obj)
            typer.echo(
                f"ok: {profile.name} ({format_duration(stream.duration_ms)}, "
                f"{len(stream.steps)} steps, {len(stream.commands)} commands on {rig_obj.name})"
            )
        except UsageError:
            raise
        except MassagerError as exc:
            failed = True
            sys.stderr.write(f"{exc}\n")
    if failed:
        raise typer.Exit(1)


def _is_rig_file(ref: str) -> bool:
    """Whether `ref` is a rig: a file whose top level has `actuators:`, or a bundled rig name."""
    from massager import bundled

    path = Path(ref)
    if not path.is_file():
        return bundled.find("profiles", ref) is None and bundled.find("rigs", ref) is not None
    try:
        with path.open("rb") as handle:
            head = handle.read(65536)
    except OSError:
        return False
    return any(line.startswith(b"actuators:") for line in head.splitlines())


@app.command("compile")
def compile_command(
    profile: Annotated[
        str, typer.Argument(metavar="PROFILE", help="profile file or bundled profile name")
    ],
    rig: Annotated[str | None, typer.Option("--rig", help="rig file or bundled rig name")] = None,
    intensity: Annotated[float, typer.Option("--intensity", help="user intensity 0..1")] = 1.0,
    sets: Annotated[
        list[str] | None, typer.Option("--set", help="override a profile param: NAME=VALUE")
    ] = None,
    session_cap: Annotated[
        str | None, typer.Option("--session-cap", help="session cap, up to 60m (default 20m)")
    ] = None,
    output: Annotated[
        Path | None, typer.Option("-o", "--output", help="write the stream here, not stdout")
    ] = None,
) -> None:
    """Compile a profile for a rig into the JSON Lines command stream."""
    from massager import api

    stream = api.compile_stream(
        api.load_profile(profile),
        api.load_rig(rig),
        intensity=_intensity(intensity),
        params=api.parse_sets(sets),
        session_cap_ms=_cap_ms(session_cap),
    )
    if output is None:
        for line in stream.iter_jsonl():
            sys.stdout.write(line + "\n")
        return
    try:
        output.write_text(stream.to_jsonl(), encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"-o {output}: cannot write: {exc.strerror}") from None


@app.command()
def schema(
    kind: Annotated[
        str, typer.Argument(metavar="[profile|rig]", help="profile or rig")
    ] = "profile",
) -> None:
    """Print the JSON Schema of profile or rig files (for editors)."""
    import json

    if kind == "profile":
        from massager.profile.model import Profile

        document = Profile.model_json_schema(by_alias=True)
    elif kind == "rig":
        from massager.rig.model import Rig

        document = Rig.model_json_schema(by_alias=True)
    else:
        raise UsageError(f"schema {kind!r}: choose profile or rig")
    document["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    typer.echo(json.dumps(document, indent=2, sort_keys=True))
