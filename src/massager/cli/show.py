"""`massager show PROFILE [--rig RIG]`: what a profile is and what it does on a rig.

Prints where the file is, its description, its params with their defaults, every
step as compiled for the rig (number, start, length, name, technique, zones;
steps the rig skips marked so) and the compiler's warnings for that rig.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import typer

from massager.cli.app import app
from massager.cli.options import ProfileArg, RigOpt, SessionCapOpt, SetOpt, session_cap_ms


@app.command()
def show(
    profile: ProfileArg,
    rig: RigOpt = None,
    sets: SetOpt = None,
    session_cap: SessionCapOpt = None,
) -> None:
    """Describe a profile: its file, description, params, steps with their times on a rig,
    and the compiler's warnings there."""
    from massager import api
    from massager.units import clock_text, format_duration

    cap = session_cap_ms(session_cap)
    params = api.parse_sets(sets)
    loaded = api.load_profile(profile)
    rig_obj = api.load_rig(rig)
    stream = api.compile_stream(loaded, rig_obj, params=params, session_cap_ms=cap)
    doc = loaded._doc
    source = doc.file if doc is not None and doc.file is not None else Path(profile)
    echo = typer.echo
    echo(f"{loaded.name}: {source}")
    for line in textwrap.wrap(loaded.description, 78):
        echo(f"  {line}")
    if loaded.params:
        echo("params (override with --set NAME=VALUE):")
        for name, default in loaded.params.items():
            shown = params.get(name)
            now = f" (set to {shown})" if shown is not None else ""
            echo(f"  {name} = {default!r}{now}")
    else:
        echo("params: none")
    skipped = sum(1 for s in stream.steps if s.skipped)
    more = f", {skipped} skipped" if skipped else ""
    echo(
        f"on rig {rig_obj.name}: {format_duration(stream.duration_ms)}, "
        f"{len(stream.steps)} steps{more}"
    )
    for step in stream.steps:
        zones = ", ".join(step.zones) or "-"
        track = f" [track {step.track}]" if step.track else ""
        if step.skipped:
            when = "skipped".ljust(16)
        else:
            length = format_duration(step.end_ms - step.start_ms)
            when = f"{clock_text(step.start_ms):>5} {length:>10}"
        echo(f"  {step.number:>3}. {when}  {step.name} ({step.technique}) on {zones}{track}")
    if stream.warnings:
        echo(f"warnings on {rig_obj.name} ({len(stream.warnings)}):")
        for warning in stream.warnings:
            echo(f"  {warning}")
    else:
        echo(f"warnings on {rig_obj.name}: none")
