"""`python -m firmware_bridge.virtual`: bad paths are refused up front, with a message."""

from __future__ import annotations

from pathlib import Path

import pytest

from firmware_bridge.virtual import main


@pytest.mark.parametrize(
    "make_args, message",
    [
        (lambda p: ["--link", str(p / "file.txt")], "exists and is not a symbolic link"),
        (lambda p: ["--link", str(p / "missing" / "pico")], "does not exist"),
        (lambda p: ["--trace", str(p / "missing" / "t.csv")], "does not exist"),
        (lambda p: ["--trace", str(p)], "is a folder"),
    ],
    ids=["link-at-a-file", "link-in-a-missing-folder", "trace-in-a-missing-folder", "trace-dir"],
)
def test_a_bad_path_is_a_usage_error_not_a_traceback(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    make_args: object,
    message: str,
) -> None:
    (tmp_path / "file.txt").write_text("keep me")
    with pytest.raises(SystemExit) as info:
        main(make_args(tmp_path))  # type: ignore[operator]
    assert info.value.code == 2
    assert message in capsys.readouterr().err
    assert (tmp_path / "file.txt").read_text() == "keep me"
