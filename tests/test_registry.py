"""Drivers by name: built-ins, entry-point plug-ins, device specs, clear errors."""

from __future__ import annotations

import subprocess
import sys
import types
from importlib.metadata import EntryPoint

import pytest

from massager.drivers import registry
from massager.drivers.base import Driver
from massager.drivers.sim import SimDriver
from massager.errors import DeviceError, UsageError


class PluginDriver(SimDriver):
    """A third-party driver, for the entry-point test."""

    name = "plug"


@pytest.fixture
def plugins(monkeypatch: pytest.MonkeyPatch) -> None:
    module = types.ModuleType("fake_massager_plugin")
    module.PluginDriver = PluginDriver  # type: ignore[attr-defined]
    module.NotADriver = object  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "fake_massager_plugin", module)
    found = [
        EntryPoint("plug", "fake_massager_plugin:PluginDriver", registry.GROUP),
        EntryPoint("wrong", "fake_massager_plugin:NotADriver", registry.GROUP),
        EntryPoint("gone", "no_such_module_anywhere:Driver", registry.GROUP),
        EntryPoint("sim", "fake_massager_plugin:PluginDriver", registry.GROUP),  # cannot override
    ]

    def entry_points(group: str) -> list[EntryPoint]:
        return [ep for ep in found if ep.group == group]

    monkeypatch.setattr(registry, "entry_points", entry_points)


def test_builtin_names_resolve_and_are_installed_as_entry_points() -> None:
    assert registry.driver_class("sim") is SimDriver
    from importlib.metadata import entry_points

    declared = {ep.name: ep.value for ep in entry_points(group=registry.GROUP)}
    for name, where in registry.BUILTIN.items():
        assert declared.get(name) == where


@pytest.mark.parametrize(
    ("spec", "target"),
    [
        ("sim", None),
        ("sim:", None),
        ("  sim ", None),
        ("sim:anything", "anything"),
    ],
)
def test_parse_device_splits_name_and_target(spec: str, target: str | None) -> None:
    cls, got = registry.parse_device(spec)
    assert cls is SimDriver
    assert got == target


def test_parse_device_keeps_everything_after_the_first_colon(plugins: None) -> None:
    cls, target = registry.parse_device("plug:socket://localhost:7000")
    assert cls is PluginDriver
    assert target == "socket://localhost:7000"
    assert registry.parse_device("plug:/dev/ttyACM0")[1] == "/dev/ttyACM0"


def test_unknown_device_is_a_usage_error_listing_the_known_ones(plugins: None) -> None:
    with pytest.raises(UsageError, match="unknown device 'foo'") as info:
        registry.parse_device("foo:/dev/x")
    assert "known devices: gone, gpio, plug, serial, sim, wrong" in str(info.value)
    assert info.value.exit_code == 2
    with pytest.raises(UsageError, match="no device name"):
        registry.parse_device(":/dev/x")


def test_third_party_drivers_come_from_the_entry_point_group(plugins: None) -> None:
    assert registry.driver_class("plug") is PluginDriver
    assert registry.available()["plug"] == "fake_massager_plugin:PluginDriver"
    # a plug-in cannot take a built-in's name
    assert registry.driver_class("sim") is SimDriver
    assert registry.available()["sim"] == registry.BUILTIN["sim"]


def test_broken_plugins_are_device_errors_not_tracebacks(plugins: None) -> None:
    with pytest.raises(DeviceError, match=r"'gone'.*could not be loaded"):
        registry.driver_class("gone")
    with pytest.raises(DeviceError, match=r"'wrong'.*not a massager Driver"):
        registry.driver_class("wrong")


def test_every_builtin_is_a_driver_with_its_name() -> None:
    for name in registry.BUILTIN:
        try:
            cls = registry.driver_class(name)
        except DeviceError as exc:  # a built-in still being written must fail cleanly
            pytest.fail(f"built-in driver {name!r} does not load: {exc}")
        assert issubclass(cls, Driver)
        assert cls.name == name


def test_naming_a_device_imports_only_that_driver() -> None:
    code = (
        "import sys\n"
        "from massager.drivers.registry import parse_device\n"
        "parse_device('sim')\n"
        "heavy = [m for m in ('serial', 'gpiozero', 'massager.drivers.gpio',"
        " 'massager.drivers.serial', 'matplotlib') if m in sys.modules]\n"
        "print(','.join(heavy))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
