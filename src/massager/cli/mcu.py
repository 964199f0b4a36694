"""`massager mcu gpio`: the Pi's GPIO as a device process of its own (Klipper's Linux "MCU").

`--device gpio` starts and supervises this process itself; run it by hand to
keep the pins served by a process apart from any host (reach it with
``--device serial:PATH``).
"""

from __future__ import annotations

from typing import Annotated

import typer

from massager.cli.app import App, app
from massager.errors import DeviceError, UsageError

mcu_app = App(help="Device processes: the firmware on this machine's own hardware.")
app.add_typer(mcu_app, name="mcu")


@mcu_app.command("gpio")
def gpio(
    rig: Annotated[
        str | None,
        typer.Option(
            "--rig", "-r", help="The rig whose gpio bindings to serve [default: reference]."
        ),
    ] = None,
    link: Annotated[
        str,
        typer.Option("--link", help="Serve a pseudo-terminal, symlinked at this path."),
    ] = "/tmp/massager-gpio",
    tick_hz: Annotated[
        float | None,
        typer.Option("--tick-hz", help="Ticks per second, 10..2000 [default: 200]."),
    ] = None,
    realtime: Annotated[
        bool,
        typer.Option(help="Ask for SCHED_FIFO and locked memory where the system allows."),
    ] = True,
    pin_log: Annotated[
        str | None,
        typer.Option("--pin-log", help="Mock pins that append every change to this file."),
    ] = None,
) -> None:
    """Serve the rig's GPIO pins over the wire protocol on a pseudo-terminal, until stopped.

    Prints the link's path; then `massager run PROFILE --device serial:PATH --rig RIG`
    plays on the pins. A host that goes silent trips the watchdog: every output off.
    """
    import os

    from massager import api
    from massager.mcu import gpio as gpio_mcu

    rig_obj = api.load_rig(rig)
    folder = os.path.dirname(os.path.abspath(link))
    if not os.path.isdir(folder):
        raise UsageError(f"--link {link}: the folder {folder} does not exist")
    if os.path.lexists(link) and not os.path.islink(link):
        raise UsageError(f"--link {link} exists and is not a symbolic link; choose another path")
    try:
        hz = gpio_mcu.tick_hz_from_env(tick_hz)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    code = gpio_mcu.run(
        rig_obj,
        link=link,
        tick_hz=hz,
        realtime=realtime,
        pin_factory=gpio_mcu.pin_log_factory(pin_log),
    )
    if code:
        raise DeviceError("the gpio device process could not claim the pins (see above)")
