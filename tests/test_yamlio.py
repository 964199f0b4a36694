"""Safe YAML reading with positions: what it accepts, what it refuses, where it points."""

from __future__ import annotations

from pathlib import Path

import pytest

from massager import yamlio
from massager.errors import InputError

DOC = """\
name: demo
steps:
  - technique: rub
    duration: 90s
    zones: [toes, heel]
"""


def test_positions_of_keys_and_values_are_one_based() -> None:
    doc = yamlio.parse(DOC, "demo.yaml")
    assert doc.data["steps"][0]["zones"] == ["toes", "heel"]
    assert doc.keys[("name",)] == (1, 1)
    assert doc.values[("name",)] == (1, 7)
    assert doc.keys[("steps", 0, "duration")] == (4, 5)
    assert doc.values[("steps", 0, "duration")] == (4, 15)
    assert doc.values[("steps", 0, "zones", 1)] == (5, 19)


def test_where_skips_foreign_loc_parts_and_falls_back_to_the_parent() -> None:
    doc = yamlio.parse(DOC, "demo.yaml")
    assert doc.where(("steps", 0, "tagged-union", "duration")) == (4, 15)
    assert doc.where(("steps", 0, "missing_field")) == (3, 5)
    assert doc.where(("steps", 0, "duration"), key=True) == (4, 5)
    assert str(doc.problem(("steps", 0, "zones", 1), "bad")) == "demo.yaml:5:19: bad"


def test_yaml_1_1_surprises_stay_text() -> None:
    doc = yamlio.parse("a: [yes, no, on, off, 1:30, 2024-01-01, true, 0.5, 3, null, '7']\n", "x")
    assert doc.data["a"] == [
        "yes",
        "no",
        "on",
        "off",
        "1:30",
        "2024-01-01",
        True,
        0.5,
        3,
        None,
        "7",
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a: !!python/object/apply:os.system ['true']\n", "tag '!!python/object/apply:os.system'"),
        ("a: !!python/name:os.system\n", "is not allowed"),
        ("a: !custom 1\n", "tag '!custom' is not allowed"),
        ("a: 1\na: 2\n", "2:1: key 'a' is repeated"),
        ("? [a, b]\n: 1\n", "a key must be a plain word"),
        ("base: &b {x: 1}\nother:\n  <<: *b\n", "merge keys (<<) are not supported"),
        ("a: &a [*a]\n", "nesting deeper than"),
        ("- 1\n- 2\n", "found a list"),
        ("just text\n", "found the value 'just text'"),
        ("", "file is empty"),
        ("# comment only\n", "file is empty"),
        ("a: [1, 2\n", "malformed YAML"),
        ("a:\n\tb: 1\n", "malformed YAML"),
    ],
)
def test_refused_documents(text: str, message: str) -> None:
    with pytest.raises(InputError) as info:
        yamlio.parse(text, "f.yaml")
    assert message in str(info.value)
    assert str(info.value).startswith("f.yaml:")


def test_anchors_and_aliases_within_reason_are_fine() -> None:
    doc = yamlio.parse("base: &b {x: 1}\nother: *b\n", "f")
    assert doc.data["other"] == {"x": 1}
    assert doc.data["other"] is not doc.data["base"]


def test_alias_bomb_is_refused_without_expanding_it(monkeypatch: pytest.MonkeyPatch) -> None:
    lines = ['a: &a ["x","x","x","x","x","x","x","x","x","x"]']
    for prev, name in zip("abcdefgh", "bcdefghi", strict=True):
        lines.append(f"{name}: &{name} [" + ", ".join([f"*{prev}"] * 10) + "]")

    # refused by counting the node graph (each node once), never by expanding it: the
    # converter that would expand it is never reached (work done, not seconds)
    def never(*args: object, **kwargs: object) -> object:
        raise AssertionError("the bomb was expanded")

    monkeypatch.setattr(yamlio._Converter, "convert", never)
    with pytest.raises(InputError, match="alias bomb"):
        yamlio.parse("\n".join(lines) + "\n", "bomb.yaml")


def test_files_huge_binary_or_not_utf8_are_refused(tmp_path: Path) -> None:
    huge = tmp_path / "huge.yaml"
    huge.write_text("#" * 2000 + "\n")
    with pytest.raises(InputError, match="file is 2,001 bytes; the limit is 1,000 bytes"):
        yamlio.load(huge, max_bytes=1000)
    binary = tmp_path / "bin.yaml"
    binary.write_bytes(b"a: 1\n\x00\x01")
    with pytest.raises(InputError, match="not a text file"):
        yamlio.load(binary)
    latin = tmp_path / "latin.yaml"
    latin.write_bytes(b"a: 1\nb: caf\xe9\n")
    with pytest.raises(InputError, match=r"latin.yaml:2:7: not UTF-8 text"):
        yamlio.load(latin)
    with pytest.raises(InputError, match="no such file"):
        yamlio.load(tmp_path / "missing.yaml")
    with pytest.raises(InputError, match="not a file"):
        yamlio.load(tmp_path)


def test_load_keeps_the_display_name_and_file(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text("a: 1\n", encoding="utf-8-sig")
    doc = yamlio.load(path, display="shown.yaml")
    assert doc.path == "shown.yaml"
    assert doc.file == path
    assert doc.data == {"a": 1}


@pytest.mark.parametrize(
    ("text", "value"),
    [("0.5", 0.5), ("3", 3), ("true", True), ("yes", "yes"), ("90s", "90s"), ("[1]", "[1]")],
)
def test_parse_scalar_reads_command_line_values(text: str, value: object) -> None:
    assert yamlio.parse_scalar(text) == value
