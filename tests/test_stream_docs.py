"""docs/stream-format.md against the code: its command lines are what the compiler writes,
its header keys and trace columns are the ones written."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from massager import api
from massager.stream import Command, CommandStream

DOC = (Path(__file__).parents[1] / "docs" / "stream-format.md").read_text()
COMMANDS = [ln for ln in DOC.splitlines() if ln.startswith('{"at":')]


def _compact(obj: object) -> str:
    return json.dumps(obj, separators=(",", ":"))


def test_the_op_table_is_every_op_and_the_examples_use_them() -> None:
    ops = {json.loads(line)["op"] for line in COMMANDS}
    table = set(
        re.findall(
            r"^\| `([a-z]+)` \| ",
            DOC[DOC.index("| op | keys |") : DOC.index("A command holds")],
            re.M,
        )
    )
    assert table == {"set", "ramp", "wave", "heat", "off"}
    assert ops == table - {"set"}


@pytest.mark.parametrize("line", COMMANDS)
def test_each_command_line_is_written_back_byte_for_byte(line: str) -> None:
    command = Command.from_json(json.loads(line))
    assert _compact(command.to_json()) == line


def test_quicks_first_ramp_is_the_one_shown() -> None:
    stream = api.compile_stream(api.load_profile("quick"), api.load_rig("reference"))
    lines = stream.to_jsonl().splitlines()
    assert COMMANDS[0] in lines
    header = json.loads(lines[0])
    documented = re.findall(
        r"^\| `([a-z_]+)`(?:, `([a-z_]+)`)? \|",
        DOC.split("### Header")[1].split("Each entry of `steps`")[0],
        re.M,
    )
    keys = {k for pair in documented for k in pair if k}
    assert set(header) == keys
    steps_doc = DOC.split("Each entry of `steps`")[1].split("Steps are numbered")[0]
    pairs = re.findall(r"^\| `([a-z_]+)`(?:, `([a-z_]+)`)? \|", steps_doc, re.M)
    step_keys = {k for pair in pairs for k in pair if k}
    assert set(header["steps"][0]) <= step_keys
    assert CommandStream.from_jsonl(lines).to_jsonl() == stream.to_jsonl()


def test_the_trace_columns_are_the_documented_ones(tmp_path: Path) -> None:
    from massager.drivers.base import DriverOptions
    from massager.drivers.sim import SimDriver
    from massager.runtime.session import Session

    rig = api.load_rig("reference")
    stream = api.compile_stream(api.load_profile("warmup"), rig)
    trace = tmp_path / "t.csv"
    Session(stream, SimDriver(rig, DriverOptions(virtual=True, trace=trace))).run()
    header = trace.read_text().splitlines()[0]
    assert header == "t_ms,actuator,level,speed,pressure,temp_c"
    assert f"```\n{header}\n" in DOC
    columns = re.findall(r"^\| `([a-z_]+)` \| ", DOC.split("| column | meaning |")[1], re.M)
    assert columns == header.split(",")
