"""`show`, `list` with descriptions, `validate` over folders and with --session-cap."""

from __future__ import annotations

from pathlib import Path

import pytest

from massager import api, bundled
from massager.cli import run


def test_show_prints_description_params_steps_with_times_and_warnings(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert run(["show", "classic", "--rig", "pi-gpio-minimal"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == f"classic: {bundled.find('profiles', 'classic')}"  # a path to open
    assert lines[1].startswith("  Warm-up rubbing, each toe")
    assert "  strength = 0.8" in lines
    assert "on rig pi-gpio-minimal: 10m30s, 8 steps, 2 skipped" in lines
    assert "      1.  0:00         2m  warm-up rubbing (rub) on toes, sole"[2:] in lines
    assert any(line.startswith("    5. skipped") and "Achilles tendon" in line for line in lines)
    assert "    7.  7:30         2m  kneading (knead) on toes, sole" in lines
    assert "warnings on pi-gpio-minimal (2):" in lines
    assert sum(": warning: step " in line for line in lines) == 2


def test_show_with_set_and_without_warnings(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["show", "deep-knead", "--set", "depth=0.5"]) == 0
    out = capsys.readouterr().out
    assert "  depth = 0.85 (set to 0.5)" in out
    assert "[track 1]" in out and "warnings on reference: none" in out
    assert run(["show", "deep-knead", "--set", "deep=0.5"]) == 2


def test_list_shows_each_profile_description(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["list"]) == 0
    out = capsys.readouterr().out
    for name in api.bundled_profiles():
        first = api.load_profile(name).description.split()[:3]
        assert " ".join(first) in out
    assert f"the files are in {bundled.folder('profiles')}" in out


def test_validate_a_folder_checks_every_profile_and_rig_inside(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "a.yaml").write_text("steps:\n  - {technique: rub, duration: 1m}\n")
    (tmp_path / "sub" / "b.yml").write_text("steps:\n  - {technique: rubb, duration: 1m}\n")
    (tmp_path / "notes.txt").write_text("not a profile")
    assert run(["validate", str(tmp_path)]) == 1
    captured = capsys.readouterr()
    assert captured.out.startswith("ok: a (1m, 1 steps")
    assert f"{tmp_path / 'sub' / 'b.yml'}:2:17: unknown technique 'rubb'" in captured.err
    empty = tmp_path / "empty"
    empty.mkdir()
    assert run(["validate", str(empty)]) == 2


def test_validate_takes_the_session_cap(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    long = tmp_path / "long.yaml"
    long.write_text("steps:\n  - {technique: rest, duration: 25m}\n")
    assert run(["validate", str(long)]) == 1
    assert "longer than the session cap 20m" in capsys.readouterr().err
    assert run(["validate", str(long), "--session-cap", "30m"]) == 0
    assert run(["validate", str(long), "--session-cap", "2h"]) == 2
