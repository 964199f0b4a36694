"""Device commands: `massager ports` (where is the Pico?) and `massager off` (all off now)."""

from __future__ import annotations

from typing import Annotated

import typer

from massager.cli.app import app
from massager.errors import DeviceError


def _describe(target: str) -> str:
    """What answers on `target`: the firmware's identity, 'no answer' or why it cannot open."""
    from massager.drivers.serial_ports import open_failure, probe

    try:
        identity = probe(target)
    except Exception as exc:  # busy, missing, permission denied: say so, keep listing
        why = open_failure(target, exc).removeprefix(f"cannot open serial port {target}: ")
        return f"cannot open: {why.split('; ')[0]}"  # the cause; the advice is for one port
    if identity is None:
        return "no answer (not the massager firmware)"
    faults = ""
    if identity.faults:
        from firmware_bridge.names import fault_names

        faults = f", latched: {', '.join(fault_names(identity.faults))}"
    return f"{identity.firmware}, protocol {identity.version}, {identity.channels} channels{faults}"


@app.command()
def ports(
    targets: Annotated[
        list[str] | None,
        typer.Argument(help="Ports or pyserial URLs to probe as well (a virtual device's pty)."),
    ] = None,
    probe_all: Annotated[
        bool,
        typer.Option("--probe-all", help="Also say hello on ports that are not a Pico."),
    ] = False,
) -> None:
    """List serial ports and whether the massager firmware answers on them.

    Ports with Raspberry Pi's USB vendor id (2E8A, a Pico) are probed; others only
    with --probe-all, since writing to an unknown device may upset it.
    """
    from massager.drivers.serial_ports import list_ports

    rows: list[tuple[str, str, str, str]] = []
    for port in list_ports():
        if port.is_pico or probe_all:
            answer = _describe(port.device)
        else:
            answer = "not probed (not a Pico; --probe-all to try)"
        rows.append((port.device, port.usb_id or "-", port.description, answer))
    answered = True
    for target in targets or []:
        answer = _describe(target)
        answered = answered and not answer.startswith(("no answer", "cannot open"))
        rows.append((target, "-", "given", answer))
    if not rows:
        typer.echo("no serial ports found; is the Pico plugged in? (a virtual one: ")
        typer.echo("  python -m firmware_bridge.virtual, then massager ports PATH)")
        return
    widths = [
        max(len(r[i]) for r in [("PORT", "USB ID", "DESCRIPTION", ""), *rows]) for i in range(3)
    ]
    head = ("PORT", "USB ID", "DESCRIPTION")
    typer.echo("  ".join(h.ljust(w) for h, w in zip(head, widths, strict=True)) + "  FIRMWARE")
    for row in rows:
        cells = "  ".join(c.ljust(w) for c, w in zip(row[:3], widths, strict=True))
        typer.echo(f"{cells}  {row[3]}")
    if not answered:
        raise DeviceError("the massager firmware did not answer on every port given")


@app.command()
def off(
    device: Annotated[
        str,
        typer.Option(
            "--device",
            "-d",
            help="serial[:PORT_OR_URL], gpio, sim or a plug-in driver.",
        ),
    ] = "serial",
    rig: Annotated[
        str | None,
        typer.Option("--rig", "-r", help="The rig the device drives [default: reference]."),
    ] = None,
) -> None:
    """Turn every output of a device off now, whatever it was doing.

    If another massager process holds the device (`massager run`, `massager serve`), it is
    asked to stop first (over its control socket, else by SIGTERM); then the device is
    turned off from here as well.
    """
    from massager import api
    from massager.cli.options import resolve_device
    from massager.drivers.base import DriverOptions
    from massager.drivers.registry import driver_class
    from massager.runtime import stops
    from massager.runtime.owner import KEEPERS, device_key, holder, request_stop

    with stops.shielded():  # a signal now must not leave the device half turned off
        name, target = resolve_device(device)
        driver_cls = driver_class(name)
        where = f"{driver_cls.name}:{target}" if target else driver_cls.name
        key = device_key(name, target)
        asked = request_stop(key) if key is not None else None
        if asked is not None and asked.command in KEEPERS and key and holder(key) == asked:
            typer.echo(
                f"{where}: stopped the session of `massager {asked.command}` (pid {asked.pid}),"
                " which keeps the device; every output is off"
            )
            return
        rig_obj = api.load_rig(rig)
        driver = driver_cls(rig_obj, DriverOptions(target=target))
        driver.turn_off()
    if asked is not None:
        typer.echo(f"{where}: stopped `massager {asked.command}` (pid {asked.pid})")
    typer.echo(f"{where}: every output is off")
