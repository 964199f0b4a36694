"""The simulator's modules compiled with mypyc (`hatch_build.py`, loaded by `massager.compiled`)
play exactly what their pure-Python sources play, and are the ones in use.

The comparison plays every bundled profile on every bundled rig, and streams with pauses,
intensity changes, stops, a silent host and a clock near its wrap drawn by hypothesis, in
a subprocess forced to the `.py` modules (MASSAGER_PURE_PYTHON=1) and here, on the
compiled ones: the trace's bytes, every event, the ending and the device's whole state
after every poll must be equal. An install that could not compile fails here (the suite
tests the compiled path); a checkout without a C compiler runs the suite with
MASSAGER_PURE_PYTHON=1, and these tests then check that the pure path is the one taken.
"""

from __future__ import annotations

import ast
import hashlib
import os
import pickle
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from sim_play import DRAWN_PLAY, FULL, SHORT_ON, recorded
from sim_support import stream

import firmware_bridge
import massager
from massager import api, bundled, compiled
from massager.compiled import PURE_ENV, CompiledFinder
from massager.rig import Rig
from massager.stream import CommandStream

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
FORCED_PURE = bool(os.environ.get(PURE_ENV))
Case = tuple[CommandStream, Rig, dict[str, Any]]


def compiled_sources() -> list[str]:
    """`hatch_build.COMPILED`, read from the hook's source (hatchling is a build dependency)."""
    tree = ast.parse((ROOT / "hatch_build.py").read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "COMPILED":
            return list(ast.literal_eval(node.value))
    raise AssertionError("hatch_build.py has no COMPILED")


def group() -> list[str]:
    """The modules the build compiles, by name."""
    return sorted(
        s.removeprefix("src/").removesuffix(".py").replace("/", ".") for s in compiled_sources()
    )


def test_the_path_in_use_is_the_compiled_one() -> None:
    import massager.drivers.sim  # noqa: F401  (imports every module of the group)

    status = compiled.status()
    print(f"the simulator's modules: {status}")
    if FORCED_PURE:
        assert status == f"pure Python: {PURE_ENV} is set"
        assert compiled.compiled_modules() == []
        return
    assert status.startswith("compiled (mypyc)"), status
    assert [m for m in compiled.compiled_modules() if not m.endswith("__mypyc")] == group()
    for name in group():
        assert sys.modules[name].__file__.endswith(".so"), name  # type: ignore[union-attr]


def bundled_cases() -> list[Case]:
    """Every bundled profile on every bundled rig: classic on reference in full, the rest their
    first 60 seconds and a stop (as tests/test_sim_jumps.py plays them)."""
    cases: list[Case] = []
    for profile in bundled.names("profiles"):
        for rig_name in bundled.names("rigs"):
            the_rig = api.load_rig(rig_name)
            the_stream = api.compile_stream(api.load_profile(profile), the_rig)
            schedule = [] if (profile, rig_name) == FULL else [(60_000, "stop", 0.0)]
            cases.append((the_stream, the_rig, {"schedule": schedule}))
    return cases


def drawn_cases() -> list[Case]:
    """Streams with pauses, resumes, intensity changes and stops at any moment, a host going
    silent (the watchdog trips), a short watchdog and a clock two seconds before its wrap."""
    cases: list[Case] = []

    @settings(max_examples=24, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(**DRAWN_PLAY)
    def draw(
        program: list[Any],
        schedule: Any,
        silent_at_ms: int | None,
        clock_start_us: int,
        watchdog_ms: int | None,
    ) -> None:
        options = {
            "schedule": schedule,
            "silent_at_ms": silent_at_ms,
            "clock_start_us": clock_start_us,
            "watchdog_ms": watchdog_ms,
        }
        cases.append((stream(program, 7000, SHORT_ON), SHORT_ON, options))

    draw()
    return cases


def test_compiled_modules_play_what_the_pure_python_modules_play(tmp_path: Path) -> None:
    cases = bundled_cases() + drawn_cases()
    (tmp_path / "cases.pickle").write_bytes(pickle.dumps(cases))
    env = {**os.environ, PURE_ENV: "1"}
    done = subprocess.run(
        [sys.executable, str(HERE / "pure_play.py"), "cases.pickle", "pure.pickle"],
        cwd=tmp_path,
        env={**env, "PYTHONPATH": os.pathsep.join([str(HERE), env.get("PYTHONPATH", "")])},
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stderr
    pure = pickle.loads((tmp_path / "pure.pickle").read_bytes())
    print(f"here: {compiled.status()}; the subprocess: pure Python")
    if not FORCED_PURE:
        assert compiled.compiled_modules(), compiled.status()
    assert len(pure) == len(cases)
    moved = 0
    endings = set()
    for (the_stream, the_rig, options), theirs in zip(cases, pure, strict=True):
        ours = recorded(the_stream, the_rig, **options)
        where = f"{the_stream.profile} on {the_rig.name} {options}"
        assert ours[0] == theirs[0], where
        assert ours[1] == theirs[1], where  # the trace, byte for byte
        assert ours[2] == theirs[2], where
        assert ours[3] == theirs[3], where
        moved += ours[1].count(b"\n") > 2
        endings.add(ours[0].partition(",")[0])
    assert moved > len(cases) // 2  # most plays moved their outputs (trace rows past the header)
    assert len(endings) >= 3, endings  # done, stopped, a fault: the plays end in different ways


def copy_install(dest: Path) -> tuple[Path, Path, str]:
    """The installed `massager` and `firmware_bridge` (with the build) copied under `dest`,
    keeping where they lie relative to each other; (massager, firmware_bridge, PYTHONPATH)."""
    homes = [Path(massager.__file__).parent, Path(firmware_bridge.__file__).parent]
    common = Path(os.path.commonpath(homes))
    copies = [dest / home.relative_to(common) for home in homes]
    for home, copy in zip(homes, copies, strict=True):
        shutil.copytree(home, copy, ignore=shutil.ignore_patterns("__pycache__"))
    return copies[0], copies[1], os.pathsep.join(str(c.parent) for c in copies)


PROBE = (
    "import massager.compiled as c\n"
    "import firmware_bridge.motion as m\n"
    "c.report()\n"
    "print('motion from', m.__file__)\n"
)


def probe(path: str) -> subprocess.CompletedProcess[str]:
    """Run PROBE on the copy at `path` (PYTHONPATH), the pure-Python switch off."""
    env = {k: v for k, v in os.environ.items() if k != PURE_ENV}
    return subprocess.run(
        [
            sys.executable,
            "-I",
            "-c",
            f"import sys; sys.path[:0] = {path.split(os.pathsep)!r}\n" + PROBE,
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_an_edited_source_runs_as_its_py_file_and_says_so_once(tmp_path: Path) -> None:
    home, fw, path = copy_install(tmp_path)
    before = probe(path)
    assert before.returncode == 0, before.stderr
    last = before.stdout.splitlines()[-1]
    assert last.startswith(f"motion from {home / '_mypyc'}") and last.endswith(".so")  # the copy's
    assert before.stderr == ""
    with (fw / "motion.py").open("a") as f:
        f.write("# edited after the build\n")
    after = probe(path)
    assert after.returncode == 0, after.stderr
    assert after.stdout.splitlines()[-1] == f"motion from {fw / 'motion.py'}"
    assert "compiled" not in "".join(after.stdout.splitlines()[1:-1])  # no module ran compiled
    line = f"massager: the simulator runs uncompiled (pure Python): {fw / 'motion.py'} changed"
    assert after.stderr.count(line) == 1, after.stderr
    assert len(after.stderr.splitlines()) == 1


def a_build(tmp_path: Path) -> tuple[Path, Path]:
    """A manifest naming one module built from a copy of ticks.py (its extension file need not
    exist); (manifest, the copy)."""
    source = tmp_path / "ticks.py"
    shutil.copy(ROOT / "firmware_bridge" / "ticks.py", source)
    digest = hashlib.sha256(source.read_bytes()).hexdigest()
    manifest = tmp_path / "build" / "manifest.txt"
    manifest.parent.mkdir()
    manifest.write_text(
        "# a test's build\n"
        "module firmware_bridge.ticks firmware_bridge/ticks.so\n"
        f"source {digest} ../{source.name}\n"
    )
    return manifest, source


def test_the_finder_takes_the_build_only_while_every_source_is_as_built(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(PURE_ENV, raising=False)
    manifest, source = a_build(tmp_path)
    monkeypatch.delitem(sys.modules, "firmware_bridge.ticks")
    finder = CompiledFinder(manifest)
    spec = finder.find_spec("firmware_bridge.ticks")
    assert spec is not None and spec.origin == str(manifest.parent / "firmware_bridge/ticks.so")
    assert finder.find_spec("firmware_bridge.codec") is None  # not in the build: not ours
    source.write_text(source.read_text() + "TICKS_MAX = 0\n")
    stale = CompiledFinder(manifest)
    assert stale.find_spec("firmware_bridge.ticks") is None
    assert stale.find_spec("firmware_bridge.ticks") is None
    err = capsys.readouterr().err
    assert err.count("massager: the simulator runs uncompiled (pure Python):") == 1
    assert f"{source} changed since they were built" in err


def test_the_finder_keeps_out_of_a_process_that_imported_the_group_before_massager(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(PURE_ENV, raising=False)
    finder = CompiledFinder(a_build(tmp_path)[0])
    assert "firmware_bridge.ticks" in sys.modules  # as if imported before the finder was in
    assert finder.find_spec("firmware_bridge.ticks") is None
    assert "firmware_bridge.ticks was imported before massager" in capsys.readouterr().err


def test_pure_python_forced_or_no_build_means_no_finder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(PURE_ENV, "1")
    forced = CompiledFinder(tmp_path / "manifest.txt")
    assert forced.reason == f"{PURE_ENV} is set" and not forced.fresh()
    monkeypatch.delenv(PURE_ENV)
    missing = CompiledFinder(tmp_path / "manifest.txt")
    assert not missing.fresh() and "did not compile" in missing.reason


def project_file(name: str) -> Path | None:
    """The source of project module `name` (massager or firmware_bridge), None if no module."""
    base = ROOT / "src" if name.startswith("massager") else ROOT
    stem = base / name.replace(".", "/")
    for path in (stem.with_suffix(".py"), stem / "__init__.py"):
        if path.is_file():
            return path
    return None


def test_no_compiled_module_bakes_in_a_constant_of_a_module_that_is_not_compiled() -> None:
    # mypyc inlines the value of a Final name wherever it is used: a compiled module using
    # one from an interpreted module would keep the old value after that module is edited
    # (the manifest hashes only the compiled sources)
    names = set(group())
    checked = []
    for source in compiled_sources():
        for node in ast.walk(ast.parse((ROOT / source).read_text())):
            if not isinstance(node, ast.ImportFrom) or not node.module:
                continue
            if node.module.split(".")[0] not in ("massager", "firmware_bridge"):
                continue
            imported = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            for name in imported:
                path = project_file(name)
                if name not in names and path is not None and path.name != "__init__.py":
                    checked.append(name)
                    assert "Final" not in path.read_text(), (source, name)
    assert "massager.stream" in checked and "firmware_bridge.names" in checked
