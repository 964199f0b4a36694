"""`massager.records`: a record class behaves as the dataclass it replaces (equality, hash,
repr, immutability, copies, `dataclasses` functions), at a fraction of the cost to create."""

from __future__ import annotations

import copy
import dataclasses
import pickle
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from massager.errors import CompileWarning, Problem
from massager.records import record
from massager.stream import Command, CommandStream, StepInfo

FrozenCommand = dataclasses.make_dataclass(
    "Command",
    [
        ("at_ms", int),
        ("actuator", str),
        ("op", str),
        ("level", float, 0.0),
        ("duration_ms", int, 0),
        ("shape", str, "sine"),
        ("hz", float, 0.0),
        ("low", float, 0.0),
        ("high", float, 0.0),
        ("target_c", float, 0.0),
        ("step", int, -1),
    ],
    frozen=True,
    slots=True,
)
"""What `Command` was: a frozen dataclass with slots, the reference to behave as."""

commands = st.builds(
    lambda *args: args,
    st.integers(0, 3),
    st.sampled_from(["a", "b"]),
    st.sampled_from(["set", "ramp", "wave"]),
    st.sampled_from([0.0, 0.5, float("nan")]),
    st.integers(0, 2),
)


@given(commands, commands)
def test_equality_hash_and_repr_are_the_dataclass_ones(
    a: tuple[Any, ...], b: tuple[Any, ...]
) -> None:
    mine_a, mine_b = Command(*a), Command(*b)
    ref_a, ref_b = FrozenCommand(*a), FrozenCommand(*b)
    assert (mine_a == mine_b) is (ref_a == ref_b)
    assert (mine_a != mine_b) is (ref_a != ref_b)
    assert repr(mine_a) == repr(ref_a)
    assert hash(mine_a) == hash(ref_a)  # both hash the tuple of the fields
    assert (mine_a == ref_a) is False  # another class is never equal, as for dataclasses


def test_a_frozen_record_refuses_assignment_and_deletion() -> None:
    command = Command(0, "a", "set", level=0.5)
    with pytest.raises(dataclasses.FrozenInstanceError, match="'level'"):
        command.level = 1.0  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError, match="'level'"):
        del command.level  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        command.other = 1  # type: ignore[attr-defined]
    assert command.level == 0.5


def test_the_dataclasses_functions_work_on_records() -> None:
    step = StepInfo(0, "rub", "rub", ("sole",), 0, 1000)
    assert dataclasses.is_dataclass(step)
    assert [f.name for f in dataclasses.fields(step)][-2:] == ["track", "skipped"]
    moved = dataclasses.replace(step, index=2, skipped=True)
    assert (moved.index, moved.skipped, moved.name) == (2, True, "rub")
    assert dataclasses.astuple(step) == (0, "rub", "rub", ("sole",), 0, 1000, 0, False)
    warning = CompileWarning("p.yaml", 3, 5, "slowed", kind="slowed", step=1)
    assert dataclasses.asdict(warning)["step"] == 1
    assert dataclasses.replace(warning, line=4) == CompileWarning(
        "p.yaml", 4, 5, "slowed", kind="slowed", step=1
    )


@pytest.mark.parametrize(
    "value",
    [
        Command(5, "roller_l", "wave", hz=2.0, low=0.1, high=0.9, step=3),
        Problem("p.yaml", 1, 2, "bad"),
        StepInfo(1, "x", "knead", ("toes", "sole"), 10, 20, track=1),
    ],
    ids=lambda v: type(v).__name__,
)
def test_frozen_records_copy_and_pickle_whole(value: object) -> None:
    for twin in (copy.copy(value), copy.deepcopy(value), pickle.loads(pickle.dumps(value))):
        assert twin == value and twin is not value
        assert hash(twin) == hash(value)


def test_a_mutable_record_is_equal_by_value_and_unhashable() -> None:
    stream = CommandStream("p", "r", 10, ("a",))
    same = CommandStream("p", "r", 10, ("a",))
    assert stream == same
    assert stream.steps == [] and stream.steps is not same.steps  # a fresh list each
    stream.commands.append(Command(0, "a", "off"))
    assert stream != same
    with pytest.raises(TypeError, match="unhashable"):
        hash(stream)
    assert repr(same) == (
        "CommandStream(profile='p', rig='r', duration_ms=10, actuators=('a',), steps=[], "
        "commands=[], intensity=1.0, warnings=())"
    )
    assert pickle.loads(pickle.dumps(stream)) == stream


def test_a_record_writes_its_own_init() -> None:
    with pytest.raises(TypeError, match="its own __init__"):

        @record
        class NoInit:
            """A record class without `__init__`."""

            a: int
            b: int
