"""The hardware seam's type, for type checkers only (never imported at run time, never deployed).

``executor``, ``motion`` and ``heater`` import ``Hal`` inside ``if TYPE_CHECKING:``.
It has a module of its own because mypyc, which compiles those modules for the
simulator on CPython, cannot compile a class defined inside an ``if`` block.
"""

from typing import Protocol


class Hal(Protocol):
    """The hardware seam the executor drives."""

    def now_us(self) -> int: ...

    def set_output(self, ch: int, level: float) -> None: ...

    def read_temp(self, ch: int) -> float: ...
