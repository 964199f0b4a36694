"""Turn pydantic validation errors into located, readable problems, with suggestions."""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Iterable
from typing import Any, get_args

from pydantic import BaseModel, ValidationError

from massager.errors import Problem
from massager.yamlio import Loc, Located


class At(ValueError):
    """A validation error about one field of the model being validated.

    Raised by a model validator, it is reported at `loc` (relative to that model)
    instead of at the model as a whole (at its key, with `key`).
    """

    def __init__(self, loc: Loc, message: str, *, key: bool = False) -> None:
        super().__init__(message)
        self.loc = loc
        self.key = key


def did_you_mean(word: object, choices: Iterable[str]) -> str:
    """` (did you mean 'x'?)` for the choice closest to `word`, or "" when none is close."""
    if not isinstance(word, str):
        return ""
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    if not close:
        lowered = {c.lower(): c for c in choices}
        close = difflib.get_close_matches(word.lower(), list(lowered), n=1, cutoff=0.6)
        close = [lowered[c] for c in close]
    return f" (did you mean {close[0]!r}?)" if close and close[0] != word else ""


def _field(loc: Loc) -> str:
    names = [str(p) for p in loc if isinstance(p, str)]
    return names[-1] if names else "value"


def fields_at(cls: type[BaseModel], loc: Loc) -> list[str]:
    """The fields (as written) of the model that holds the last item of `loc`, from `cls`.

    Follows nested models (a curve's `keyframes`, its `offset`) so an unknown key
    lists what is allowed where it was written; stops where the way is not unique.
    """
    current = cls
    for part in loc[:-1]:
        if isinstance(part, int):
            continue
        field = next(
            (f for n, f in current.model_fields.items() if part in (n, f.alias)),
            None,
        )
        nested = _only_model(field.annotation) if field is not None else None
        if nested is None:
            break
        current = nested
    return written_names(current)


def written_names(cls: type[BaseModel]) -> list[str]:
    """Every key a file may write for a field of `cls`: its alias, and its own name too
    where the model takes both (`max_on` and `max_on_ms` in a rig)."""
    both = bool(cls.model_config.get("populate_by_name"))
    names: list[str] = []
    for n, f in cls.model_fields.items():
        names += [f.alias, n] if both and f.alias and f.alias != n else [f.alias or n]
    return names


def _only_model(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    found = {m for arg in get_args(annotation) if (m := _only_model(arg)) is not None}
    return found.pop() if len(found) == 1 else None


def message(error: dict[str, Any], allowed: Iterable[str] = ()) -> str:
    """A one-line message for one pydantic error, phrased for a file's author."""
    kind = error.get("type", "")
    loc: Loc = tuple(error.get("loc", ()))
    name = _field(loc)
    if kind == "extra_forbidden":
        known = ", ".join(sorted(allowed))
        hint = did_you_mean(name, allowed)
        return f"unknown field {name!r}{hint}" + (f"; allowed here: {known}" if known else "")
    if kind == "literal_error":
        expected = re.findall(r"'([^']*)'", str(error.get("ctx", {}).get("expected", "")))
        got = error.get("input")
        shown = f" (got {got!r})" if isinstance(got, str | int | float | bool) else ""
        return f"{name}: choose one of {', '.join(expected)}{shown}{did_you_mean(got, expected)}"
    if kind == "missing":
        return f"missing field {name!r}"
    text = str(error.get("msg", "invalid value"))
    for prefix in ("Value error, ", "Assertion failed, "):
        if text.startswith(prefix):
            return text[len(prefix) :]
    if kind.startswith(("greater", "less")) or kind in {
        "int_parsing",
        "float_parsing",
        "int_type",
        "float_type",
        "bool_type",
        "bool_parsing",
        "string_type",
        "list_type",
        "dict_type",
        "literal_error",
        "string_pattern_mismatch",
        "too_short",
        "too_long",
        "string_too_short",
        "string_too_long",
        "int_from_float",
        "finite_number",
        "model_type",
    }:
        got = error.get("input")
        shown = f" (got {got!r})" if isinstance(got, str | int | float | bool) else ""
        return f"{name}: {text[0].lower()}{text[1:].replace(' after validation', '')}{shown}"
    return f"{name}: {text}"


def problems(
    exc: ValidationError,
    doc: Located,
    base: Loc = (),
    allowed: Iterable[str] | Callable[[Loc], Iterable[str]] = (),
) -> list[Problem]:
    """Located problems for every error of `exc`, raised validating `doc` at `base`.

    `allowed` names the fields an unknown field could have been (or says so per location).
    """
    out: list[Problem] = []
    fixed = () if callable(allowed) else tuple(allowed)
    for error in exc.errors():
        cause = error.get("ctx", {}).get("error")
        inner = cause.loc if isinstance(cause, At) else ()
        loc = (*base, *error["loc"], *inner)
        is_key = error["type"] == "extra_forbidden" or (isinstance(cause, At) and cause.key)
        names = allowed(tuple(error["loc"])) if callable(allowed) else fixed
        problem = doc.problem(loc, message(dict(error), names), key=is_key)
        if problem not in out:
            out.append(problem)
    return out
