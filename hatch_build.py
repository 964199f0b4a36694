"""Hatchling build hook: the simulator's hot modules compiled with mypyc, for CPython.

`pip install .` (a wheel) and `pip install -e .` (editable) both run it. It
compiles the same source files MicroPython runs on the Pico (the executor and
its parts) and the simulated device around them into one group of extension
modules (`massager_sim__mypyc` and a small module per source), and writes a
manifest beside them naming each extension and the sha256 of each source it
was built from:

- in a wheel: under `massager/_mypyc/` in the wheel;
- in an editable install: `src/massager/_mypyc/` in the source tree (ignored
  by git), where a rebuild (`pip install -e .` again) replaces them.

Nothing finds them by the ordinary import path: `massager.compiled` loads them,
all or none, only while every source still has its recorded hash, so an edited
`.py` is never shadowed by a stale build.

Without a C compiler or Python's headers (or with `MASSAGER_PURE_PYTHON=1`) the
install still succeeds, pure Python, and says so in one line (pip shows a build
hook's output with `-v`; `python -m massager.compiled` says it any time).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sys
import sysconfig
import tempfile
import time
from pathlib import Path
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface

COMPILED = (
    "firmware_bridge/codes.py",
    "firmware_bridge/ticks.py",
    "firmware_bridge/waveforms.py",
    "firmware_bridge/limits.py",
    "firmware_bridge/cmdqueue.py",
    "firmware_bridge/heater.py",
    "firmware_bridge/motion.py",
    "firmware_bridge/executor.py",
    "src/massager/drivers/physics.py",
    "src/massager/drivers/sim_hal.py",
    "src/massager/drivers/sim_device.py",
    "src/massager/trace_door.py",
)
"""The sources compiled, relative to the project's root."""
GROUP = "massager_sim"
"""The group's name: its shared library is the top-level module `massager_sim__mypyc`."""
OUT = "massager/_mypyc"
"""Where the extensions and the manifest go, inside the installed `massager` package."""
MANIFEST = "manifest.txt"
MYPY_CONFIG = """\
[mypy]
follow_imports = silent
ignore_missing_imports = True
"""
"""mypyc's type check: the compiled modules as they are; what they import is read silently (the
build runs without the project's dependencies, so pydantic and the rest are Any)."""


def module_name(source: str) -> str:
    """`firmware_bridge/executor.py` -> `firmware_bridge.executor` (`src/` is no package)."""
    return source.removeprefix("src/").removesuffix(".py").replace("/", ".")


def sha256(path: Path) -> str:
    """The hex sha256 of the file at `path`."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def build(root: Path, out: Path, work: Path, installed: dict[str, Path]) -> int:
    """Compile COMPILED (under `root`) into `out` with a manifest; returns the module count.

    `installed` maps each source to where it will lie once installed, so the manifest
    names it relative to `out`. Raises on any failure (no compiler, no headers, a
    type error mypyc refuses); `out` is left without a manifest then.
    """
    from mypyc.build import mypycify
    from setuptools import Distribution
    from setuptools.command.build_ext import build_ext

    config = work / "mypyc.ini"
    config.write_text(MYPY_CONFIG)
    cwd = os.getcwd()
    os.chdir(root)  # mypy names the modules from the paths relative to here
    try:
        extensions = mypycify(
            ["--config-file", str(config), "--cache-dir", str(work / "cache"), *COMPILED],
            group_name=GROUP,
            target_dir=str(work / "c"),
            opt_level="3",
            debug_level="0",
        )
        command = build_ext(Distribution({"name": GROUP, "ext_modules": extensions}))
        command.build_lib = str(work / "lib")
        command.build_temp = str(work / "obj")
        command.ensure_finalized()
        command.run()
    finally:
        os.chdir(cwd)
    lines = [f"# the simulator's modules compiled by mypyc ({GROUP}), written by hatch_build.py"]
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    for built in sorted((work / "lib").rglob("*.so")) + sorted((work / "lib").rglob("*.pyd")):
        rel = built.relative_to(work / "lib")
        target = out / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(built, target)
        name = ".".join((*rel.parent.parts, rel.name.split(".")[0]))
        lines.append(f"module {name} {rel.as_posix()}")
    for source in COMPILED:
        where = os.path.relpath(installed[source], out)
        lines.append(f"source {sha256(root / source)} {Path(where).as_posix()}")
    (out / MANIFEST).write_text("\n".join(lines) + "\n")
    return len(COMPILED)


class MypycBuildHook(BuildHookInterface):  # type: ignore[type-arg]
    """Compiles the simulator's hot modules into the wheel (or beside an editable install)."""

    PLUGIN_NAME = "custom"

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        """Build the extensions; on any failure leave the install pure Python and say so."""
        if self.target_name != "wheel":
            return
        root = Path(self.root)
        editable = version == "editable"
        if editable:
            out = root / "src" / OUT
            installed = {s: root / s for s in COMPILED}
        else:
            self._temp = tempfile.mkdtemp(prefix="massager-mypyc-")
            out = Path(self._temp) / OUT
            site = out.parent.parent
            installed = {s: site / s.removeprefix("src/") for s in COMPILED}
        if os.environ.get("MASSAGER_PURE_PYTHON"):
            self._uncompiled(out, editable, "MASSAGER_PURE_PYTHON is set")
            return
        missing = _missing_tool()
        if missing:
            self._uncompiled(out, editable, missing)
            return
        started = time.monotonic()
        with tempfile.TemporaryDirectory(prefix="massager-mypyc-work-") as work:
            try:
                count = build(root, out, Path(work), installed)
            except BaseException as exc:  # SystemExit from distutils on a failed gcc, too
                if isinstance(exc, KeyboardInterrupt):
                    raise
                self._uncompiled(out, editable, _reason(exc))
                return
        print(
            f"massager: the simulator's {count} hot modules compiled with mypyc "
            f"in {time.monotonic() - started:.0f} s",
            file=sys.stderr,
        )
        build_data["pure_python"] = False
        build_data["infer_tag"] = True
        if not editable:
            for path in sorted(out.rglob("*")):
                if path.is_file():
                    rel = path.relative_to(out.parent.parent).as_posix()
                    build_data["force_include"][str(path)] = rel

    def finalize(self, version: str, build_data: dict[str, Any], artifact_path: str) -> None:
        """Remove the wheel's compiled files from their temporary folder once it is written."""
        temp = getattr(self, "_temp", None)
        if temp:
            shutil.rmtree(temp, ignore_errors=True)

    def _uncompiled(self, out: Path, editable: bool, reason: str) -> None:
        if editable and out.exists():
            shutil.rmtree(out)  # an older build must not outlive the sources it was built from
        print(
            f"massager: the simulator runs uncompiled (pure Python): {reason}",
            file=sys.stderr,
        )


def _missing_tool() -> str:
    """Why the C build cannot even start ('' if a compiler and Python's headers are there)."""
    compiler = os.environ.get("CC") or sysconfig.get_config_var("CC") or "cc"
    if shutil.which(compiler.split()[0]) is None:
        return f"no C compiler ({compiler.split()[0]}: install gcc)"
    headers = Path(sysconfig.get_paths()["include"]) / "Python.h"
    if not headers.is_file():
        return f"no Python headers ({headers} is missing: install python3-dev)"
    return ""


def _reason(exc: BaseException) -> str:
    """One line on why the build failed."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    if len(text) > 200:
        text = text[:200] + "..."
    return f"the mypyc build failed ({type(exc).__name__}: {text})"
