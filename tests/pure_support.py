"""The simulator's modules from their `.py` files in a process that runs them compiled.

A test that relies on Python-level behaviour the compiled modules do not have
(a float subclass whose arithmetic rounds, which compiled code unboxes to a C
double) takes the interpreted modules from here; everything else in the
process keeps the compiled ones.
"""

from __future__ import annotations

import importlib
import sys
from types import ModuleType

from massager import compiled

_MISSING = object()


def pure_module(name: str) -> ModuleType:
    """Module `name` (and the compiled group's modules it imports) loaded anew from source.

    The compiled modules stay what `sys.modules` and their packages hold: the
    interpreted copies are reachable only through the module returned.
    """
    finder = compiled.install()
    group = set(finder.files) | {name}
    saved = {n: sys.modules.pop(n) for n in list(sys.modules) if n in group}
    parents: dict[str, tuple[ModuleType, object]] = {}
    for n in group:
        parent, _, child = n.rpartition(".")
        if parent in sys.modules:
            parents[n] = (sys.modules[parent], getattr(sys.modules[parent], child, _MISSING))
    active = finder in sys.meta_path
    if active:
        sys.meta_path.remove(finder)
    try:
        module = importlib.import_module(name)
    finally:
        for n in group:
            sys.modules.pop(n, None)
        sys.modules.update(saved)
        for n, (package, before) in parents.items():
            child = n.rpartition(".")[2]
            if before is _MISSING:
                if hasattr(package, child):
                    delattr(package, child)
            else:
                setattr(package, child, before)
        if active:
            sys.meta_path.insert(0, finder)
    assert not str(module.__file__).endswith(".so")
    return module
