"""Read profiles from YAML: params substituted, steps validated, includes resolved.

Every problem is reported as ``PATH:LINE:COL: message`` at the offending key
or value; independent problems (in different steps, say) are reported together.
Includes are looked up in the including profile's own folder (never outside
it) and then among the bundled profiles; cycles are refused.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, cast

from pydantic import BaseModel, ValidationError

from massager import diagnostics, yamlio
from massager.diagnostics import did_you_mean
from massager.errors import InputError, Problem, UsageError
from massager.profile.includes import Includes, Loads, Passed
from massager.profile.model import (
    PARAM_NAME,
    RESERVED_TECHNIQUES,
    TECHNIQUES,
    Group,
    Item,
    Origin,
    Parallel,
    Profile,
    Repeat,
    Rest,
)
from massager.yamlio import Loc, Located

_REF = re.compile(r"^\$([a-z_][a-z0-9_]*)$")
_TOP_KEYS = ("name", "description", "params", "steps")
_BLOCK_KEYS = ("parallel", "repeat", "steps", "include")
_PLACEHOLDER = Rest.model_validate({"technique": "rest", "duration": "1s"})


def load(
    path: Path, *, params: Mapping[str, Any] | None = None, display: str | None = None
) -> Profile:
    """Load the profile at `path` (named `display` in messages).

    `params` override its params (values, or text from the command line).
    """
    loads = Loads()
    doc = loads.document(path, display or str(path))
    return build(doc, params=params, stack=(path.resolve(),), loads=loads)


def from_document(doc: Located) -> Profile:
    """Build a profile from a file already parsed by `yamlio.load` (it is not read again)."""
    if doc.file is None:
        return build(doc)
    loads = Loads()
    loads.documents[doc.file.resolve()] = doc
    return build(doc, stack=(doc.file.resolve(),), loads=loads)


def from_data(
    data: dict[str, Any],
    *,
    path: str = "<data>",
    params: Mapping[str, Any] | None = None,
) -> Profile:
    """Build a profile from already-parsed data (no positions; includes: bundled only)."""
    return build(yamlio.from_data(data, path), params=params)


def with_params(profile: Profile, params: Mapping[str, Any]) -> Profile:
    """The same profile with some params overridden (validated again)."""
    doc = profile._doc
    if doc is None:
        raise UsageError("this profile was not built by the loader; cannot override params")
    stack = (doc.file.resolve(),) if doc.file is not None else ()
    return build(doc, params=params, stack=stack, loads=profile._loads)


def build(
    doc: Located,
    *,
    params: Mapping[str, Any] | None = None,
    stack: tuple[Path, ...] = (),
    cli: bool = True,
    loads: Loads | None = None,
) -> Profile:
    """Validate a parsed profile document into a Profile.

    `params` overrides from the command line (`cli`) raise UsageError when they
    name no param or do not fit its type; from an include's `set:` they are
    located problems.
    """
    return _Builder(doc, stack, loads or Loads()).build(params or {}, _raise_usage if cli else None)


def parse_set_options(options: list[str] | None) -> dict[str, str]:
    """Split `--set K=V` options into a dict; UsageError on a malformed one."""
    out: dict[str, str] = {}
    for option in options or []:
        key, sep, value = option.partition("=")
        key = key.strip()
        if not sep or not key:
            raise UsageError(f"--set {option!r}: write it as NAME=VALUE, e.g. strength=0.5")
        out[key] = value.strip()
    return out


class _Builder:
    """One pass over a profile document, collecting problems as it goes."""

    def __init__(self, doc: Located, stack: tuple[Path, ...], loads: Loads) -> None:
        self.doc = doc
        self.stack = stack
        self.loads = loads
        self.problems: list[Problem] = []
        self.substituted: dict[Loc, str] = {}  # where a param was substituted: its name
        self.unknown_refs: set[Loc] = set()
        self.cli_values: dict[str, Any] = {}  # params overridden on the command line
        self.cli_problem: UsageError | None = None
        self.params_used: dict[str, Any] = {}
        # params an including profile passed in `set:`: where it wrote each value, and
        # the `--set NAME=VALUE` option it came from, if it came from one
        self.passed: dict[str, Passed] = {}
        self.includes = Includes(self)

    def add(self, loc: Loc, message: str, *, key: bool = False) -> None:
        self.problems.append(self.doc.problem(loc, message, key=key))

    def build(self, overrides: Mapping[str, Any], on_bad: _OnBad | None) -> Profile:
        data: dict[str, Any] = self.doc.data
        if on_bad in (None, _raise_usage):
            self.cli_values = dict(overrides)
        for key in data:
            if key not in _TOP_KEYS:
                hint = did_you_mean(key, _TOP_KEYS)
                self.add(
                    (key,),
                    f"unknown field {key!r}{hint}; allowed: {', '.join(_TOP_KEYS)}",
                    key=True,
                )
        params = self.params(data.get("params", {}), overrides, on_bad or _raise_usage)
        self.params_used = params
        steps_raw = data.get("steps")
        items: list[Item] = []
        if steps_raw is None:
            self.add((), "missing field 'steps': a profile needs a list of steps")
        elif not isinstance(steps_raw, list) or not steps_raw:
            self.add(("steps",), "steps must be a non-empty list")
        else:
            substituted = self.substitute(steps_raw, ("steps",), params)
            items = self.items(substituted, ("steps",))
        head = {k: v for k, v in data.items() if k in ("name", "description")}
        if "name" not in head:
            stem = self.doc.file.stem if self.doc.file else "profile"
            head["name"] = re.sub(r"[^a-z0-9_-]", "-", stem.lower()).strip("-_") or "profile"
        profile: Profile | None = None
        try:
            profile = Profile.model_validate(
                {**head, "params": params, "steps": items or [_PLACEHOLDER]}
            )
        except ValidationError as exc:
            self.problems.extend(diagnostics.problems(exc, self.doc, (), _TOP_KEYS))
        if self.cli_problem is not None:
            raise self.cli_problem
        if self.problems or profile is None:
            raise InputError(_dedupe(self.problems))
        profile._origin = Origin(self.doc, ())
        profile._doc = self.doc
        profile._loads = self.loads
        return profile

    def params(self, raw: object, overrides: Mapping[str, Any], on_bad: _OnBad) -> dict[str, Any]:
        if not isinstance(raw, dict):
            self.add(("params",), "params must be a mapping of names to values")
            raw = {}
        params: dict[str, Any] = {}
        for name, value in raw.items():
            if not re.match(PARAM_NAME, name):
                self.add(("params", name), f"param name {name!r} must be lower_case", key=True)
            elif isinstance(value, list | dict) or value is None:
                self.add(("params", name), f"param {name!r} needs a single value (number or text)")
            else:
                params[name] = value
        for name, value in overrides.items():
            error = _override_error(name, value, raw, params)
            if error is None:
                params[name] = _coerce(value, params[name])
            else:
                on_bad(name, value, error)
        return params

    def substitute(self, node: Any, loc: Loc, params: Mapping[str, Any]) -> Any:
        if isinstance(node, dict):
            return {k: self.substitute(v, (*loc, k), params) for k, v in node.items()}
        if isinstance(node, list):
            return [self.substitute(v, (*loc, i), params) for i, v in enumerate(node)]
        if isinstance(node, str) and (match := _REF.match(node)):
            name = match.group(1)
            if loc[-1:] == ("technique",):
                self.add(loc, f"technique must be written out, not a param (${name})")
                self.unknown_refs.add(loc)
                return node
            if name not in params:
                known = ", ".join(sorted(params)) or "none declared"
                hint = did_you_mean(name, params)
                self.add(loc, f"unknown param ${name}{hint}; params: {known}")
                self.unknown_refs.add(loc)
                return node
            self.substituted[loc] = name
            return params[name]
        return node

    def items(self, raw: list[Any], loc: Loc) -> list[Item]:
        out: list[Item] = []
        for i, entry in enumerate(raw):
            item = self.item(entry, (*loc, i))
            if item is not None:
                out.append(item)
        return out

    def item(self, raw: Any, loc: Loc) -> Item | None:
        if not isinstance(raw, dict):
            self.add(loc, "a step must be a mapping such as {technique: rub, duration: 90s}")
            return None
        if "technique" in raw:
            return self.step(raw, loc)
        if "parallel" in raw:
            return self.block(Parallel, raw, loc, "parallel")
        if "repeat" in raw:
            return self.block(Repeat, raw, loc, "steps")
        if "include" in raw:
            return self.includes.include(raw, loc)
        if "steps" in raw:
            return self.block(Group, raw, loc, "steps")
        keys = [k for k in raw if isinstance(k, str)]
        hints = [h for k in keys if (h := did_you_mean(k, ("technique", *_BLOCK_KEYS)))]
        self.add(
            loc,
            "this entry has no 'technique' (or block key: parallel, repeat, steps, include)"
            + (hints[0] if hints else ""),
        )
        return None

    def step(self, raw: dict[str, Any], loc: Loc) -> Item | None:
        technique = raw["technique"]
        cls = TECHNIQUES.get(technique) if isinstance(technique, str) else None
        if cls is None:
            if (*loc, "technique") in self.unknown_refs:
                return None  # a `$param` technique: said once already, where it was read
            if isinstance(technique, str) and technique in RESERVED_TECHNIQUES:
                why = RESERVED_TECHNIQUES[technique]
                self.add((*loc, "technique"), f"technique {technique!r} is reserved ({why})")
            else:
                hint = did_you_mean(technique, TECHNIQUES)
                self.add(
                    (*loc, "technique"),
                    f"unknown technique {technique!r}{hint}; known: {', '.join(TECHNIQUES)}",
                )
            return None
        return self.validate(cls, raw, loc)  # type: ignore[return-value]

    def validate(self, cls: type[BaseModel], raw: dict[str, Any], loc: Loc) -> BaseModel | None:
        try:
            model = cls.model_validate(raw)
        except ValidationError as exc:
            flagged = {self.doc.where(ref) for ref in self.unknown_refs}

            def allowed(at: Loc) -> list[str]:
                return diagnostics.fields_at(cls, at)

            for problem in diagnostics.problems(exc, self.doc, loc, allowed):
                if (problem.line, problem.col) not in flagged:
                    self.problems.append(self.annotate(problem, exc, loc))
            return None
        located = getattr(model, "located_problems", None)
        if located is not None:  # checks that need the whole step (a curve's keyframe order)
            found = [self.doc.problem((*loc, *where), message) for where, message in located()]
            if found:
                self.problems.extend(found)
                return None
        model._origin = Origin(self.doc, loc)  # type: ignore[attr-defined]
        return model

    def annotate(self, problem: Problem, exc: ValidationError, loc: Loc) -> Problem:
        """Say which param a bad value came from, when it came from one."""
        for error in exc.errors():
            aligned = self.doc.align((*loc, *error["loc"]))
            name = self.substituted.get(aligned)
            if name is None or (problem.line, problem.col) != self.doc.where(aligned):
                continue
            where = f"{problem.path}:{problem.line}:{problem.col}"
            if name in self.cli_values and self.cli_problem is None:
                # the value came from `--set`: a bad option, not a bad file
                self.cli_problem = UsageError(
                    f"--set {name}={self.cli_values[name]}: {problem.message} "
                    f"(where the profile uses {name}, at {where})"
                )
            value = self.params_used[name]
            if name in self.passed:
                return self.passed_problem(name, value, problem.message, where)
            return Problem(
                problem.path,
                problem.line,
                problem.col,
                f"{problem.message} (param {name} = {value!r})",
            )
        return problem

    def passed_problem(self, name: str, value: Any, message: str, where: str) -> Problem:
        """A bad value an including profile passed in: reported at its `set:` (or its --set)."""
        doc, loc, option = self.passed[name]
        text = f"{message} ({name} = {value!r} is passed to {self.doc.path}, used at {where})"
        problem = doc.problem(loc, text)
        if option is not None and self.cli_problem is None:
            at = f"{problem.path}:{problem.line}:{problem.col}"
            self.cli_problem = UsageError(f"{option}: {text}; passed on by the include at {at}")
        return problem

    def block(
        self, cls: type[BaseModel], raw: dict[str, Any], loc: Loc, child_key: str
    ) -> Item | None:
        children_raw = raw.get(child_key)
        before = len(self.problems)
        children: list[Item] = []
        if isinstance(children_raw, list):
            children = self.items(children_raw, (*loc, child_key))
            if len(self.problems) > before:
                children = [_PLACEHOLDER] * len(children_raw)
            return cast("Item | None", self.validate(cls, {**raw, child_key: children}, loc))
        if children_raw is None:
            self.add(loc, f"missing field {child_key!r}")
        else:
            self.add((*loc, child_key), f"{child_key} must be a list of steps")
        return None


_OnBad = Callable[[str, Any, str], None]


def _raise_usage(name: str, value: Any, error: str) -> None:
    raise UsageError(f"--set {name}={value}: {error}")


def _override_error(
    name: str, value: Any, declared: Mapping[str, Any], params: Mapping[str, Any]
) -> str | None:
    if name not in params:
        known = ", ".join(sorted(declared)) or "none"
        hint = did_you_mean(name, declared)
        return f"the profile has no param {name!r}{hint}; its params: {known}"
    default = params[name]
    parsed = yamlio.parse_scalar(value) if isinstance(value, str) else value
    if isinstance(default, bool):
        if not isinstance(parsed, bool):
            return f"{name} is true or false, not {value!r}"
    elif isinstance(default, int | float):
        if isinstance(parsed, bool) or not isinstance(parsed, int | float):
            return f"{name} is a number (default {default!r}), not {value!r}"
    elif isinstance(parsed, list | dict) or parsed is None:
        return f"{name} needs a single value"
    return None


def _coerce(value: Any, default: Any) -> Any:
    parsed = yamlio.parse_scalar(value) if isinstance(value, str) else value
    if isinstance(default, str):
        return str(value) if isinstance(value, str) else str(parsed)
    return parsed


def _dedupe(problems: list[Problem]) -> list[Problem]:
    seen: dict[Problem, None] = {}
    for problem in problems:
        seen.setdefault(problem, None)
    return list(seen)
