"""The authoring commands: list, validate, compile, schema; output and exit codes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from massager import api
from massager.cli import run
from massager.stream import CommandStream


def test_list_shows_every_bundled_profile_with_length_and_techniques(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert run(["list"]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0].split() == ["NAME", "LENGTH", "TECHNIQUES"]
    for name in api.bundled_profiles():
        row = next(line for line in lines if line.startswith(name + " "))
        assert api.load_profile(name).techniques()[0] in row
    assert "classic" in out and "13m" in out
    assert "rigs: pi-gpio-minimal, pico-serial, reference" in out


def test_validate_profiles_and_rigs(capsys: pytest.CaptureFixture[str]) -> None:
    rigs = sorted(str(p) for p in (Path(__file__).parents[1] / "rigs").glob("*.yaml"))
    assert run(["validate", "classic", "quick", *rigs, "pico-serial"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "ok: classic (13m, 8 steps, 394 commands on reference)"
    assert out[1].startswith("ok: quick (5m")
    assert out[2:] == [
        "ok: rig pi-gpio-minimal (4 actuators)",
        "ok: rig pico-serial (16 actuators)",
        "ok: rig reference (16 actuators)",
        "ok: rig pico-serial (16 actuators)",
    ]


def test_validate_against_another_rig_and_report_all_failures(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("steps:\n  - {technique: heat, duration: 1m}\n")
    assert run(["validate", str(bad), "classic", "nope", "--rig", "pi-gpio-minimal"]) == 1
    captured = capsys.readouterr()
    assert "ok: classic" in captured.out and "on pi-gpio-minimal" in captured.out
    errors = [line for line in captured.err.splitlines() if ": warning: " not in line]
    assert errors[0].startswith(f"{bad}:2:5: step 1 'heat' (heat): no heater on either foot")
    assert errors[1].startswith("nope:1:1: no such file and no bundled profile of that name")


def test_validate_reports_a_bad_rig_once_however_many_profiles(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert run(["validate", "classic", "warmup", "--rig", "nosuchrig"]) == 1
    captured = capsys.readouterr()
    assert captured.err.count("no bundled rig of that name") == 1
    assert captured.err.splitlines()[0].startswith("nosuchrig:1:1: no such file")
    assert "ok:" not in captured.out


def test_validate_a_rig_file_recognised_by_its_top_level_keys(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import yaml

    reference = Path(__file__).parents[1] / "rigs" / "reference.yaml"
    flow = tmp_path / "flow-rig.yaml"  # JSON is YAML: no line starts with `actuators:`
    flow.write_text(json.dumps(yaml.safe_load(reference.read_text())))
    broken = tmp_path / "broken.yaml"
    broken.write_text("actuators: [\n  {id: x\n")
    assert run(["validate", str(flow), str(broken)]) == 1
    captured = capsys.readouterr()
    assert captured.out == "ok: rig reference (16 actuators)\n"
    assert captured.err.startswith(f"{broken}:3:1: malformed YAML")


def test_compile_writes_json_lines_to_stdout_or_a_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(["compile", "quick", "--intensity", "0.5", "--rig", "pico-serial"]) == 0
    text = capsys.readouterr().out
    stream = CommandStream.from_jsonl(text.splitlines())
    assert (stream.profile, stream.rig, stream.intensity) == ("quick", "pico-serial", 0.5)
    target = tmp_path / "quick.jsonl"
    assert (
        run(["compile", "quick", "--intensity", "0.5", "--rig", "pico-serial", "-o", str(target)])
        == 0
    )
    assert capsys.readouterr().out == ""
    assert target.read_text() == text


def test_compile_with_set_and_session_cap(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["compile", "classic", "--set", "strength=0.2", "--session-cap", "15m"]) == 0
    soft = CommandStream.from_jsonl(capsys.readouterr().out.splitlines())
    assert run(["compile", "classic", "--session-cap", "10m"]) == 1
    assert "longer than the session cap 10m" in capsys.readouterr().err
    assert soft.duration_ms == 13 * 60_000


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["compile", "classic", "--session-cap", "61m"], "the longest session allowed is 60m"),
        (["compile", "classic", "--session-cap", "long"], "--session-cap: cannot read duration"),
        (
            ["compile", "classic", "--intensity", "1.2"],
            "--intensity 1.2: give a number from 0 to 1",
        ),
        (["compile", "classic", "--set", "strength"], "write it as NAME=VALUE"),
        (["compile", "classic", "--set", "depth=1"], "the profile has no param 'depth'"),
        (["compile", "classic", "--intensity", "much"], "Invalid value"),
        (["schema", "stream"], "schema 'stream': choose profile, rig or api"),
        (["validate"], "Missing argument"),
    ],
)
def test_usage_errors_exit_2(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(argv) == 2
    assert message in capsys.readouterr().err


def test_compile_output_to_an_unwritable_place_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(["compile", "quick", "-o", str(tmp_path / "no" / "such" / "dir.jsonl")]) == 2
    assert "cannot write" in capsys.readouterr().err


@pytest.mark.parametrize("kind", ["profile", "rig"])
def test_schema_is_json_schema_with_every_field(
    kind: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(["schema", kind]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["$schema"].startswith("https://json-schema.org/")
    text = json.dumps(document)
    if kind == "profile":
        assert set(document["properties"]) == {"name", "description", "params", "steps"}
        for technique in ("rub", "pebble_walk", "ankle_circles", "heat", "rest"):
            assert f'"const": "{technique}"' in text or f'"{technique}"' in text
        assert '"duration"' in text and "knee_back" not in text
    else:
        assert {"actuators", "estop_pin", "heat_max", "sensitivity"} <= set(document["properties"])
        assert '"max_on"' in text and '"max_temp_c"' in text


def test_help_and_validate_run_as_processes_without_heavy_imports() -> None:
    code = (
        "import sys; from massager.cli import run; rc = run(['validate', 'classic']); "
        "heavy = [m for m in ('matplotlib', 'serial', 'gpiozero') if m in sys.modules]; "
        "print(rc, heavy)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip().splitlines()[-1] == "0 []"


def test_compile_to_dash_writes_stdout_not_a_file_named_dash(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    assert run(["compile", "quick", "-o", "-"]) == 0
    out = capsys.readouterr().out
    assert out.startswith('{"format":"massager-stream"') and out.endswith("\n")
    assert not (tmp_path / "-").exists()
    assert run(["compile", "quick"]) == 0
    assert capsys.readouterr().out == out
