"""README's command synopsis against the command line: every command and option it lists
exists, and every option a command takes is in the synopsis or in the doc that covers
the command (docs/api.md for the service and its clients)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]
README = (ROOT / "README.md").read_text()
SYNOPSIS = README[README.index("## Commands") : README.index("`massager serve` runs the")]
COVERED_BY = {"serve": "api.md", "remote": "api.md", "history": "api.md"}
"""Commands whose every option a doc other than README lists."""


def _synopsis() -> dict[str, set[str]]:
    """Each command of the synopsis (`mcu gpio` as one) and the options its lines name."""
    out: dict[str, set[str]] = {}
    current = ""
    for line in SYNOPSIS.splitlines():
        usage = line.split("  ")[0] if line.startswith("massager ") else line.strip()
        start = re.match(r"massager ((?:mcu )?[a-z]+)", line)
        if start:
            current = start.group(1)
            out.setdefault(current, set())
        elif not line.startswith("             ") and not line.startswith("               "):
            continue  # a description line under a command
        if current:
            out[current] |= set(re.findall(r"(?<![\w-])(--[a-z][a-z-]*|-[a-z])\b", usage))
    return out


def _options(command: str) -> list[set[str]]:
    """The options `massager COMMAND --help` lists (without --help), each as its names
    (`-o` and `--output` are one option)."""
    shown = subprocess.run(
        [sys.executable, "-m", "massager", *command.split(), "--help"],
        capture_output=True,
        text=True,
        check=True,
        env={"COLUMNS": "200", "PATH": "/usr/bin:/bin"},
    ).stdout
    options = shown[shown.index("Options:") :] if "Options:" in shown else ""
    found = re.findall(r"^\s+((?:-[a-z], )?--[a-z][a-z-]*(?: / --[a-z-]+)?)", options, re.M)
    groups = [set(re.findall(r"--?[a-z][a-z-]*", entry)) for entry in found]
    return [g for g in groups if g != {"--help"}]


SYNOPSIS_COMMANDS = _synopsis()


def test_the_synopsis_names_every_command() -> None:
    from massager.cli.app import app

    commands = {c.name for c in app.registered_commands} | {g.name for g in app.registered_groups}
    named = {c.split()[0] for c in SYNOPSIS_COMMANDS}
    assert commands <= named | {None}, commands - named


@pytest.mark.parametrize("command", [c for c in SYNOPSIS_COMMANDS if c not in ("remote",)])
def test_every_option_of_the_synopsis_exists_and_every_option_is_documented(
    command: str,
) -> None:
    options = _options(command)
    listed = SYNOPSIS_COMMANDS[command] - {"--install-completion", "--version"}
    every = {name for group in options for name in group}
    assert listed <= every, listed - every
    if command in COVERED_BY:
        doc = (ROOT / "docs" / COVERED_BY[command]).read_text()
        listed |= set(re.findall(r"(?<![\w-])(--[a-z][a-z-]*)", doc))
    missing = [sorted(group) for group in options if not group & listed]
    assert missing == []


def test_the_top_level_options() -> None:
    shown = subprocess.run(
        [sys.executable, "-m", "massager", "--help"], capture_output=True, text=True, check=True
    ).stdout
    for option in ("--version", "--install-completion", "--show-completion"):
        assert option in shown
    assert "--version" in SYNOPSIS and "--install-completion" in SYNOPSIS
    assert "--show-completion" in (ROOT / "docs" / "running.md").read_text()
