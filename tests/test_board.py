"""The live view's layout: grouped by foot zone, fitted to the terminal, never losing a value."""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st

from massager import api
from massager.stream import StepInfo
from massager.ui.board import Frame, draw, group_levels, value_text
from massager.ui.lanes import ActuatorInfo

RIG = api.load_rig("reference")
INFO = {a.id: ActuatorInfo(a.kind, a.foot, tuple(a.reaches)) for a in RIG.actuators}
ACTUATORS = tuple(a.id for a in RIG.actuators)
STEP = StepInfo(0, "warm-up rubbing", "rub", ("toes", "sole"), 0, 60_000)
NEXT = StepInfo(1, "sole points", "point_press", ("sole",), 60_000, 120_000)
VALUE = re.compile(r"(?<![\d.])[+ -]\d\.\d\d(?!\d)")


def frame(levels: dict[str, float], **kw: object) -> Frame:
    base: dict[str, object] = {
        "profile": "quick",
        "rig": "reference",
        "state": "playing",
        "t_ms": 3000.0,
        "duration_ms": 300_000,
        "step_count": 5,
        "device": "sim",
        "speed": 20.0,
        "playing": (STEP,),
        "next_step": NEXT,
        "levels": levels,
        "temps": {"left_sole_heater": 25.04, "right_sole_heater": 31.5},
        "keys": True,
    }
    base.update(kw)
    return Frame(**base)  # type: ignore[arg-type]


def test_levels_are_grouped_by_foot_zone_and_kind_with_a_column_per_foot() -> None:
    levels = group_levels(ACTUATORS, INFO)
    assert levels.columns == ("left", "right")
    assert [(r.label, r.kind) for r in levels.rows] == [
        ("toes", "roller"),
        ("ball, arch", "roller"),
        ("heel", "roller"),
        ("ankle_inner", "air"),
        ("ankle_outer", "air"),
        ("calf, achilles", "air"),
        ("arch", "vibration"),
        ("sole", "heater"),
    ]
    assert levels.rows[2].cells == ("left_heel_roller", "right_heel_roller")
    by_actuator = group_levels(ACTUATORS, INFO, by="actuator")
    assert [r.cells for r in by_actuator.rows] == [(a,) for a in ACTUATORS]


def test_two_actuators_of_a_zone_on_one_foot_get_a_row_each() -> None:
    info = {
        "a": ActuatorInfo("roller", "left", ("heel",)),
        "b": ActuatorInfo("roller", "left", ("heel",)),
        "c": ActuatorInfo("roller", "right", ("heel",)),
    }
    rows = group_levels(("a", "b", "c"), info).rows
    assert [r.cells for r in rows] == [("a", "c"), ("b", None)]


@given(st.floats(-1.0, 1.0), st.booleans())
def test_a_value_is_five_characters_and_never_minus_zero(level: float, signed: bool) -> None:
    text = value_text(level, signed or level < 0)
    assert len(text) == 5
    assert text != "-0.00" and text != "+0.00"
    assert abs(float(text) - level) <= 0.005 + 1e-9


def _values(lines: list[str], first: int, count: int) -> list[str]:
    return [v for line in lines[first : first + count] for v in VALUE.findall(line)]


@given(
    width=st.integers(60, 200),
    height=st.integers(16, 60),
    by=st.sampled_from(["zone", "actuator"]),
    levels=st.lists(st.floats(-1.0, 1.0), min_size=len(ACTUATORS), max_size=len(ACTUATORS)),
    parallel=st.booleans(),
)
def test_the_view_fits_the_terminal_and_keeps_every_value(
    width: int, height: int, by: str, levels: list[float], parallel: bool
) -> None:
    values = dict(zip(ACTUATORS, levels, strict=True))
    layout = group_levels(ACTUATORS, INFO, by=by)
    playing = (STEP, StepInfo(2, "heel presses", "heel_press", ("heel",), 0, 90_000, 1))
    shown = frame(values, playing=playing if parallel else (STEP,))
    lines = [t.plain for t in draw(shown, layout, width, height - 1)]
    assert all(len(line) <= width for line in lines), lines
    if by == "zone" or height >= 24:  # a row per actuator needs 16 rows and 4 more lines
        assert len(lines) <= height - 1
    assert "..." not in "\n".join(lines) and "…" not in "\n".join(lines)
    # every value, in rig order by row, then by foot
    first = next(i for i, line in enumerate(lines) if line.startswith(layout.rows[0].label))
    expected = [
        value_text(values[a], INFO[a].kind == "roller" or values[a] < 0)
        for row in layout.rows
        for a in row.cells
        if a is not None
    ]
    assert _values(lines, first, len(layout.rows)) == expected
    assert "[playing]" in lines[0]
    assert any("25.0°C" in line for line in lines) and any("31.5°C" in line for line in lines)
    assert any(line.startswith("elapsed 0:03") and "remaining 4:57" in line for line in lines)
    assert any(
        line.startswith("step 1/5 warm-up rubbing") and "0:57 left" in line for line in lines
    )


def test_a_small_terminal_drops_columns_and_spare_lines_first() -> None:
    layout = group_levels(ACTUATORS, INFO)
    values = dict.fromkeys(ACTUATORS, 0.5)
    wide = [t.plain for t in draw(frame(values), layout, 120, 39)]
    narrow = [t.plain for t in draw(frame(values), layout, 60, 19)]
    assert any("█" in line for line in wide) and not any("█" in line for line in narrow)
    assert "" in wide and wide[-1].startswith("space pause/resume · + / - intensity")
    assert narrow[-1] == "space pause · +/- intensity · q stop"
    assert "next 2/5 sole points (point_press) on sole in 0:57" in wide
    short = [t.plain for t in draw(frame(values), layout, 60, 14)]
    assert "" not in short and not short[-1].startswith("space")  # blanks, then keys dropped
    assert short[2].startswith("next 2/5") and short[3].strip() == "left           right"
    assert len(_values(short, 4, 8)) == 16


def test_no_key_help_without_keys_and_the_head_drops_details_not_the_state() -> None:
    layout = group_levels(ACTUATORS, INFO)
    lines = [t.plain for t in draw(frame({}, keys=False), layout, 80, 23)]
    assert not any("q stop" in line for line in lines)
    long = frame({}, profile="a-very-long-profile-name-for-a-small-screen", state="PAUSED")
    head = draw(long, layout, 60, 19)[0].plain
    assert head == "a-very-long-profile-name-for-a-small-screen   [PAUSED]"
