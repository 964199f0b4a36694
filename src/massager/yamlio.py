"""Safe YAML reading that remembers where every key and value came from.

Profiles and rigs are read into plain Python data (dicts, lists, strings,
numbers, booleans, None) plus a table of positions, so any later problem can
be reported as ``PATH:LINE:COL: message``. Nothing in a file can construct a
Python object: only the YAML core tags are accepted. Files above a size limit,
files that are not UTF-8 text, and documents that expand into too many nodes
(alias bombs) are refused before they cost much.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml
from yaml.constructor import ConstructorError, SafeConstructor
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from massager.errors import InputError, Problem
from massager.records import record

MAX_BYTES = 1_000_000
"""Largest input file read, in bytes."""

MAX_NODES = 200_000
"""Largest number of values a document may expand into (aliases counted each time)."""

MAX_DEPTH = 64
"""Deepest nesting of mappings and sequences."""

Loc = tuple[str | int, ...]
"""A path into a document: mapping keys and sequence indexes, outermost first."""

_TAG = "tag:yaml.org,2002:"
_PLAIN_TAGS = {f"{_TAG}{name}" for name in ("str", "timestamp", "binary", "merge", "value")}
_CORE_SCALAR_TAGS = {f"{_TAG}{name}" for name in ("int", "float", "bool", "null")}
_BOOL_WORDS = {"true", "false"}
_constructor = SafeConstructor()
_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
"""libyaml's parser when PyYAML has it: linear in the input (the pure-Python one is
quadratic in nesting and ten times slower), with a nesting limit of its own."""

parses = 0
"""How many documents `parse` has parsed in this process (tests count the work done)."""


def _problem_text(problem: str, text: str, index: int) -> str:
    """libyaml's wording of a syntax error, naming the character or alias it is about."""
    if not problem:
        return "malformed YAML"
    at = text[index] if 0 <= index < len(text) else ""
    if problem == "found character that cannot start any token" and at:
        return f"found character {at!r} that cannot start any token"
    if problem == "found undefined alias" and at == "*":
        name = re.match(r"[^\s,\[\]{}]*", text[index + 1 : index + 81])
        return f"found undefined alias {name.group(0) if name else ''!r}"
    if problem == "exceeded maximum nesting depth":
        return "nested too deeply"
    if problem.startswith("did not find expected"):
        return f"{problem}, but found {repr(at) if at else 'the end of the file'}"
    return problem


@record(frozen=False)
class Located:
    """A YAML document as plain data, with the position of every key and value.

    ``path`` is the name shown in messages. Positions are 1-based (line, col).
    """

    data: Any
    path: str
    values: dict[Loc, tuple[int, int]]
    keys: dict[Loc, tuple[int, int]]
    file: Path | None

    def __init__(
        self,
        data: Any,
        path: str,
        values: dict[Loc, tuple[int, int]] | None = None,
        keys: dict[Loc, tuple[int, int]] | None = None,
        file: Path | None = None,
    ) -> None:
        self.data = data
        self.path = path
        self.values = {} if values is None else values
        self.keys = {} if keys is None else keys
        self.file = file

    def where(self, loc: Iterable[str | int], *, key: bool = False) -> tuple[int, int]:
        """Best known position of `loc`: its key (if `key`) or value, else its nearest parent's.

        Elements of `loc` that do not name a key or index of the data (pydantic adds
        union and validator names) are skipped.
        """
        aligned = self.align(loc)
        if key and aligned in self.keys:
            return self.keys[aligned]
        while aligned:
            if aligned in self.values:
                return self.values[aligned]
            if aligned in self.keys:
                return self.keys[aligned]
            aligned = aligned[:-1]
        return self.values.get((), (1, 1))

    def align(self, loc: Iterable[str | int]) -> Loc:
        """The longest path into the data that `loc` spells, skipping foreign elements."""
        out: list[str | int] = []
        node = self.data
        for part in loc:
            if isinstance(node, dict):
                if not (isinstance(part, str) and part in node):
                    continue
                node = node[part]
            elif isinstance(node, list):
                if not (isinstance(part, int) and 0 <= part < len(node)):
                    continue
                node = node[part]
            else:
                continue
            out.append(part)
        return tuple(out)

    def problem(self, loc: Iterable[str | int], message: str, *, key: bool = False) -> Problem:
        """A located problem at `loc` (its key if `key`, else its value)."""
        line, col = self.where(loc, key=key)
        return Problem(self.path, line, col, message)


_TOO_MANY = (
    f"document expands into more than {MAX_NODES:,} values (an alias bomb?); refusing to read it"
)


def _kids(node: Node) -> list[Node]:
    """The value nodes directly under `node`, in the order `_Converter` visits them."""
    if isinstance(node, SequenceNode):
        return list(node.value)
    if isinstance(node, MappingNode):
        return [value for _key, value in node.value]
    return []


def _first_value_past_limit(root: Node) -> Node | None:
    """The value `_Converter` would refuse as the (MAX_NODES + 1)th, found without expanding.

    Aliases make a document a graph whose expansion can be exponential in its
    size; here every node's expanded size (and height) is computed once, so an
    alias bomb is found in time linear in the file. None when the document is
    small enough, when it is recursive, or when a nesting deeper than MAX_DEPTH
    comes first (the converter reports those, within the same limit).
    """
    sizes: dict[int, int] = {}
    heights: dict[int, int] = {}
    busy: set[int] = set()
    stack: list[tuple[Node, bool]] = [(root, False)]
    while stack:
        node, done = stack.pop()
        key = id(node)
        if done:
            kids = _kids(node)
            sizes[key] = 1 + sum(sizes[id(k)] for k in kids)
            heights[key] = 1 + max((heights[id(k)] for k in kids), default=0)
            busy.discard(key)
        elif key not in sizes:
            if key in busy:
                return None  # a recursive alias: the converter's depth limit refuses it
            busy.add(key)
            stack.append((node, True))
            stack.extend((k, False) for k in reversed(_kids(node)) if id(k) not in sizes)
    wanted = MAX_NODES + 1
    if sizes[id(root)] < wanted:
        return None
    node, depth = root, 0
    while wanted > 1:
        wanted -= 1
        for kid in _kids(node):
            size = sizes[id(kid)]
            if wanted <= size:
                node, depth = kid, depth + 1
                break
            if depth + heights[id(kid)] > MAX_DEPTH:
                return None  # a too-deep value comes first: the converter says so
            wanted -= size
        if depth > MAX_DEPTH:
            return None
    return node


def _mark(node: Node) -> tuple[int, int]:
    return node.start_mark.line + 1, node.start_mark.column + 1


class _Converter:
    """Turns a composed YAML node graph into plain data while recording positions."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.count = 0
        self.values: dict[Loc, tuple[int, int]] = {}
        self.keys: dict[Loc, tuple[int, int]] = {}

    def fail(self, node: Node, message: str) -> InputError:
        line, col = _mark(node)
        return InputError(Problem(self.path, line, col, message))

    def convert(self, node: Node, loc: Loc) -> Any:
        self.count += 1
        if self.count > MAX_NODES:
            raise self.fail(node, _TOO_MANY)
        if len(loc) > MAX_DEPTH:
            raise self.fail(node, f"nesting deeper than {MAX_DEPTH} levels")
        self.values[loc] = _mark(node)
        if isinstance(node, ScalarNode):
            return self.scalar(node)
        if isinstance(node, SequenceNode):
            self.check_tag(node, f"{_TAG}seq")
            return [self.convert(child, (*loc, i)) for i, child in enumerate(node.value)]
        if isinstance(node, MappingNode):
            self.check_tag(node, f"{_TAG}map")
            out: dict[str, Any] = {}
            for key_node, value_node in node.value:
                if not isinstance(key_node, ScalarNode):
                    raise self.fail(key_node, "a key must be a plain word, not a list or mapping")
                self.check_tag(key_node, None)
                key = str(key_node.value)
                if key == "<<":
                    raise self.fail(key_node, "merge keys (<<) are not supported")
                if key in out:
                    raise self.fail(key_node, f"key {key!r} is repeated")
                self.keys[(*loc, key)] = _mark(key_node)
                out[key] = self.convert(value_node, (*loc, key))
            return out
        raise self.fail(node, "unsupported YAML node")  # pragma: no cover - composer never does

    def check_tag(self, node: Node, allowed: str | None) -> None:
        tag = node.tag or ""
        if tag == allowed or tag in _PLAIN_TAGS or tag in _CORE_SCALAR_TAGS:
            return
        raise self.fail(node, f"tag {tag.replace(_TAG, '!!')!r} is not allowed in massager files")

    def scalar(self, node: ScalarNode) -> Any:
        self.check_tag(node, None)
        text: str = node.value
        tag = node.tag
        if tag not in _CORE_SCALAR_TAGS or node.style:  # plain: None, or "" from libyaml
            return text
        # YAML 1.1 reads yes/no/on/off as booleans and 1:30 as a number; keep them as text.
        if tag.endswith("bool") and text.lower() not in _BOOL_WORDS:
            return text
        if tag.endswith(("int", "float")) and ":" in text:
            return text
        try:
            return _constructor.construct_object(node)
        except (ConstructorError, ValueError):
            return text


def read_text(path: Path, *, display: str | None = None, max_bytes: int = MAX_BYTES) -> str:
    """Read a file as UTF-8 text, refusing missing, huge and binary files with a Problem."""
    shown = display or str(path)
    try:
        size = path.stat().st_size
        if not path.is_file():
            raise InputError(Problem(shown, 1, 1, "not a file"))
        if size > max_bytes:
            raise InputError(
                Problem(shown, 1, 1, f"file is {size:,} bytes; the limit is {max_bytes:,} bytes")
            )
        raw = path.read_bytes()
    except FileNotFoundError:
        raise InputError(Problem(shown, 1, 1, "no such file")) from None
    except OSError as exc:
        raise InputError(Problem(shown, 1, 1, f"cannot read: {exc.strerror}")) from None
    if b"\x00" in raw:
        raise InputError(Problem(shown, 1, 1, "not a text file (it holds NUL bytes)"))
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        col = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        raise InputError(Problem(shown, line, col, "not UTF-8 text")) from None


def parse(text: str, path: str, *, max_bytes: int = MAX_BYTES) -> Located:
    """Parse YAML `text` (named `path` in messages) into a Located mapping."""
    if len(text) > max_bytes:
        raise InputError(
            Problem(path, 1, 1, f"text is {len(text):,} characters; the limit is {max_bytes:,}")
        )
    global parses
    parses += 1
    try:
        node = yaml.compose(text, Loader=_LOADER)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        what = _problem_text(exc.problem or "", text, mark.index if mark else -1)
        raise InputError(Problem(path, line, col, f"malformed YAML: {what}")) from None
    except yaml.YAMLError as exc:
        raise InputError(Problem(path, 1, 1, f"malformed YAML: {exc}")) from None
    except RecursionError:
        raise InputError(Problem(path, 1, 1, "malformed YAML: nested too deeply")) from None
    if node is None:
        raise InputError(Problem(path, 1, 1, "file is empty"))
    converter = _Converter(path)
    bomb = _first_value_past_limit(node) if "*" in text else None  # no alias, no bomb
    if bomb is not None:
        raise converter.fail(bomb, _TOO_MANY)
    data = converter.convert(node, ())
    if not isinstance(data, dict):
        line, col = _mark(node)
        raise InputError(
            Problem(path, line, col, f"expected a mapping of keys at the top, found {_kind(data)}")
        )
    return Located(data, path, converter.values, converter.keys)


def load(path: Path, *, display: str | None = None, max_bytes: int = MAX_BYTES) -> Located:
    """Read and parse the YAML file at `path` (shown as `display` in messages)."""
    shown = display or str(path)
    located = parse(read_text(path, display=shown, max_bytes=max_bytes), shown)
    located.file = path
    return located


def from_data(data: dict[str, Any], path: str = "<data>") -> Located:
    """Wrap already-built data (no positions known) so it can be validated like a file."""
    return Located(data, path)


def parse_scalar(text: str) -> Any:
    """Read one command-line value the way YAML reads a plain scalar (`0.5`, `true`, `90s`)."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        return text
    if not isinstance(node, ScalarNode):
        return text
    try:
        return _Converter("<value>").scalar(node)
    except InputError:
        return text


def _kind(value: object) -> str:
    if isinstance(value, list):
        return "a list"
    if value is None:
        return "nothing"
    return f"the value {value!r}"
