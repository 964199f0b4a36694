"""The simulator's compiled modules: loaded only when built from the very sources beside them.

The install compiles the simulator's hot modules with mypyc (`hatch_build.py`)
into `massager/_mypyc/`, with a manifest naming each extension module and
the sha256 of each source it was built from. Nothing finds those extensions
by the ordinary import path: `install()` (run by `massager/__init__.py`,
before anything imports `firmware_bridge`) puts a finder first on
`sys.meta_path` that loads them, and only if, at the first import of one of
them, every recorded source still has its recorded hash. Otherwise every one
of them loads from its `.py` (all or none: compiled modules call each other
directly, so a compiled module beside an interpreted one of the same group
would run the old code), and one line on stderr says why, once.

`MASSAGER_PURE_PYTHON=1` in the environment forces the `.py` modules.
`python -c "import massager.compiled as c; c.report()"` prints which path is in use.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from importlib.machinery import ExtensionFileLoader, ModuleSpec
from importlib.util import spec_from_file_location
from pathlib import Path
from types import ModuleType

HOME = Path(__file__).resolve().parent / "_mypyc"
"""Where the install puts the compiled modules and their manifest."""
MANIFEST = HOME / "manifest.txt"
PURE_ENV = "MASSAGER_PURE_PYTHON"
"""Set (to anything but empty) to run every module from its `.py`."""


class CompiledFinder:
    """A `sys.meta_path` finder for the compiled modules the manifest at `manifest` names."""

    def __init__(self, manifest: Path) -> None:
        self.manifest = manifest
        self.files: dict[str, Path] = {}
        """Each compiled module's extension file, by module name."""
        self.sources: list[tuple[str, Path]] = []
        """(sha256, path) of every source the build compiled."""
        self.reason = ""
        """Why the `.py` modules run ('' while the compiled ones may)."""
        self._fresh: bool | None = None
        if os.environ.get(PURE_ENV):
            self.reason = f"{PURE_ENV} is set"
        elif not manifest.is_file():
            self.reason = "the install did not compile them (no C compiler, or it failed)"
        else:
            self._read()

    def _read(self) -> None:
        home = self.manifest.parent
        for line in self.manifest.read_text().splitlines():
            kind, _, rest = line.partition(" ")
            first, _, second = rest.partition(" ")
            if kind == "module":
                self.files[first] = home / second
            elif kind == "source":
                self.sources.append((first, home / second))
        if not self.files:
            self.reason = f"{self.manifest} names no module"

    def fresh(self) -> bool:
        """Whether the compiled modules run: every source as built, checked once."""
        if self._fresh is None:
            self._fresh = not self.reason and self._check()
        return self._fresh

    def _check(self) -> bool:
        import hashlib

        for digest, path in self.sources:
            try:
                same = hashlib.sha256(path.read_bytes()).hexdigest() == digest
            except OSError:
                same = False
            if not same:
                self._stale(
                    f"{path.resolve()} changed since they were built (rebuild: pip install -e .)"
                )
                return False
        early = sorted(name for name in self.files if name in sys.modules)
        if early:
            self._stale(f"{early[0]} was imported before massager")
            return False
        return True

    def _stale(self, reason: str) -> None:
        self.reason = reason
        print(f"massager: the simulator runs uncompiled (pure Python): {reason}", file=sys.stderr)

    def find_spec(
        self, name: str, path: Sequence[str] | None = None, target: ModuleType | None = None
    ) -> ModuleSpec | None:
        """The compiled module `name`, if it is one and the build is fresh; else None."""
        file = self.files.get(name)
        if file is None or not self.fresh():
            return None
        return spec_from_file_location(name, file, loader=ExtensionFileLoader(name, str(file)))


_finder: CompiledFinder | None = None


def install() -> CompiledFinder:
    """Put the finder first on `sys.meta_path` (once per process); returns it."""
    global _finder
    if _finder is None:
        _finder = CompiledFinder(MANIFEST)
        if _finder.files and not _finder.reason:
            sys.meta_path.insert(0, _finder)
    return _finder


def compiled_modules() -> list[str]:
    """The modules running compiled in this process (imported from the build), by name."""
    finder = install()
    return sorted(
        name
        for name, file in finder.files.items()
        if getattr(sys.modules.get(name), "__file__", None) == str(file)
    )


def status() -> str:
    """One line: which path the simulator's modules take in this process, and why."""
    finder = install()
    if finder.fresh():
        return f"compiled (mypyc), built in {finder.manifest.parent}"
    return f"pure Python: {finder.reason}"


def report() -> None:
    """Import the simulator, then print the path its modules take and each compiled one."""
    import massager.drivers.sim  # noqa: F401  (imports every module of the group)

    print(f"the simulator's modules: {status()}")
    for name in compiled_modules():
        print(f"  {name}")
