"""`massager import`: a funscript or AHAP file made into a profile with a `curve` step."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from massager.cli.app import app
from massager.cli.options import RigOpt
from massager.errors import UsageError


@app.command("import")
def import_command(
    source: Annotated[
        Path, typer.Argument(metavar="FILE.funscript|FILE.ahap", help="The haptic file to import.")
    ],
    output: Annotated[Path, typer.Option("--output", "-o", help="The profile to write (.yaml).")],
    zones: Annotated[
        str, typer.Option("--zones", help="Zones the curve works on, comma-separated.")
    ] = "sole",
    kind: Annotated[
        str, typer.Option("--kind", help="Actuator kind it drives: vibration, air or roller.")
    ] = "vibration",
    name: Annotated[
        str | None, typer.Option("--name", help="Profile name (default: from the file name).")
    ] = None,
    rig: RigOpt = None,
    tolerance: Annotated[
        float,
        typer.Option("--tolerance", help="How far (in level) thinned keyframes may stray."),
    ] = 0.02,
) -> None:
    """Import a haptic file as a profile; every loss is reported at its place in the file."""
    from massager import api

    if output.suffix.lower() not in (".yaml", ".yml"):
        raise UsageError(f"-o {str(output)!r}: the profile's file name must end in .yaml")
    if output.is_dir() or not output.parent.is_dir():
        raise UsageError(f"-o {str(output)!r}: cannot write there")
    if not source.is_file():
        raise UsageError(f"cannot import {str(source)!r}: no such file")
    rig_obj = api.load_rig(rig)
    chosen = tuple(z.strip() for z in zones.split(",") if z.strip())
    if not chosen:
        raise UsageError("--zones: give at least one zone, e.g. --zones sole")
    imported, profile = api.import_haptic(
        source, rig_obj, kind=kind, zones=chosen, name=name, tolerance=tolerance
    )
    for problem in imported.problems:
        sys.stderr.write(f"{problem}\n")
    try:
        output.write_text(imported.text, encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"-o {output}: cannot write: {exc.strerror}") from None
    typer.echo(f"{imported.summary}; wrote {output} (profile {profile.name})")
