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
from massager.cli.options import (
    ProfileArg,
    RigOpt,
    SessionCapOpt,
    SetOpt,
    StrictOpt,
    compile_for,
    report_warnings,
    session_cap_ms,
)
from massager.errors import MassagerError, UsageError


@app.command("list")
def list_profiles() -> None:
    """List the bundled profiles: name, duration and techniques."""
    import textwrap

    from massager import api
    from massager.units import format_duration

    rows = []
    for name in api.bundled_profiles():
        try:
            profile = api.load_profile(name)
        except MassagerError as exc:
            rows.append((name, "?", f"invalid: {exc}", ""))
            continue
        length = format_duration(profile.duration_ms)
        rows.append((name, length, ", ".join(profile.techniques()), profile.description))
    width = max((len(r[0]) for r in rows), default=4)
    typer.echo(f"{'NAME':<{width}}  {'LENGTH':>6}  TECHNIQUES")
    for name, length, techniques, description in rows:
        typer.echo(f"{name:<{width}}  {length:>6}  {techniques}")
        for line in textwrap.wrap(description, 76):
            typer.echo(f"    {line}")
    rigs = ", ".join(api.bundled_rigs())
    typer.echo(f"\nrigs: {rigs}")
    typer.echo("massager show NAME: its params and steps; the files are in " + _folder())


def _folder() -> str:
    from massager import bundled

    where = bundled.folder("profiles")
    return str(where) if where else "(none installed)"


def expand_paths(paths: list[str]) -> list[str]:
    """`paths` with every folder replaced by the profile and rig files inside it (sorted)."""
    from massager import bundled

    out: list[str] = []
    for ref in paths:
        folder = Path(ref)
        if not folder.is_dir():
            out.append(ref)
            continue
        found = sorted(
            str(p) for p in folder.rglob("*") if p.suffix in bundled.SUFFIXES and p.is_file()
        )
        if not found:
            raise UsageError(f"{ref}: a folder with no .yaml or .yml file in it")
        out.extend(found)
    return out


@app.command()
def validate(
    paths: Annotated[
        list[str],
        typer.Argument(
            metavar="PATH", help="profile or rig files, folders of them, or bundled names"
        ),
    ],
    rig: RigOpt = None,
    strict: StrictOpt = False,
    session_cap: SessionCapOpt = None,
) -> None:
    """Check profiles (compiled for a rig) and rig files; report every problem as FILE:LINE:COL.

    What the compiler would change of a profile on the rig is a warning (stderr);
    with --strict it is an error.
    """
    from massager import api
    from massager.rig import Rig
    from massager.units import format_duration

    failed = False
    cap = session_cap_ms(session_cap)
    paths = expand_paths(paths)
    rig_obj: Rig | None = None
    rig_failed = False
    for ref in paths:
        try:
            checked = api.load_file(ref)  # parsed once, then told apart: rig or profile
            if isinstance(checked, Rig):
                report_warnings(checked, strict=strict)
                typer.echo(f"ok: rig {checked.name} ({len(checked.actuators)} actuators)")
                continue
            if rig_obj is None and not rig_failed:
                try:  # once for every profile: a bad --rig is reported once
                    rig_obj = api.load_rig(rig)
                except UsageError:
                    raise
                except MassagerError as exc:
                    rig_failed = failed = True
                    sys.stderr.write(f"{exc}\n")
            if rig_obj is None:
                continue  # the rig's error is out already; the profile itself loaded
            stream = api.compile_stream(checked, rig_obj, session_cap_ms=cap)
            report_warnings(stream, strict=strict)
            typer.echo(
                f"ok: {checked.name} ({format_duration(stream.duration_ms)}, "
                f"{len(stream.steps)} steps, {len(stream.commands)} commands on {rig_obj.name})"
            )
        except UsageError:
            raise
        except MassagerError as exc:
            failed = True
            sys.stderr.write(f"{exc}\n")
    if failed:
        raise typer.Exit(1)


@app.command("compile")
def compile_command(
    profile: ProfileArg,
    rig: RigOpt = None,
    intensity: Annotated[float, typer.Option("--intensity", help="User intensity, 0 to 1.")] = 1.0,
    sets: SetOpt = None,
    session_cap: SessionCapOpt = None,
    strict: StrictOpt = False,
    output: Annotated[
        Path | None,
        typer.Option("-o", "--output", help="Write the stream here, not to stdout (-: stdout)."),
    ] = None,
) -> None:
    """Compile a profile for a rig into the JSON Lines command stream (warnings on stderr)."""
    cap = session_cap_ms(session_cap)
    stream, _ = compile_for(profile, rig, sets, intensity=intensity, cap_ms=cap, strict=strict)
    if output is None or str(output) == "-":
        for line in stream.iter_jsonl():
            sys.stdout.write(line + "\n")
        return
    try:
        output.write_text(stream.to_jsonl(), encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"-o {output}: cannot write: {exc.strerror}") from None


@app.command()
def schema(
    kind: Annotated[str, typer.Argument(metavar="KIND", help="profile, rig or api")] = "profile",
) -> None:
    """Print the JSON Schema of profile or rig files (for editors), or of the service's API."""
    import json

    if kind == "profile":
        from massager.profile.schema import profile_schema

        document = profile_schema()
    elif kind == "rig":
        from massager.rig.schema import rig_schema

        document = rig_schema()
    elif kind == "api":
        from massager.service.models import api_schema

        document = api_schema()
    else:
        raise UsageError(f"schema {kind!r}: choose profile, rig or api")
    document["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    typer.echo(json.dumps(document, indent=2, sort_keys=True))
