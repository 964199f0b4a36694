"""The live view in a real terminal (tmux), read back with capture-pane at three sizes.

Every wait polls the screen until what it waits for is drawn, bounded by a deadline; no
step depends on how fast the machine is.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from tmux_support import Terminal, massager

from massager.trace import read_trace

pytestmark = pytest.mark.slow
ZONES = (
    "toes",
    "ball, arch",
    "heel",
    "ankle_inner",
    "ankle_outer",
    "calf, achilles",
    "arch",
    "sole",
)
VALUE = re.compile(r"(?<![\d.])[+ -]\d\.\d\d(?!\d)")
GUIDE = Path(__file__).parent.parent / "docs" / "running.md"


@pytest.fixture
def terminals() -> Iterator[list[Terminal]]:
    opened: list[Terminal] = []
    yield opened
    for terminal in opened:
        terminal.close()


def _rows(screen: str) -> dict[str, list[str]]:
    """The level rows of a screen: zone label -> its values (left foot, right foot)."""
    rows: dict[str, list[str]] = {}
    for line in screen.splitlines():
        for zone in ZONES:
            if re.match(rf"{re.escape(zone)} +(roller|air|vibration|heater) ", line):
                rows[zone] = VALUE.findall(line)
    return rows


def _whole(screen: str) -> bool:
    """Whether the screen holds a whole frame, down to its last lines (a capture can come
    while the terminal is still drawing one, its first lines new and its last ones not yet)."""
    lines = screen.splitlines()
    return any(line.startswith("elapsed ") and "remaining " in line for line in lines) and any(
        line.startswith("intensity ") for line in lines
    )


def _moving(screen: str) -> bool:
    return "[playing]" in screen and any(
        abs(float(v)) >= 0.1 for values in _rows(screen).values() for v in values
    )


@pytest.mark.parametrize(("width", "height"), [(60, 20), (80, 24), (100, 18), (120, 40)])
def test_the_live_view_fits_the_terminal_and_ends_at_zero_after_q(
    tmp_path: Path, terminals: list[Terminal], width: int, height: int
) -> None:
    trace = tmp_path / "t.csv"
    term = Terminal(
        tmp_path, width, height, massager("run", "quick", "--speed", "20", "--trace", str(trace))
    )
    terminals.append(term)
    screen = term.wait_for("whole frame with a moving roller", lambda s: _moving(s) and _whole(s))
    lines = screen.splitlines()
    assert lines[0].startswith("quick on reference") and lines[0].endswith("[playing]")
    assert re.match(r"step \d/5 .* · \d:\d\d left$", lines[1]), screen
    assert lines[2].startswith("next "), screen
    rows = _rows(screen)
    assert list(rows) == list(ZONES), screen
    assert all(len(values) == 2 for values in rows.values()), screen  # both feet, every zone
    assert "..." not in screen and "…" not in screen and "-0.00" not in screen
    assert any(line.startswith("elapsed ") and "remaining " in line for line in lines)
    assert sum(line.startswith("intensity ") for line in lines) == 1
    assert "q stop" in screen  # stdin is the terminal: keys are read
    term.keys("-")
    term.wait_for("intensity 0.9", lambda s: "intensity 0.9" in s)
    term.keys("q")
    code, final = term.wait_exit()
    assert code == 0, final
    assert "[stopped]" in final
    assert all(values == [" 0.00", " 0.00"] for values in _rows(final).values()), final
    assert len(_rows(final)) == len(ZONES)
    closing = [line for line in final.splitlines() if line.startswith("quick: ")]
    assert len(closing) == 1 and re.fullmatch(
        r"quick: stopped at \d:\d\d; every output is off", closing[0]
    )
    assert len(re.findall(r"intensity \d\.\d", final)) == 1
    assert set(read_trace(trace).final_levels().values()) == {0.0}


def test_ctrl_c_ends_with_every_output_at_zero_and_the_message_once(
    tmp_path: Path, terminals: list[Terminal]
) -> None:
    term = Terminal(tmp_path, 80, 24, massager("run", "quick", "--speed", "20"))
    terminals.append(term)
    term.wait_for("moving roller", _moving)
    term.press("C-c")
    code, final = term.wait_exit()
    assert code == 130, final
    assert "[interrupted]" in final
    assert all(values == [" 0.00", " 0.00"] for values in _rows(final).values()), final
    assert len(re.findall(r"interrupted \(SIGINT\) at \d:\d\d; every output ramped", final)) == 1


def test_a_device_that_does_not_open_draws_nothing_and_says_so_once(
    tmp_path: Path, terminals: list[Terminal]
) -> None:
    missing = tmp_path / "no-such-port"
    term = Terminal(tmp_path, 80, 24, massager("run", "classic", "--device", f"serial:{missing}"))
    terminals.append(term)
    code, screen = term.wait_exit()
    assert code == 3, screen
    assert "elapsed" not in screen and "roller" not in screen  # no dashboard of zeros
    assert screen.count("cannot open serial port") == 1, screen


def test_no_key_help_when_stdin_is_not_a_terminal(
    tmp_path: Path, terminals: list[Terminal]
) -> None:
    term = Terminal(tmp_path, 80, 24, massager("run", "quick", "--speed", "20"), stdin="/dev/null")
    terminals.append(term)
    screen = term.wait_for("whole frame with a moving roller", lambda s: _moving(s) and _whole(s))
    assert "q stop" not in screen and "space" not in screen
    code, final = term.wait_exit(timeout_s=120)
    assert code == 0 and "quick: done at 5:00; every output is off" in final


def _shape(text: str) -> list[str]:
    """A screen with what changes from run to run masked: digits, bars, step names."""
    out = []
    for line in text.splitlines():
        line = re.sub(r"[+-](?=\d\.\d\d)", " ", line)
        line = re.sub(r" *\d+%", "  0%", line)
        line = re.sub(r"\d", "0", line)
        line = re.sub(r"[█·]", "·", line).replace("━", "─")
        if line.startswith(("step ", "next ")):
            line = line[:5]
        out.append(line.rstrip())
    while out and not out[-1]:
        out.pop()
    return out


def test_the_80x24_capture_in_the_running_guide_is_what_the_view_draws(
    tmp_path: Path, terminals: list[Terminal]
) -> None:
    blocks = re.findall(r"<!-- capture 80x24 -->\n```\n(.*?)```", GUIDE.read_text(), re.S)
    assert len(blocks) == 1
    term = Terminal(tmp_path, 80, 24, massager("run", "quick", "--speed", "20"))
    terminals.append(term)
    screen = term.wait_for("whole frame with a moving roller", lambda s: _moving(s) and _whole(s))
    assert _shape(blocks[0]) == _shape(screen)
