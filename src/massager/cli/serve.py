"""`massager serve` (the service), `massager remote ...` (a client of it), `massager history`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from massager.cli.app import App, app
from massager.errors import UsageError

ConfigOpt = Annotated[
    Path | None,
    typer.Option(
        "--config",
        help="The TOML config file (default: $MASSAGER_CONFIG, then "
        "~/.config/massager/config.toml, then /etc/massager/config.toml).",
    ),
]
SocketOpt = Annotated[
    Path | None,
    typer.Option(
        "--socket",
        help="The service's Unix socket (default: from the config, else "
        "$XDG_RUNTIME_DIR/massager/api.sock or /tmp/massager-UID/api.sock).",
    ),
]


@app.command()
def serve(
    device: Annotated[
        str | None,
        typer.Option("--device", "-d", help="sim, serial[:PORT_OR_URL] or gpio [config: sim]."),
    ] = None,
    rig: Annotated[
        str | None,
        typer.Option("--rig", "-r", help="A rig file or bundled rig [config: reference]."),
    ] = None,
    listen: Annotated[
        str | None,
        typer.Option(
            "--listen",
            metavar="HOST:PORT",
            help="Where to listen [config: 127.0.0.1:8765]; off loopback it needs the token.",
        ),
    ] = None,
    deadman: Annotated[
        str | None,
        typer.Option(
            "--deadman",
            metavar="DURATION",
            help='Remote dead-man time, e.g. 30s, or "off" [config: 30s].',
        ),
    ] = None,
    session_cap: Annotated[
        str | None,
        typer.Option(
            "--session-cap", metavar="DURATION", help="Longest session, up to 60m [config: 20m]."
        ),
    ] = None,
    socket_path: SocketOpt = None,
    history: Annotated[
        Path | None, typer.Option("--history", help="The SQLite session history file.")
    ] = None,
    config: ConfigOpt = None,
    print_config: Annotated[
        bool, typer.Option("--print-config", help="Print the settings in force and exit.")
    ] = False,
    speed: Annotated[
        float, typer.Option("--speed", help="Simulator only: run N times faster (up to 300).")
    ] = 1.0,
    trace: Annotated[
        Path | None, typer.Option("--trace", help="Write each session's trace to this CSV file.")
    ] = None,
    mqtt_forget: Annotated[
        bool,
        typer.Option(
            "--mqtt-forget",
            help="Remove the massager from Home Assistant (empty retained discovery) and exit.",
        ),
    ] = False,
) -> None:
    """Run the service: one device, the JSON-RPC API (websocket, HTTP, Unix socket), the page.

    Stop with Ctrl-C or SIGTERM: a session playing ramps down first.
    """
    import asyncio

    from massager import api
    from massager.service import config as cfg
    from massager.service.server import ServeSettings, load_or_make_token
    from massager.service.server import serve as run_service

    loaded = cfg.load_config(
        config,
        {
            "device.device": device,
            "device.rig": rig,
            "serve.listen": listen,
            "serve.deadman": deadman,
            "serve.session_cap": session_cap,
            "serve.socket": None if socket_path is None else str(socket_path),
            "serve.history": None if history is None else str(history),
        },
    )
    c = loaded.config
    host, port = cfg.parse_listen(c.serve.listen)
    auth = not cfg.is_loopback(host)
    sock = Path(c.serve.socket) if c.serve.socket else cfg.default_socket()
    hist = Path(c.serve.history) if c.serve.history else cfg.state_dir() / "history.sqlite"
    notes = {
        "serve.listen": "the token is required" if auth else "loopback: no token needed",
        "serve.socket": f"in force: {sock}",
        "serve.history": f"in force: {hist}",
    }
    if print_config:
        typer.echo(cfg.describe_config(loaded, notes), nl=False)
        return
    if mqtt_forget:
        from massager.service.mqtt_broker import forget_device

        asyncio.run(forget_device(c.mqtt))
        typer.echo(f"mqtt: removed {c.mqtt.node_id} from Home Assistant")
        return
    api.check_device(c.device.device, speed)
    from massager.cli.options import resolve_device
    from massager.runtime.owner import device_key

    token: str | None = c.serve.token or None
    if auth and token is None:
        token = load_or_make_token(cfg.state_dir() / "token")
    settings = ServeSettings(
        device=c.device.device,
        rig=c.device.rig,
        host=host,
        port=port,
        token=token,
        auth_required=auth,
        deadman_s=cfg.parse_deadman(c.serve.deadman),
        session_cap_ms=cfg.parse_cap(c.serve.session_cap),
        socket=sock,
        history=hist,
        speed=speed,
        trace=trace,
        mqtt=c.mqtt,
        device_key=device_key(*resolve_device(c.device.device)),
    )
    raise typer.Exit(asyncio.run(run_service(settings)))


remote_app = App(help="Control a running `massager serve` over its Unix socket.")
app.add_typer(remote_app, name="remote")


def _socket(given: Path | None, config: Path | None) -> Path:
    from massager.service import config as cfg

    if given is not None:
        return given
    loaded = cfg.load_config(config)
    return Path(loaded.config.serve.socket) if loaded.config.serve.socket else cfg.default_socket()


def _call(method: str, params: dict[str, Any], sock: Path | None, config: Path | None) -> Any:
    from massager.service.local import LocalClient

    with LocalClient(_socket(sock, config)) as client:
        return client.call(method, params)


def _show_status(status: dict[str, Any]) -> None:
    from massager.units import clock_text

    state = status["state"]
    line = state
    if status.get("profile"):
        line += (
            f": {status['profile']} {clock_text(status['session_ms'])} of "
            f"{clock_text(status['duration_ms'])}, intensity {status['intensity']:.2f}"
        )
    step = status.get("step")
    if step:
        line += f", step {step['index']}/{step['count']} {step['label']}"
    typer.echo(line)
    if status.get("controller"):
        typer.echo(f"controller: {status['controller']['name']}")
    if status.get("fault"):
        typer.echo(f"fault: {status['fault']['reason']}: {status['fault']['message']}")
    elif status.get("last_outcome") and state == "idle":
        last = status["last_outcome"]
        typer.echo(
            f"last session: {last['outcome']}" + (f": {last['message']}" if last["message"] else "")
        )


@remote_app.command("status")
def remote_status(socket_path: SocketOpt = None, config: ConfigOpt = None) -> None:
    """Print the service's state, profile, time, intensity and step."""
    _show_status(_call("status.get", {}, socket_path, config))


@remote_app.command("start")
def remote_start(
    profile: Annotated[str, typer.Argument(metavar="PROFILE", help="A bundled profile's name.")],
    intensity: Annotated[float, typer.Option("--intensity", "-i", help="0 to 1.")] = 1.0,
    sets: Annotated[
        list[str] | None,
        typer.Option("--set", metavar="NAME=VALUE", help="Override a profile parameter."),
    ] = None,
    socket_path: SocketOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Start a profile on the service's device."""
    from massager import api
    from massager.cli.options import check_intensity

    check_intensity(intensity)
    params: dict[str, Any] = {"intensity": intensity, "params": api.parse_sets(sets)}
    path = Path(profile)
    if path.is_file():
        try:
            params["text"] = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise UsageError(f"cannot read {profile!r}: {exc}") from None
    else:
        params["profile"] = profile
    _show_status(_call("session.start", params, socket_path, config))


def _simple(name: str, method: str, doc: str) -> None:
    def command(socket_path: SocketOpt = None, config: ConfigOpt = None) -> None:
        _show_status(_call(method, {}, socket_path, config))

    command.__doc__ = doc
    remote_app.command(name)(command)


_simple("pause", "session.pause", "Pause the session (every output ramps down and holds).")
_simple("resume", "session.resume", "Resume the paused session.")
_simple("stop", "session.stop", "Stop the session: every output ramps down to zero.")
_simple("acknowledge", "fault.acknowledge", "Clear a latched fault, so a session can start again.")


@remote_app.command("intensity")
def remote_intensity(
    value: Annotated[float, typer.Argument(metavar="X", help="The user intensity, 0 to 1.")],
    socket_path: SocketOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Set the intensity of the session playing."""
    from massager.cli.options import check_intensity

    check_intensity(value)
    _show_status(_call("session.set_intensity", {"value": value}, socket_path, config))


@remote_app.command("button")
def remote_button(
    pin: Annotated[int, typer.Option("--pin", help="BCM pin of the button (to ground).")] = 5,
    profile: Annotated[
        str, typer.Option("--profile", help="What a press starts when no session ran yet.")
    ] = "classic",
    hold: Annotated[float, typer.Option("--hold", help="Seconds held that make a stop.")] = 1.5,
    socket_path: SocketOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Run the start button: press starts the last profile or pauses/resumes; hold stops."""
    import signal

    from massager.service.button import ButtonRemote, run_button

    if not 0.2 <= hold <= 10.0:
        raise UsageError(f"--hold {hold:g}: give 0.2 to 10 seconds")
    remote = ButtonRemote(_socket(socket_path, config), profile, report=typer.echo)
    stop_signals = {signal.SIGINT, signal.SIGTERM}
    signal.pthread_sigmask(signal.SIG_BLOCK, stop_signals)  # the button's threads inherit it
    button = run_button(remote, pin, hold)
    typer.echo(f"button on GPIO{pin}: press to start/pause/resume, hold {hold:g} s to stop")
    try:
        signal.sigwait(stop_signals)
    finally:
        button.close()


@app.command("history")
def history_command(
    limit: Annotated[int, typer.Option("--limit", "-n", help="How many sessions.")] = 20,
    socket_path: SocketOpt = None,
    config: ConfigOpt = None,
) -> None:
    """List the latest sessions the service played (newest first)."""
    from massager.units import format_duration

    if limit < 1:
        raise UsageError(f"--limit {limit}: give at least 1")
    rows = _call("history.list", {"limit": min(limit, 1000)}, socket_path, config)
    if not rows:
        typer.echo("no sessions yet")
        return
    typer.echo(f"{'STARTED (UTC)':<20}  {'PROFILE':<16}  {'LENGTH':>7}  OUTCOME")
    for row in rows:
        length = format_duration(row["duration_ms"], exact=False)
        outcome = row["outcome"] + (f": {row['message']}" if row["message"] else "")
        if row["faults"]:
            outcome += f" [{', '.join(row['faults'])}]"
        typer.echo(f"{row['started_at']:<20}  {row['profile']:<16}  {length:>7}  {outcome}")
