"""`massager run`, `simulate` and `plot` from the command line, including real signals."""

from __future__ import annotations

import os
import re
import select
import signal
import subprocess
import sys
import termios
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from massager.cli import run as cli
from massager.trace import read_trace

PNG = b"\x89PNG\r\n\x1a\n"


def test_run_plays_a_bundled_profile_with_plain_lines_and_a_trace(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    trace = tmp_path / "run.csv"
    code = cli(["run", "quick", "--speed", "200", "--intensity", "0.5", "--trace", str(trace)])
    out = capsys.readouterr().out.splitlines()
    assert code == 0
    assert out[0].startswith("[0:00] quick on reference (device sim): 5:00, 5 steps, intensity 0.5")
    assert "[0:00] step 1/5 warm-up rubbing (rub) on toes, sole" in out
    assert sum(" step " in line for line in out) == 5
    # steps at their own start and the end at the profile's end, however late a poll came
    assert [line.split("]")[0] for line in out if " step " in line] == [
        "[0:00",
        "[1:00",
        "[2:00",
        "[3:00",
        "[4:30",
    ]
    assert out[-1] == "[5:00] finished, done"
    levels = read_trace(trace)
    assert levels.final_levels() and set(levels.final_levels().values()) == {0.0}
    # the device scaled the intensity-1.0 stream by 0.5: nothing above half the rig's maximum
    assert max(abs(r.level) for r in levels) <= 0.5 + 1e-6


def test_run_with_params_and_another_rig(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    trace = tmp_path / "t.csv"
    args = ["warmup", "--rig", "pico-serial", "--speed", "200", "--trace", str(trace)]
    assert cli(["run", *args, "--set", "warmth=0.2"]) == 0
    assert "warmup on pico-serial" in capsys.readouterr().out
    gentle = max(abs(r.level) for r in read_trace(trace) if "roller" in r.actuator)
    assert cli(["run", *args, "--set", "warmth=0.5"]) == 0
    stronger = max(abs(r.level) for r in read_trace(trace) if "roller" in r.actuator)
    assert stronger > gentle


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--intensity", "1.5"], "--intensity 1.5: give a number from 0 to 1"),
        (["--intensity", "-0.1"], "--intensity -0.1: give a number from 0 to 1"),
        (["--intensity", "nan"], "--intensity nan: give a number from 0 to 1"),
        (["--speed", "0"], "--speed 0: give a number from 0.01 to 300"),
        (["--speed", "301"], "--speed 301: give a number from 0.01 to 300"),
        (["--speed", "1000"], "--speed 1000: give a number from 0.01 to 300"),
        (["--speed", "inf"], "--speed inf: give a number from 0.01 to 300"),
        (["--device", "toaster"], "unknown device 'toaster'; known devices: gpio, serial, sim"),
        (["--device", "gpio", "--speed", "10"], "--speed applies to the simulator only"),
        (["--set", "oops"], "--set"),
    ],
)
def test_run_usage_errors_exit_2_with_a_message(
    args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli(["run", "quick", *args]) == 2
    err = capsys.readouterr().err
    assert message in err
    assert "Traceback" not in err


def test_run_with_a_set_value_out_of_range_exits_2_naming_the_option_and_the_range(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert cli(["run", "classic", "--set", "strength=5"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("--set strength=5: intensity 5 is outside 0..1 (where the profile uses")
    assert "Traceback" not in err


def test_run_an_unknown_profile_exits_1(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli(["run", "no-such-profile", "--speed", "100"]) == 1
    assert "no bundled profile of that name" in capsys.readouterr().err


def test_simulate_prints_a_summary_writes_a_trace_and_a_plot(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    trace, picture = tmp_path / "sim.csv", tmp_path / "sim.png"
    code = cli(["simulate", "quick", "--trace", str(trace), "--plot", str(picture)])
    out = capsys.readouterr().out
    assert code == 0
    assert out.startswith("quick on reference: done at 5:00; simulated in ")
    assert "x real time" in out and "5 steps" in out
    assert "left_heel_roller" in out and "peak 0.90" in out
    assert f"trace: {trace}" in out and f"plot: {picture}" in out
    assert picture.read_bytes()[:8] == PNG
    assert set(read_trace(trace).final_levels().values()) == {0.0}


def test_simulate_plot_without_a_trace_file(tmp_path: Path) -> None:
    picture = tmp_path / "p.png"
    assert cli(["simulate", "warmup", "--plot", str(picture)]) == 0
    assert picture.read_bytes()[:8] == PNG


def test_plot_draws_the_timeline(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    picture = tmp_path / "classic.png"
    assert cli(["plot", "classic", "-o", str(picture)]) == 0
    assert picture.read_bytes()[:8] == PNG
    assert capsys.readouterr().out.strip() == str(picture)


@pytest.mark.parametrize(
    ("name", "message"),
    [("x.txt", "must end in .png, .svg, .pdf"), ("missing/x.png", "does not exist")],
)
def test_plot_refuses_a_bad_output_path(
    tmp_path: Path, name: str, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli(["plot", "classic", "-o", str(tmp_path / name)]) == 2
    assert message in capsys.readouterr().err


@pytest.mark.parametrize("command", ["run", "simulate"])
@pytest.mark.parametrize(
    ("name", "message"), [("missing/t.csv", "does not exist"), (".", "it is a folder")]
)
def test_a_trace_path_that_cannot_be_written_is_a_usage_error(
    tmp_path: Path, command: str, name: str, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    speed = ["--speed", "200"] if command == "run" else []
    assert cli([command, "quick", *speed, "--trace", str(tmp_path / name)]) == 2
    captured = capsys.readouterr()
    assert f"--trace cannot write {str(tmp_path / name)!r}: " in captured.err
    assert message in captured.err
    assert "step 1/5" not in captured.out  # refused before anything started


def test_help_does_not_import_heavy_modules() -> None:
    code = (
        "import sys\n"
        "from massager.cli import run\n"
        "try:\n    run(['run', '--help'])\nexcept SystemExit:\n    pass\n"
        "print(sorted(m for m in ('matplotlib', 'serial', 'gpiozero', 'rich.live') "
        "if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == "[]"


# -- a real process, a real signal ---------------------------------------------------------


def _start(trace: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "massager",
            "run",
            "classic",
            "--speed",
            "20",
            "--trace",
            str(trace),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _wait_until_playing(trace: Path, proc: subprocess.Popen[str], timeout_s: float = 60) -> float:
    """Wait until the trace shows a roller running 5 s into the massage; return that row's time.

    The trace is written in chunks as the run goes, so this waits for evidence, not for a
    fixed time that a loaded machine may not honour.
    """
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        assert proc.poll() is None, "the run ended before it was interrupted"
        text = trace.read_text() if trace.exists() else ""
        for line in text.splitlines()[1:-1]:  # no header, no half-written last line
            t_ms, actuator, level = line.split(",")[:3]
            if "roller" in actuator and abs(float(level)) > 0.1 and float(t_ms) > 5000:
                return float(t_ms)
        time.sleep(0.05)
    pytest.fail(f"no roller running in {trace} after {timeout_s} s")


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_run_interrupted_by_a_signal_ramps_down_and_exits_130(
    tmp_path: Path, sig: signal.Signals
) -> None:
    trace = tmp_path / "t.csv"
    proc = _start(trace)
    assert proc.stdout is not None
    first = proc.stdout.readline()  # the session has started once this line is out
    assert "classic on reference" in first
    playing_at = _wait_until_playing(trace, proc)
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    assert f"interrupted ({sig.name})" in err
    assert "Traceback" not in err
    assert "finished, interrupted" in out
    levels = read_trace(trace)
    assert any(abs(r.level) > 0.1 for r in levels)  # it was really running
    assert set(levels.final_levels().values()) == {0.0}
    assert playing_at < levels.end_ms < 13 * 60_000  # stopped by the signal, not the end


def test_run_with_the_live_view_on_a_terminal_stops_on_q_and_restores_it(tmp_path: Path) -> None:
    trace = tmp_path / "t.csv"
    master, slave = os.openpty()
    before = termios.tcgetattr(slave)
    proc = subprocess.Popen(  # --speed 2: the first minute lasts 30 s, the profile 2.5 min
        [sys.executable, "-m", "massager", "run", "quick", "--speed", "2", "--trace", str(trace)],
        stdin=slave,
        stdout=slave,
        stderr=slave,
        env={**os.environ, "COLUMNS": "100", "LINES": "40", "TERM": "xterm"},
    )
    screen = b""

    def read_until(done: Callable[[], bool], what: str) -> None:
        """Read the screen until `done()`; fail after 60 s (a hang guard, not a timing)."""
        nonlocal screen
        deadline = time.monotonic() + 60
        while not done():
            assert time.monotonic() < deadline, f"no {what}: {screen.decode('utf-8', 'replace')}"
            ready, _, _ = select.select([master], [], [], 0.2)
            if ready:
                screen += os.read(master, 65536)

    try:
        # nothing is drawn before the device is open, which is after the terminal is in
        # cbreak mode with the key reader running: a key pressed now is read
        read_until(lambda: b"warm-up rubbing" in screen, "first frame")
        os.write(master, b"q")
        read_until(lambda: proc.poll() is not None, "exit after q")
        for _ in range(1000):  # what the ended run left on the terminal (a few reads)
            if not select.select([master], [], [], 0)[0]:
                break
            screen += os.read(master, 65536)
        assert proc.wait(timeout=10) == 0
        text = re.sub(r"\x1b\[[0-9;?]*[a-zA-Z]", "", screen.decode("utf-8", "replace"))
        assert "quick on reference" in text and "elapsed" in text and "remaining" in text
        assert re.search(r"\nheel +roller ", text)  # levels by foot zone
        assert "quick: stopped at 0:" in text
        assert termios.tcgetattr(slave) == before  # cbreak mode undone
        assert set(read_trace(trace).final_levels().values()) == {0.0}
    finally:
        if proc.poll() is None:
            proc.kill()
        os.close(master)
        os.close(slave)


def test_the_python_example_in_the_running_guide_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    guide = (Path(__file__).parent.parent / "docs" / "running.md").read_text()
    code = re.findall(r"```python\n(.*?)```", guide, re.S)
    assert len(code) == 1
    monkeypatch.chdir(tmp_path)
    exec(compile(code[0], "docs/running.md", "exec"), {})
    assert "'warm-up rubbing'" in capsys.readouterr().out
    assert set(read_trace(tmp_path / "classic.csv").final_levels().values()) == {0.0}


def test_session_cap_option_lets_a_longer_profile_run_up_to_the_hard_cap(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    long = tmp_path / "long.yaml"
    long.write_text(
        "name: long\nsteps:\n  - repeat: 5\n    steps:\n      - include: classic\n"
    )  # 5 x 13 min = 65 min
    assert cli(["simulate", str(long)]) == 1
    assert "20m" in capsys.readouterr().err
    assert cli(["simulate", str(long), "--session-cap", "61m"]) == 2
    assert "--session-cap 61m: the longest session allowed is 60m" in capsys.readouterr().err
    medium = tmp_path / "medium.yaml"
    medium.write_text("name: medium\nsteps:\n  - repeat: 2\n    steps:\n      - include: classic\n")
    assert cli(["simulate", str(medium)]) == 1  # 26 min: over the default cap
    capsys.readouterr()
    assert cli(["simulate", str(medium), "--session-cap", "30m"]) == 0
    assert "medium on reference: done at 26:00; simulated in " in capsys.readouterr().out


def test_run_quiet_writes_only_the_closing_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli(["run", "warmup", "--speed", "300", "-q"]) == 0
    out = capsys.readouterr().out
    assert out == "warmup: done at 4:00; every output is off\n"


def test_run_verbose_adds_peaks_and_the_real_time(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli(["run", "warmup", "--speed", "300", "--verbose"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("[0:00] warmup on reference (device sim)")  # plain lines still
    closing = out.index("warmup: done at 4:00; every output is off")
    assert out[closing - 1] == "[4:00] finished, done"
    assert out[closing + 1] == "4 steps, " + out[closing + 1].split(", ")[1]
    assert re.fullmatch(r"  left_toe_roller +roller +peak 0\.\d\d", out[closing + 2])
    assert re.fullmatch(r"real time \d:\d\d, pauses and the ramp-down included", out[-1])


def test_simulate_quiet_and_verbose(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli(["simulate", "warmup", "-q"]) == 0
    quiet = capsys.readouterr().out.splitlines()
    assert len(quiet) == 1
    assert re.fullmatch(
        r"warmup on reference: done at 4:00; simulated in \d+\.\d\d s \([\d,]+x real time\)",
        quiet[0],
    )
    assert cli(["simulate", "warmup", "-v"]) == 0
    verbose = capsys.readouterr().out.splitlines()
    assert verbose[0] == "[0:00] warmup on reference (device sim): 4:00, 4 steps, intensity 1.0"
    assert "[3:30] step 4/4 rest (rest) on -" in verbose
    finished = verbose.index("[4:00] finished, done")
    assert verbose[finished + 1].startswith("warmup on reference: done at 4:00; simulated in ")
    assert verbose[finished + 2].startswith("4 steps, ")


@pytest.mark.parametrize("command", [["run", "warmup"], ["simulate", "warmup"]])
def test_quiet_and_verbose_together_is_a_usage_error(
    command: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli([*command, "-q", "-v"]) == 2
    assert "--quiet and --verbose: choose one" in capsys.readouterr().err


def test_run_by_must_be_zone_or_actuator(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli(["run", "warmup", "--by", "foot"]) == 2
    assert "--by 'foot': choose zone or actuator" in capsys.readouterr().err
