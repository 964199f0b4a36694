"""Read a JSON haptic file strictly, and say where each of its values is written.

`read_json` refuses what a haptic file must not hold (NaN, Infinity, a file
that is not JSON) with the line and column; `Positions` maps a value's path
(`("actions", 12, "pos")`) to its `line:col`, so every loss an import reports
points into the source file.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

from massager.errors import InputError, Problem

_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|[{}\[\]:,]|[^\s{}\[\]:,"]+')

Path = tuple[str | int, ...]


def read_json(text: str, display: str) -> Any:
    """Parse `text` as JSON; InputError at the first problem (NaN and Infinity refused)."""

    def constant(name: str) -> float:
        raise ValueError(f"{name} is not a number a haptic file may hold")

    try:
        return json.loads(text, parse_constant=constant)
    except json.JSONDecodeError as exc:
        raise InputError(Problem(display, exc.lineno, exc.colno, f"not JSON: {exc.msg}")) from None
    except ValueError as exc:
        match = re.search(r"\b(NaN|-?Infinity)\b", text)
        offset = match.start() if match else 0
        line, col = _line_col(text, offset)
        raise InputError(Problem(display, line, col, str(exc))) from None


def _line_col(text: str, offset: int) -> tuple[int, int]:
    line = text.count("\n", 0, offset) + 1
    col = offset - (text.rfind("\n", 0, offset) + 1) + 1
    return line, col


class Positions:
    """Where each value of a JSON document starts, by path (scanned only as far as asked)."""

    def __init__(self, text: str, display: str) -> None:
        self.text = text
        self.display = display
        self._offsets: dict[Path, int] = {}
        self._scanner = self._scan()
        self._done = False

    def _scan(self) -> Iterator[Path]:
        offsets = self._offsets
        stack: list[list[Any]] = []  # per open container: [path, is_list, index, key]
        expecting_key = False
        for match in _TOKEN.finditer(self.text):
            token = match.group()
            if token in ":,":
                if token == "," and stack:
                    frame = stack[-1]
                    if frame[1]:
                        frame[2] += 1
                    else:
                        expecting_key = True
                continue
            if token in "}]":
                stack.pop()
                expecting_key = False
                continue
            if stack and not stack[-1][1] and expecting_key:
                key = json.loads(token) if token.startswith('"') else token
                expecting_key = False
                stack[-1][3] = key
                continue
            path: Path = ()
            if stack:
                frame = stack[-1]
                path = (*frame[0], frame[2] if frame[1] else frame[3])
            offsets.setdefault(path, match.start())
            yield path
            if token in "{[":
                stack.append([path, token == "[", 0, None])
                expecting_key = token == "{"

    def where(self, path: Path) -> tuple[int, int]:
        """`(line, col)` of the value at `path` (or of its nearest written parent)."""
        while not self._done and path not in self._offsets:
            if next(self._scanner, None) is None:
                self._done = True
        while path and path not in self._offsets:
            path = path[:-1]
        return _line_col(self.text, self._offsets.get(path, 0))

    def problem(self, path: Path, message: str) -> Problem:
        """A problem located at the value at `path`."""
        line, col = self.where(path)
        return Problem(self.display, line, col, message)


def dotted(path: Path) -> str:
    """A path as people write it: `actions[12].pos`."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
    return out
