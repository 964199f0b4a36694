"""Where the profiles and rigs that ship with massager live.

An installed wheel carries them inside the package, at ``massager/_bundled/``;
a source checkout (editable install) keeps them in the repository's top-level
``profiles/`` and ``rigs/`` folders.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Literal

Kind = Literal["profiles", "rigs"]
_PACKAGE = Path(__file__).resolve().parent
SUFFIXES = (".yaml", ".yml")


@cache
def folder(kind: Kind) -> Path | None:
    """The folder holding the bundled `kind` files, or None if there is none."""
    for candidate in (_PACKAGE / "_bundled" / kind, _PACKAGE.parent.parent / kind):
        if candidate.is_dir():
            return candidate
    return None


def names(kind: Kind) -> list[str]:
    """Names (file stems) of the bundled `kind` files, sorted."""
    where = folder(kind)
    if where is None:
        return []
    return sorted({p.stem for p in where.iterdir() if p.suffix in SUFFIXES and p.is_file()})


def find(kind: Kind, name: str) -> Path | None:
    """The bundled file called `name` (without suffix), or None."""
    where = folder(kind)
    if where is None or not name or "/" in name or "\\" in name or name.startswith("."):
        return None
    for suffix in SUFFIXES:
        candidate = where / f"{name}{suffix}"
        if candidate.is_file():
            return candidate
    return None
