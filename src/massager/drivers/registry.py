"""Device drivers by name: the built-in `sim`, `gpio` and `serial`, and third-party ones.

A third-party package adds a driver by declaring an entry point in the group
``massager.drivers`` whose value is its `Driver` subclass, for example::

    [project.entry-points."massager.drivers"]
    mydev = "mypkg.driver:MyDriver"

Drivers are imported only when chosen, so naming a device costs nothing.
"""

from __future__ import annotations

import importlib
from importlib.metadata import entry_points

from massager.diagnostics import did_you_mean
from massager.drivers.base import Driver
from massager.errors import DeviceError, UsageError

GROUP = "massager.drivers"
BUILTIN: dict[str, str] = {
    "sim": "massager.drivers.sim:SimDriver",
    "gpio": "massager.drivers.gpio:GpioDriver",
    "serial": "massager.drivers.serial:SerialDriver",
}
"""The drivers that ship with massager; a third-party driver cannot take these names."""


def _third_party() -> dict[str, str]:
    found: dict[str, str] = {}
    for ep in entry_points(group=GROUP):
        if ep.name not in BUILTIN:
            found[ep.name] = ep.value
    return found


def available() -> dict[str, str]:
    """Every known driver name and where it lives (``module:Class``), sorted by name."""
    names = {**_third_party(), **BUILTIN}
    return dict(sorted(names.items()))


def _load(name: str, where: str) -> type[Driver]:
    module_name, _, attr = where.partition(":")
    try:
        module = importlib.import_module(module_name)
        obj = getattr(module, attr) if attr else module
    except Exception as exc:  # a broken plug-in must not become a traceback
        raise DeviceError(f"device driver {name!r} ({where}) could not be loaded: {exc}") from exc
    if not (isinstance(obj, type) and issubclass(obj, Driver)):
        raise DeviceError(f"device driver {name!r} ({where}) is not a massager Driver class")
    return obj


def driver_class(name: str) -> type[Driver]:
    """The driver class registered as `name`; UsageError naming the known ones if none is."""
    where = BUILTIN.get(name)
    if where is None:
        known = available()
        where = known.get(name)
        if where is None:
            hint = did_you_mean(name, known)
            raise UsageError(f"unknown device {name!r}{hint}; known devices: {', '.join(known)}")
    return _load(name, where)


def parse_device(spec: str) -> tuple[type[Driver], str | None]:
    """Split a device spec ``NAME[:TARGET]`` into its driver class and target.

    ``serial:/dev/ttyACM0`` gives the serial driver and ``/dev/ttyACM0``;
    ``serial:socket://host:7000`` keeps everything after the first colon;
    ``sim`` gives the simulator and None.
    """
    name, sep, target = spec.strip().partition(":")
    if not name:
        raise UsageError(f"no device name in {spec!r}; known devices: {', '.join(available())}")
    return driver_class(name), (target if sep and target else None)
