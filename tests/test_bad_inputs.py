"""The bad-input corpus: every bad profile and rig gives its exact message and exit code.

tests/data/bad/expected.yaml lists each file, what it covers and the message
it must produce, through the API and through the command line (never a
traceback).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, NoReturn

import pytest
import yaml

from massager import api, yamlio
from massager.cli import run
from massager.compiler import assemble
from massager.errors import MassagerError

BAD = Path(__file__).parent / "data" / "bad"
BOUNDS = Path(__file__).parent / "data" / "bounds"
"""Inputs whose work or numbers have no bound (issue 8), in a corpus of their own."""
CORPORA = (BAD, BOUNDS)
CASES: list[dict[str, Any]] = [
    {**case, "folder": folder}
    for folder in CORPORA
    for case in yaml.safe_load((folder / "expected.yaml").read_text())
]
IDS = [f"{c['folder'].name}/{c['file']}" for c in CASES]


@pytest.fixture
def in_bad(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """Work from the bad corpus folder, with the generated huge file beside it in tmp."""
    monkeypatch.chdir(BAD)
    return tmp_path


def _in_folder(case: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(case["folder"])


def _prepare(case: dict[str, Any], tmp: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    if not case.get("generated"):
        return str(case["file"])
    monkeypatch.chdir(tmp)
    (tmp / case["file"]).write_text("#" * 99 + "\n" + ("#" * 99 + "\n") * 19_999)
    return str(case["file"])


def _via_api(case: dict[str, Any], name: str) -> MassagerError:
    with pytest.raises(MassagerError) as info:
        if case["kind"] == "rig":
            api.load_rig(Path(name))
        else:
            profile = api.load_profile(Path(name))
            cap = 3_600_000 if case.get("session_cap") else api.DEFAULT_CAP_MS
            api.compile_stream(
                profile, api.load_rig(case.get("rig")), params=case.get("set"), session_cap_ms=cap
            )
    return info.value


def test_corpus_is_large_and_every_file_is_listed() -> None:
    bad = [c for c in CASES if c["folder"] == BAD]
    listed = {c["file"] for c in bad}
    on_disk = {p.name for p in BAD.glob("*.yaml")} - {"expected.yaml"}
    assert len(bad) >= 30
    # include_cycle_b.yaml is the other half of include_cycle_a.yaml's cycle
    assert on_disk - listed == {"include_cycle_b.yaml"}
    assert all(c.get("generated") or c["file"] in on_disk for c in bad)


def test_bounds_corpus_lists_every_file_it_holds() -> None:
    bounds = [c for c in CASES if c["folder"] == BOUNDS]
    listed = {c["file"] for c in bounds} | {u for c in bounds for u in c.get("uses", [])}
    on_disk = {p.name for p in BOUNDS.glob("*.yaml")} - {"expected.yaml"}
    assert len(bounds) >= 12
    assert listed == on_disk


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_api_gives_the_exact_message(
    case: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _in_folder(case, monkeypatch)
    name = _prepare(case, tmp_path, monkeypatch)
    error = _via_api(case, name)
    assert type(error).__name__ == case["error"]
    assert error.exit_code == case["exit"]
    assert str(error) == case["message"]


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_cli_prints_the_message_and_exits_with_its_code(
    case: dict[str, Any],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    _in_folder(case, monkeypatch)
    name = _prepare(case, tmp_path, monkeypatch)
    if case.get("set") or case.get("session_cap"):
        argv = ["compile", name, "-o", str(tmp_path / "out.jsonl")]
        argv += [f"--set={k}={v}" for k, v in case.get("set", {}).items()]
        if case.get("session_cap"):
            argv += ["--session-cap", case["session_cap"]]
    else:
        argv = ["validate", name]
    if case.get("rig"):
        argv += ["--rig", case["rig"]]
    code = run(argv)
    out, err = capsys.readouterr()
    assert code == case["exit"]
    assert err.strip() == case["message"]
    assert "Traceback" not in out + err


def _never(*args: object, **kwargs: object) -> NoReturn:
    raise AssertionError("this work should never have started")


def test_alias_bomb_is_refused_without_expanding_it(
    in_bad: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the bomb is measured on the node graph (each node once), never converted value by value
    monkeypatch.setattr(yamlio._Converter, "convert", _never)
    with pytest.raises(MassagerError, match="alias bomb") as info:
        api.load_profile(Path("alias_bomb.yaml"))
    assert str(info.value).startswith("alias_bomb.yaml:1:56: ")


def test_huge_repeat_is_refused_before_expanding(
    in_bad: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    profile = api.load_profile(Path("repeat_blows_cap.yaml"))
    monkeypatch.setattr(assemble._Builder, "place_all", _never)
    with pytest.raises(MassagerError, match="longer than the session cap"):
        api.compile_stream(profile, api.load_rig())


def test_the_other_end_of_the_include_cycle_is_refused_too(in_bad: Path) -> None:
    with pytest.raises(MassagerError) as info:
        api.load_profile(Path("include_cycle_b.yaml"))
    assert str(info.value) == (
        "include_cycle_a.yaml:5:14: include cycle: "
        "include_cycle_b.yaml -> include_cycle_a.yaml -> include_cycle_b.yaml"
    )


def test_python_tag_never_runs(in_bad: Path, tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    text = f"steps:\n  - !!python/object/apply:os.system ['touch {marker}']\n"
    (tmp_path / "tag.yaml").write_text(text)
    with pytest.raises(MassagerError, match="not allowed"):
        api.load_profile(tmp_path / "tag.yaml")
    assert not marker.exists()
