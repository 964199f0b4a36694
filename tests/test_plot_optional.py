"""matplotlib is an optional extra: without it profiles run, and pictures say what to install."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from massager.cli import run

_BLOCK = "import sys; sys.modules['matplotlib'] = None; sys.modules['numpy'] = None\n"


def _without_matplotlib(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run the command line in a fresh interpreter where matplotlib and numpy cannot import."""
    code = _BLOCK + f"from massager.cli import run; raise SystemExit(run({args!r}))"
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=cwd, timeout=120
    )


@pytest.mark.parametrize(
    ("args", "what"),
    [
        (["plot", "classic", "-o", "c.png"], "massager plot"),
        (["simulate", "quick", "--plot", "q.png"], "simulate --plot"),
    ],
)
def test_pictures_without_matplotlib_say_what_to_install(
    tmp_path: Path, args: list[str], what: str
) -> None:
    done = _without_matplotlib(args, tmp_path)
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip() == (
        f"{what} needs matplotlib, which is not installed; "
        "install it with: pip install 'massager[plot]'"
    )
    assert "Traceback" not in done.stderr
    assert list(tmp_path.iterdir()) == []  # nothing drawn, nothing simulated


def test_profiles_compile_and_simulate_without_matplotlib(tmp_path: Path) -> None:
    done = _without_matplotlib(["simulate", "quick", "--trace", "t.csv"], tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("quick on reference: done at 5:00; simulated in ")
    assert (tmp_path / "t.csv").stat().st_size > 0


def test_the_plot_extra_is_declared_and_the_test_extra_pulls_it_in() -> None:
    import tomllib

    meta = tomllib.loads((Path(__file__).parents[1] / "pyproject.toml").read_text())
    project = meta["project"]
    assert not any(dep.startswith(("matplotlib", "numpy")) for dep in project["dependencies"])
    assert project["optional-dependencies"]["plot"] == ["matplotlib>=3.8"]
    assert "massager[plot]" in project["optional-dependencies"]["test"]


def test_pictures_with_matplotlib_still_draw(tmp_path: Path) -> None:
    assert run(["plot", "quick", "-o", str(tmp_path / "q.png")]) == 0
    assert (tmp_path / "q.png").stat().st_size > 10_000
