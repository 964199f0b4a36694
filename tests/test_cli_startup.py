"""The command line's surface and start-up: --version, help wording, completion, and which
modules a quick command loads (never the service, the drivers, matplotlib...)."""

from __future__ import annotations

import importlib.metadata
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import typer.main
from typer.core import TyperGroup

import massager
from massager.cli import _register, run
from massager.cli.app import app

RAW_TYPE = re.compile(r"<[a-z][\w\[\], |.]*>|\{[A-Za-z_]+\}")
"""How typer names a value when nothing better is given: `<list[str]>`, `<float>`, `{PROFILE}`."""


def _command_paths() -> list[list[str]]:
    """Every command and sub-command of the full command tree, as argv prefixes."""
    _register([])  # every command module
    paths: list[list[str]] = []

    def walk(command: object, prefix: list[str]) -> None:
        if isinstance(command, TyperGroup):
            for name, sub in command.commands.items():
                walk(sub, [*prefix, name])
        paths.append(prefix)

    walk(typer.main.get_command(app), [])
    return paths


def test_each_command_is_found_in_the_module_that_registers_it() -> None:
    from massager.cli import _COMMANDS

    _register([])
    where: dict[str, str] = {}
    for info in app.registered_commands:
        assert info.callback is not None
        name = info.name or typer.main.get_command_name(info.callback.__name__)
        where[name] = info.callback.__module__
    for group in app.registered_groups:
        assert group.name and group.typer_instance is not None
        callbacks = [c.callback for c in group.typer_instance.registered_commands]
        where[group.name] = callbacks[0].__module__ if callbacks[0] else ""
    mapped = {name: f"massager.cli.{m}" for m, names in _COMMANDS.items() for name in names}
    assert mapped == where


def test_version_is_the_package_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["--version"]) == 0
    out = capsys.readouterr().out
    assert out == f"massager {massager.__version__}\n"
    assert massager.__version__ == importlib.metadata.version("massager")


def test_the_tree_has_every_command() -> None:
    names = {path[0] for path in _command_paths() if path}
    assert {"list", "validate", "run", "off", "serve", "remote", "mcu", "import"} <= names
    assert ["remote", "start"] in _command_paths()


@pytest.mark.parametrize("path", _command_paths(), ids=lambda p: " ".join(p) or "massager")
def test_help_names_values_not_types(path: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert run([*path, "--help"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"Usage: massager {' '.join(path)}".rstrip())
    assert not RAW_TYPE.findall(out), out
    for block in re.split(r"\n  (?=-)", out.split("Options:", 1)[-1]):
        assert block.count("default:") <= 1, block  # each option says its default once


def test_a_bad_value_is_still_named_by_its_option(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["compile", "classic", "--intensity", "lots"]) == 2
    err = capsys.readouterr().err
    assert "Invalid value for '--intensity'" in err
    assert "<float>" not in err


def test_a_mistyped_command_is_suggested(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["valdate", "classic"]) == 2
    assert "Did you mean 'validate'?" in capsys.readouterr().err


def _complete(words: str) -> list[str]:
    env = {
        **os.environ,
        "_MASSAGER_COMPLETE": "complete_bash",
        "COMP_WORDS": words,
        "COMP_CWORD": str(len(words.split()) - 1),
    }
    out = subprocess.run(
        [sys.executable, "-m", "massager"], env=env, capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    return out.stdout.split()


def test_shell_completion_knows_commands_and_their_options() -> None:
    assert _complete("massager val") == ["validate"]
    assert "--strict" in _complete("massager validate --st")
    assert set(_complete("massager remote st")) == {"status", "start", "stop"}


HEAVY = (
    "massager.service",
    "massager.drivers",
    "massager.runtime.session",
    "massager.ui",
    "massager.haptic",
    "massager.mcu",
    "serial",
    "gpiozero",
    "matplotlib",
    "rich",
    "uvicorn",
    "starlette",
    "websockets",
    "aiomqtt",
    "asyncio",
)
"""Modules `massager --help`, `--version` and `validate` have no use for."""

PROBE = (
    "import gc, json, sys\n"
    "from massager._main import main\n"
    "out = sys.argv.pop(1)\n"
    "try:\n"
    "    main()\n"
    "finally:\n"
    "    with open(out, 'w') as f:\n"
    "        json.dump({'modules': sorted(sys.modules), 'collecting': gc.isenabled()}, f)\n"
)
"""Runs the console script's entry point with its argv; writes what it loaded and whether
the cycle collector was on when the command ended."""


def _probe(args: list[str], tmp_path: Path, code: int = 0) -> dict[str, Any]:
    """What the probe reports of `massager ARGS` (which must exit with `code`)."""
    report = tmp_path / "probe.json"
    done = subprocess.run(
        [sys.executable, "-c", PROBE, str(report), *args],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == code, done.stderr
    out: dict[str, Any] = json.loads(report.read_text())
    return out


@pytest.mark.parametrize(
    "args",
    [["--help"], ["--version"], ["validate", "classic"], ["validate", "--help"], []],
    ids=" ".join,
)
def test_quick_commands_load_no_heavy_module(args: list[str], tmp_path: Path) -> None:
    loaded = _probe(args, tmp_path, 2 if not args else 0)["modules"]
    assert "massager.cli" in loaded  # the probe did run the command line
    heavy = [m for m in loaded if m.split(".")[0] in HEAVY or m.startswith(HEAVY)]
    assert heavy == []
    if args and args[0] == "validate":  # only the module that has the command
        assert [m for m in loaded if m.startswith("massager.cli.")] == [
            "massager.cli.app",
            "massager.cli.authoring",
            "massager.cli.options",
            "massager.cli.stdio",
        ]


BUILT = (
    "import json, sys\n"
    "from pydantic._internal._generate_schema import GenerateSchema\n"
    "built = set()\n"
    "real = GenerateSchema._model_schema\n"
    "def spy(self, cls):\n"  # pydantic builds each model class's schema here
    "    built.add(cls.__name__)\n"
    "    return real(self, cls)\n"
    "GenerateSchema._model_schema = spy\n"
    "from massager import api\n"
    "from massager.profile import model\n"
    "profile = api.load_profile(sys.argv[1])\n"
    "items, used = list(profile.steps), {'Profile'}\n"
    "while items:\n"
    "    item = items.pop()\n"
    "    used.add(type(item).__name__)\n"
    "    items.extend(model.children(item))\n"
    "print(json.dumps([sorted(built), sorted(used)]))\n"
)
"""Which profile model classes' validators a load builds, and which classes it uses."""


@pytest.mark.parametrize("name", ["classic", "quick", "deep-knead"])
def test_a_profile_load_builds_only_the_validators_of_what_it_uses(name: str) -> None:
    done = subprocess.run(
        [sys.executable, "-c", BUILT, name], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    built, used = json.loads(done.stdout)
    assert built == used
    assert "Curve" not in built  # no bundled profile here has one


@pytest.mark.parametrize(
    ("args", "collecting"),
    [
        (["validate", "classic"], False),
        (["--help"], False),
        (["compile", "--help"], False),
        (["off", "--help"], True),
        (["simulate", "--help"], True),
    ],
    ids=lambda v: " ".join(v) if isinstance(v, list) else str(v),
)
def test_only_one_shot_commands_run_without_the_cycle_collector(
    args: list[str], collecting: bool, tmp_path: Path
) -> None:
    from massager.cli import ONE_SHOT, collects

    assert {"list", "validate", "compile", "schema", "show"} == ONE_SHOT
    assert collects(args) is collecting
    assert _probe(args, tmp_path)["collecting"] is collecting  # as the command ended
