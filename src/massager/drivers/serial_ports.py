"""Finding, opening and probing serial ports that may hold the massager firmware.

pyserial is imported inside the functions, so importing this module is cheap.
"""

from __future__ import annotations

import errno
import re
import secrets
from dataclasses import dataclass
from typing import TYPE_CHECKING

from massager.errors import DeviceError, UsageError

if TYPE_CHECKING:
    from massager.drivers.serial_link import Port
    from massager.drivers.serial_messages import Identity

PICO_VID = 0x2E8A
"""Raspberry Pi's USB vendor id: MicroPython on a Pico enumerates with it (PID 0x0005)."""
BAUDRATE = 115200
"""Used on real UARTs; USB CDC ignores it."""
READ_TIMEOUT_S = 0.005
WRITE_TIMEOUT_S = 0.5


@dataclass(frozen=True, slots=True)
class PortInfo:
    """A serial port the system lists, with its USB identity when it has one."""

    device: str
    description: str
    vid: int | None
    pid: int | None
    serial_number: str | None

    @property
    def is_pico(self) -> bool:
        """Whether the USB vendor id is Raspberry Pi's (a Pico or another RP2040 board)."""
        return self.vid == PICO_VID

    @property
    def usb_id(self) -> str:
        """VID:PID as hex, or '' for a port without a USB identity."""
        if self.vid is None or self.pid is None:
            return ""
        return f"{self.vid:04X}:{self.pid:04X}"


def list_ports() -> list[PortInfo]:
    """Every serial port the system lists, Picos first."""
    from serial.tools import list_ports as lp

    found = [
        PortInfo(p.device, p.description or "", p.vid, p.pid, p.serial_number)
        for p in lp.comports()
    ]
    return sorted(found, key=lambda p: (not p.is_pico, p.device))


def find_pico() -> str:
    """The port of the one Pico attached by USB; DeviceError if none, UsageError if several."""
    picos = [p for p in list_ports() if p.is_pico]
    if not picos:
        raise DeviceError(
            "no Pico found on USB (vendor id 2E8A); plug it in, or name the port: "
            "--device serial:/dev/ttyACM0 (see `massager ports`)"
        )
    if len(picos) > 1:
        names = ", ".join(p.device for p in picos)
        raise UsageError(f"several Picos found ({names}); choose one: --device serial:PORT")
    return picos[0].device


def open_port(target: str, *, exclusive: bool = True) -> Port:
    """Open a port path or pyserial URL (socket://, rfc2217://, loop://), exclusively unless
    told otherwise (`massager off`'s last resort on a port another process holds)."""
    import serial

    return serial.serial_for_url(
        target,
        baudrate=BAUDRATE,
        timeout=READ_TIMEOUT_S,
        write_timeout=WRITE_TIMEOUT_S,
        exclusive=exclusive,
    )


def port_held(exc: BaseException) -> bool:
    """Whether opening a port failed because another process holds it (its exclusive lock)."""
    return any("exclusively lock" in str(e) for e in (exc, exc.__cause__) if e is not None)


def probe(target: str, timeout: float = 0.5) -> Identity | None:
    """Open `target`, say hello, close it: the firmware's identity, or None if nothing answered.

    Raises what opening the port raises (pyserial's SerialException, OSError).
    """
    from massager.drivers.serial_link import SerialLink

    link = SerialLink(lambda: open_port(target))
    link.reconnect = False
    link.open()
    try:
        return link.identify(secrets.randbits(32), timeout=timeout)
    finally:
        link.close()


def open_failure(target: str, exc: BaseException) -> str:
    """Why `target` could not be opened, said once (not pyserial's nested wording), with
    what to do about it."""
    said = f"cannot open serial port {target}"
    if port_held(exc):
        return (
            f"{said}: another program has it open; close that program "
            f"(`massager off --device serial:{target}` stops a massager holding it)"
        )
    cause = exc.__context__ or exc
    code = getattr(cause, "errno", None) or next(iter(getattr(cause, "args", ())), None)
    if isinstance(exc, ValueError):  # pyserial's word for a URL it cannot read
        return f"{said}: {exc}; the URLs pyserial opens are socket://, rfc2217:// and loop://"
    if "://" in target:
        reason = getattr(cause, "strerror", None) or _reason(str(exc))
        return f"{said}: {reason}; is the device at that address running and reachable?"
    if code in (errno.ENOENT, errno.ENODEV, errno.ENXIO):
        return (
            f"{said}: there is no such port; is the Pico plugged in? "
            "`massager ports` lists the serial ports"
        )
    if code in (errno.EACCES, errno.EPERM):
        return (
            f"{said}: permission denied; add your user to the dialout group "
            "(sudo usermod -aG dialout $USER, then log in again)"
        )
    if code == errno.ENOTTY:
        return f"{said}: it is not a serial port; `massager ports` lists the serial ports"
    return f"{said}: {_reason(str(exc))}; `massager ports` lists the serial ports"


def _reason(text: str) -> str:
    """pyserial's message without its "could not open port X:" and "[Errno N]" prefixes."""
    text = re.sub(r"(?i)^(\[Errno -?\d+\] )?could not open port \S+?:? ", "", text)
    return re.sub(r"^\[Errno -?\d+\] ", "", text)
