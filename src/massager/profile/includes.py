"""Includes of a profile: found, checked and built once per file and `set:` values.

An include is looked up in the including profile's own folder (never outside it) and
then among the bundled profiles; cycles, too deep a nesting and too many different
builds are refused, each located at the include that asks for it.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from massager import bundled, yamlio
from massager.diagnostics import did_you_mean
from massager.errors import InputError, Problem
from massager.profile.model import Include, Profile
from massager.yamlio import Loc, Located

if TYPE_CHECKING:
    from massager.profile.loader import _Builder

MAX_INCLUDE_DEPTH = 16
MAX_INCLUDE_BUILDS = 256
"""Most different profiles (file and set: values) the includes of one load may build."""

Passed = tuple[Located, Loc, str | None]
"""Where a passed-in param's value was written: document, location, the --set behind it."""


def resolve_ref(ref: str, base_dir: Path | None) -> Path | None:
    """The file an include or a command-line reference names, or None if not found.

    A reference is looked up under `base_dir` (without leaving it) and then
    among the bundled profiles. Raises ValueError if it tries to leave.
    """
    if base_dir is not None:
        rel = Path(ref)
        if rel.is_absolute() or ".." in rel.parts or rel.drive:
            raise ValueError("escapes")
        root = base_dir.resolve()
        names = [ref] if rel.suffix in bundled.SUFFIXES else [f"{ref}.yaml", f"{ref}.yml", ref]
        for name in names:
            candidate = base_dir / name
            if candidate.is_file():
                if not candidate.resolve().is_relative_to(root):
                    raise ValueError("escapes")
                return candidate
    if "/" in ref or "\\" in ref:
        return None
    return bundled.find("profiles", ref)


class Loads:
    """What one load has read and built, so that every file is parsed once and every
    include (a file with the same `set:` values) is built once, however often it is
    included: a fan-out of includes costs what its files cost, not their product.
    """

    def __init__(self) -> None:
        self.documents: dict[Path, Located] = {}
        self.built: dict[tuple[Path, str], Profile | list[Problem]] = {}

    def document(self, path: Path, display: str) -> Located:
        """The parsed file at `path` (shown as `display` the first time it was read)."""
        resolved = path.resolve()
        doc = self.documents.get(resolved)
        if doc is None:
            doc = self.documents[resolved] = yamlio.load(path, display=display)
        return doc


class Includes:
    """The includes met while building one profile document (`builder`): each is found,
    checked, built (or taken from the load's earlier builds) and its problems located."""

    def __init__(self, builder: _Builder) -> None:
        self.builder = builder

    def include(self, raw: dict[str, Any], loc: Loc) -> Include | None:
        """The include entry `raw` at `loc`, with its profile; None (problems added) if bad."""
        b = self.builder
        model = b.validate(Include, raw, loc)
        if not isinstance(model, Include):
            return None
        base_dir = b.doc.file.parent if b.doc.file else None
        path = self.find(model.include, base_dir, (*loc, "include"))
        if path is None:
            return None
        done = self.built(model, path, base_dir, loc)
        if done is None:
            return None
        if isinstance(done, list):
            b.problems.extend(done)
            return None
        model._profile = done
        return model

    def find(self, ref: str, base_dir: Path | None, where: Loc) -> Path | None:
        """The file include `ref` names; None (a problem at `where`) if it is not allowed."""
        b = self.builder
        try:
            path = resolve_ref(ref, base_dir)
        except ValueError:
            b.add(
                where,
                f"include {ref!r} escapes the allowed folders "
                "(the profile's own folder and the bundled profiles)",
            )
            return None
        if path is None:
            looked = "next to this profile nor " if base_dir else ""
            choices = bundled.names("profiles")
            if base_dir is not None and base_dir.is_dir():
                choices += [f.stem for f in base_dir.iterdir() if f.suffix in bundled.SUFFIXES]
            hint = did_you_mean(ref, choices)
            b.add(where, f"include {ref!r} not found {looked}among the bundled profiles{hint}")
            return None
        resolved = path.resolve()
        if resolved in b.stack:
            chain = [p.name for p in b.stack[b.stack.index(resolved) :]] + [resolved.name]
            b.add(where, f"include cycle: {' -> '.join(chain)}")
            return None
        if len(b.stack) >= MAX_INCLUDE_DEPTH:
            b.add(where, f"includes nested deeper than {MAX_INCLUDE_DEPTH}")
            return None
        return path

    def built(
        self, model: Include, path: Path, base_dir: Path | None, loc: Loc
    ) -> Profile | list[Problem] | None:
        """The profile `model` includes from `path` (built once per `set:` values), or the
        included file's problems; None if this include's own problems were added."""
        b = self.builder
        passed = self.passed_on(model.set, loc)
        where_passed = sorted((k, d.path, at, opt) for k, (d, at, opt) in passed.items())
        key = (path.resolve(), repr(sorted(model.set.items())) + repr(where_passed))
        done = b.loads.built.get(key)
        if done is None:
            if len(b.loads.built) >= MAX_INCLUDE_BUILDS:
                b.add(
                    (*loc, "include"),
                    f"includes build more than {MAX_INCLUDE_BUILDS} different profiles "
                    "(a file included with other set: values counts again); refusing to go on",
                )
                return None
            done = self.build(path, (*loc, "set"), model.set, passed)
            if done is not None:
                b.loads.built[key] = done
        return done

    def passed_on(self, values: dict[str, Any], loc: Loc) -> dict[str, Passed]:
        """Where each value an include's `set:` passes was written (for its problems)."""
        b = self.builder
        passed: dict[str, Passed] = {}
        for name in values:
            at = b.doc.align((*loc, "set", name))
            ref = b.substituted.get(at)
            option = None
            if ref is not None and ref in b.cli_values:
                option = f"--set {ref}={b.cli_values[ref]}"
            elif ref is not None and ref in b.passed:
                # passed down again: keep pointing at where the user wrote it
                passed[name] = b.passed[ref]
                continue
            passed[name] = (b.doc, at, option)
        return passed

    def build(
        self, path: Path, set_loc: Loc, values: dict[str, Any], passed: dict[str, Passed]
    ) -> Profile | list[Problem] | None:
        """The profile an include builds, or its problems; None if its `set:` was refused
        (those problems are located here, so they are not cached with the file's)."""
        b = self.builder
        refused: list[Problem] = []

        def bad_set(name: str, value: Any, error: str) -> None:
            refused.append(b.doc.problem((*set_loc, name), error, key=True))
            raise InputError(refused)

        try:
            # a bundled profile is shown by its real path, so the user can open it
            doc = b.loads.document(path, str(path))
            sub = type(b)(doc, (*b.stack, path.resolve()), b.loads)
            sub.passed = passed
            return sub.build(values, bad_set)
        except InputError as exc:
            if refused:
                b.problems.extend(refused)
                return None
            return exc.problems
