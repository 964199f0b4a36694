"""A serial port that cannot be opened is said once, plainly, with what to do about it.

pyserial nests its own wording ("[Errno 2] could not open port X: [Errno 2] No such
file or directory: 'X'"); the driver's message names the port once and the cause once.
"""

from __future__ import annotations

import errno
import socket
from pathlib import Path

import pytest
import serial
from serial_support import driver_for

from massager.cli import run as cli
from massager.drivers.serial_ports import open_failure
from massager.errors import DeviceError


def _open_error(target: str) -> str:
    with pytest.raises(DeviceError) as caught:
        driver_for(target).open()
    return str(caught.value)


def test_a_missing_port_says_so_once(tmp_path: Path) -> None:
    port = tmp_path / "ttyACM9"
    said = _open_error(str(port))
    assert said == (
        f"cannot open serial port {port}: there is no such port; is the Pico plugged in? "
        "`massager ports` lists the serial ports"
    )
    assert said.count(str(port)) == 1 and "Errno" not in said


def test_a_file_that_is_not_a_serial_port(tmp_path: Path) -> None:
    plain = tmp_path / "plain"
    plain.write_text("")
    assert _open_error(str(plain)) == (
        f"cannot open serial port {plain}: it is not a serial port; "
        "`massager ports` lists the serial ports"
    )


def test_a_url_where_nothing_listens() -> None:
    with socket.create_server(("127.0.0.1", 0)) as server:
        port = server.getsockname()[1]  # closed again below: nothing listens there
    url = f"socket://127.0.0.1:{port}"
    assert _open_error(url) == (
        f"cannot open serial port {url}: Connection refused; "
        "is the device at that address running and reachable?"
    )


def test_a_url_pyserial_cannot_read() -> None:
    assert _open_error("nope://x") == (
        "cannot open serial port nope://x: invalid URL, protocol 'nope' not known; "
        "the URLs pyserial opens are socket://, rfc2217:// and loop://"
    )


def test_permission_denied_names_the_dialout_group() -> None:
    try:  # pyserial's own shape: an OSError caught and re-raised as SerialException
        try:
            raise PermissionError(errno.EACCES, "Permission denied", "/dev/ttyACM0")
        except OSError as inner:
            raise serial.SerialException(inner.errno, f"could not open port x: {inner}") from None
    except serial.SerialException as exc:
        exc.__context__ = PermissionError(errno.EACCES, "Permission denied")
        said = open_failure("/dev/ttyACM0", exc)
    assert said == (
        "cannot open serial port /dev/ttyACM0: permission denied; add your user to the "
        "dialout group (sudo usermod -aG dialout $USER, then log in again)"
    )


def test_a_port_held_by_another_program() -> None:
    exc = serial.SerialException(
        "Could not exclusively lock port /dev/ttyACM0: [Errno 11] Resource temporarily unavailable"
    )
    assert open_failure("/dev/ttyACM0", exc) == (
        "cannot open serial port /dev/ttyACM0: another program has it open; close that "
        "program (`massager off --device serial:/dev/ttyACM0` stops a massager holding it)"
    )


def test_the_command_line_prints_it_once_and_exits_3(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    port = tmp_path / "ttyACM9"
    code = cli(["run", "quick", "-q", "--device", f"serial:{port}"])
    err = capsys.readouterr().err
    assert code == 3
    assert err.count("cannot open serial port") == 1, err
    assert "there is no such port" in err and "Traceback" not in err


def test_massager_ports_gives_the_cause_once_per_port(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing, plain = tmp_path / "ttyACM9", tmp_path / "plain"
    plain.write_text("")
    code = cli(["ports", str(missing), str(plain)])
    out = capsys.readouterr().out
    rows = {line.split()[0]: line for line in out.splitlines()[1:]}
    assert code == 3
    assert rows[str(missing)].endswith(" cannot open: there is no such port")
    assert rows[str(plain)].endswith("cannot open: it is not a serial port")
    assert "Errno" not in out and "could not open port" not in out
