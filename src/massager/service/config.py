"""The service's configuration: a TOML file (standard library tomllib) under command-line options.

Looked for at `--config PATH`, else `$MASSAGER_CONFIG`, else
`~/.config/massager/config.toml` (`$XDG_CONFIG_HOME`), else `/etc/massager/config.toml`.
Every value in force remembers where it came from, for `massager serve --print-config`.
"""

from __future__ import annotations

import ipaddress
import os
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from massager.errors import InputError, Problem, UsageError
from massager.limits import DEFAULT_CAP_MS, HARD_CAP_MS
from massager.service.mqtt_config import MqttConfig
from massager.units import format_duration, parse_duration_ms

DEFAULT_LISTEN = "127.0.0.1:8765"


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class DeviceSection(_Section):
    """`[device]`: what `massager serve` drives."""

    device: str = Field("sim", description="as --device: sim, serial[:PORT], gpio")
    rig: str = Field("reference", description="as --rig: a rig file or bundled rig name")


class ServeSection(_Section):
    """`[serve]`: how the service is reached and its limits."""

    listen: str = Field(DEFAULT_LISTEN, description="host:port; non-loopback requires a token")
    token: str = Field("", description="empty: generated on the first LAN start, kept")
    deadman: str = Field("30s", description='remote dead-man time, or "off"')
    session_cap: str = Field("20m", description="longest session")
    socket: str = Field("", description="Unix socket path; empty: the default")
    history: str = Field("", description="SQLite history path; empty: the default")

    @field_validator("listen")
    @classmethod
    def _listen(cls, value: str) -> str:
        parse_listen(value)
        return value

    @field_validator("deadman")
    @classmethod
    def _deadman(cls, value: str) -> str:
        parse_deadman(value)
        return value

    @field_validator("session_cap")
    @classmethod
    def _cap(cls, value: str) -> str:
        parse_cap(value)
        return value


class ServiceConfig(_Section):
    """The whole file: `[device]`, `[serve]`, and `[mqtt]` (the Home Assistant bridge)."""

    device: DeviceSection = Field(default_factory=DeviceSection)
    serve: ServeSection = Field(default_factory=ServeSection)
    mqtt: MqttConfig = Field(default_factory=MqttConfig)


def parse_listen(text: str) -> tuple[str, int]:
    """`host:port` (`[v6]:port` too) -> (host, port); ValueError naming the problem."""
    match = re.fullmatch(r"\[([0-9A-Fa-f:.]+)\]:(\d+)|([^:\[\]]+):(\d+)", text.strip())
    if not match:
        raise ValueError(f"{text!r}: write host:port, e.g. 127.0.0.1:8765 or 0.0.0.0:8765")
    host = match.group(1) or match.group(3)
    port = int(match.group(2) or match.group(4))
    if not 0 <= port <= 65535:
        raise ValueError(f"{text!r}: the port must be 0..65535")
    return host, port


def is_loopback(host: str) -> bool:
    """Whether `host` only reaches this machine (127.0.0.0/8, ::1, localhost)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def parse_deadman(text: str) -> float | None:
    """`"30s"`, `"1m"` -> seconds; `"off"` -> None."""
    if text.strip().lower() == "off":
        return None
    ms = parse_duration_ms(text)
    if ms <= 0:
        raise ValueError(f"{text!r}: give a time above zero, or off")
    return ms / 1000.0


def parse_cap(text: str) -> int:
    """A session cap in ms, above zero and at most the hard cap (60 min)."""
    ms = parse_duration_ms(text)
    if not 0 < ms <= HARD_CAP_MS:
        raise ValueError(
            f"{text!r}: give a time above zero, at most {format_duration(HARD_CAP_MS)}"
        )
    return ms


def config_paths() -> list[Path]:
    """Where the config file is looked for when no --config is given, in order."""
    paths = []
    env = os.environ.get("MASSAGER_CONFIG")
    if env:
        paths.append(Path(env))
    home = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    paths.append(Path(home) / "massager" / "config.toml")
    paths.append(Path("/etc/massager/config.toml"))
    return paths


def state_dir() -> Path:
    """`$XDG_STATE_HOME/massager`, else `~/.local/state/massager` (the token, the history)."""
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "massager"


def runtime_dir() -> Path:
    """`$XDG_RUNTIME_DIR/massager`, else `/tmp/massager-UID` (the Unix socket)."""
    base = os.environ.get("XDG_RUNTIME_DIR")
    return Path(base) / "massager" if base else Path(f"/tmp/massager-{os.getuid()}")


def default_socket() -> Path:
    """The Unix socket `massager serve` listens on and `massager remote` talks to by default."""
    return runtime_dir() / "api.sock"


@dataclass
class Loaded:
    """The config in force and, for each `section.key`, where its value came from."""

    config: ServiceConfig
    path: Path | None
    sources: dict[str, str] = field(default_factory=dict)
    mqtt_given: frozenset[str] = frozenset()
    """The `[mqtt]` keys the file set."""

    def value(self, key: str) -> Any:
        """The value of `section.key`."""
        section, _, name = key.partition(".")
        return getattr(getattr(self.config, section), name)


def _where(loc: tuple[int | str, ...]) -> str:
    return ".".join(str(p) for p in loc)


def _msg(msg: str) -> str:
    return str(msg).removeprefix("Value error, ")


def _toml_problem(path: Path, exc: tomllib.TOMLDecodeError) -> Problem:
    text = str(exc)
    match = re.search(r"\(at line (\d+), column (\d+)\)", text)
    line, col = (int(match.group(1)), int(match.group(2))) if match else (1, 1)
    return Problem(str(path), line, col, re.sub(r"\s*\(at line.*\)$", "", text))


def load_config(path: Path | None = None, overrides: dict[str, Any] | None = None) -> Loaded:
    """Read the config file (`path`, else the first of config_paths() that exists) and apply
    `overrides` (`{"device.device": value, ...}` from the command line, None values skipped).

    InputError (file:line:col) for a bad file, UsageError for a bad option value.
    """
    found = path
    if found is None:
        found = next((p for p in config_paths() if p.is_file()), None)
    elif not found.is_file():
        raise UsageError(f"--config {str(found)!r}: no such file")
    data: dict[str, Any] = {}
    if found is not None:
        try:
            data = tomllib.loads(found.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise InputError(_toml_problem(found, exc)) from None
        except (OSError, UnicodeDecodeError) as exc:
            raise InputError(Problem(str(found), 1, 1, f"cannot read: {exc}")) from None
    try:
        config = ServiceConfig.model_validate(data)
    except ValidationError as exc:
        problems = [
            Problem(str(found), 1, 1, f"{_where(e['loc'])}: {_msg(e['msg'])}") for e in exc.errors()
        ]
        raise InputError(problems) from None
    sources: dict[str, str] = {}
    for section in ("device", "serve"):
        given = data.get(section, {})
        for key in type(getattr(config, section)).model_fields:
            sources[f"{section}.{key}"] = str(found) if key in given else "default"
    for key, value in (overrides or {}).items():
        if value is None:
            continue
        section, _, name = key.partition(".")
        updated = getattr(config, section).model_copy(update={name: value})
        try:
            type(updated).model_validate(updated.model_dump())
        except ValidationError as exc:
            message = str(exc.errors()[0]["msg"]).removeprefix("Value error, ")
            raise UsageError(f"--{name.replace('_', '-')}: {message}") from None
        setattr(config, section, updated)
        sources[key] = f"--{name.replace('_', '-')}"
    mqtt = data.get("mqtt", {})
    return Loaded(
        config=config,
        path=found,
        sources=sources,
        mqtt_given=frozenset(mqtt if isinstance(mqtt, dict) else ()),
    )


def describe_config(loaded: Loaded, notes: dict[str, str] | None = None) -> str:
    """`--print-config`: every value in force as TOML, each with where it came from (and the
    `notes` given for some keys, such as the path an empty value stands for)."""
    lines = [f"# config file: {loaded.path or 'none found'}"]
    rows: dict[str, list[tuple[str, Any, str]]] = {}
    for key, source in loaded.sources.items():
        section, _, name = key.partition(".")
        value = loaded.value(key)
        if name == "token" and value:
            value = value[:4] + "..."
        note = (notes or {}).get(key)
        rows.setdefault(section, []).append((name, value, f"{source}; {note}" if note else source))
    for section, entries in rows.items():
        lines.append(f"[{section}]")
        for name, value, source in entries:
            lines.append(f"{name} = {json_value(value)}  # {source}")
    given = loaded.mqtt_given
    lines.append("[mqtt]")
    for name, value in loaded.config.mqtt.model_dump().items():
        if name == "password" and value:
            value = "..."
        source = str(loaded.path) if name in given else "default"
        lines.append(f"{name} = {json_value(value)}  # {source}")
    return "\n".join(lines) + "\n"


def json_value(value: Any) -> str:
    """A TOML-ish rendering of a scalar (strings quoted, booleans lower-case)."""
    import json

    return json.dumps(value)


DEFAULT_CAP = format_duration(DEFAULT_CAP_MS)
