"""The output-failure corpus (tests/data/failures/outputs.yaml): each command, run as the
console script runs it, with its stdout full, closed or broken (or a bad run option), ends
with exactly the message and exit code the corpus gives, and never a traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

HERE = Path(__file__).parent
CORPUS = yaml.safe_load((HERE / "data" / "failures" / "outputs.yaml").read_text())
CHILD = str(HERE / "cli_child.py")


def _run(case: dict[str, Any], cwd: Path) -> tuple[int, str, str]:
    """Run the case's command with its stdout set up as asked; (exit code, stdout, stderr)."""
    how = case.get("stdout", "pipe")
    redirect = {"full": ">/dev/full", "closed": ">&-"}.get(how, "")
    if case.get("stderr_closed"):
        redirect += " 2>&-"
    shell = ["/bin/sh", "-c", f'exec "$@" {redirect}', "sh", sys.executable, CHILD]
    stdout: Any = subprocess.PIPE
    write_end = -1
    if how == "broken":  # a pipe whose reader is gone before the command starts
        read_end, write_end = os.pipe()
        os.close(read_end)
        stdout = write_end
    try:
        proc = subprocess.Popen(
            [*shell, *case["args"]], stdout=stdout, stderr=subprocess.PIPE, cwd=cwd
        )
        out, err = proc.communicate(timeout=120)
    finally:
        if write_end >= 0:
            os.close(write_end)
    return proc.returncode, (out or b"").decode(), (err or b"").decode()


@pytest.mark.slow
@pytest.mark.parametrize(
    "case",
    CORPUS,
    ids=[f"{' '.join(c['args'])} [{c.get('stdout', 'pipe')}]" for c in CORPUS],
)
def test_each_output_failure_gives_its_message_and_exit_code(
    case: dict[str, Any], tmp_path: Path
) -> None:
    code, out, err = _run(case, tmp_path)
    assert "Traceback" not in err
    assert "Exception ignored" not in err
    if "stderr_startswith" in case:
        assert err.strip().startswith(case["stderr_startswith"]), err
    elif case.get("stderr") is not None:
        assert err.strip() == case["stderr"], err
    assert code == case["exit"], err
    if case.get("nothing_started"):
        assert out == ""
        assert list(tmp_path.iterdir()) == []  # no trace, no file left behind


def test_the_corpus_covers_every_command_and_every_kind_of_stdout() -> None:
    commands = {c["args"][0] for c in CORPUS}
    assert {"list", "validate", "compile", "schema", "run", "simulate", "off", "ports"} <= commands
    kinds = {c.get("stdout", "pipe") for c in CORPUS}
    assert kinds == {"pipe", "full", "closed", "broken"}
