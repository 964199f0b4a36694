"""`massager serve`'s config file, --print-config, readiness for systemd, the token."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

from service_support import Service

from massager.service.server import ServeSettings, load_or_make_token, page_url


def _serve(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "massager", "serve", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **(env or {})},
    )


def test_print_config_says_where_each_value_came_from(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text(
        '[device]\nrig = "pico-serial"\n[serve]\ndeadman = "off"\nsocket = "/run/x.sock"\n'
        '[mqtt]\nhost = "10.0.0.2"\n'
    )
    done = _serve("--print-config", "--session-cap", "30m", env={"MASSAGER_CONFIG": str(config)})
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert f"# config file: {config}" in out
    assert 'device = "sim"  # default' in out
    assert f'rig = "pico-serial"  # {config}' in out
    assert f'deadman = "off"  # {config}' in out
    assert 'session_cap = "30m"  # --session-cap' in out
    assert 'listen = "127.0.0.1:8765"  # default; loopback: no token needed' in out
    assert f'socket = "/run/x.sock"  # {config}; in force: /run/x.sock' in out
    assert f'host = "10.0.0.2"  # {config}' in out


def test_a_bad_config_file_is_located_and_nothing_starts(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text("[serve]\ndeadman = 30\n")
    done = _serve("--config", str(config))
    assert done.returncode == 1
    assert done.stderr == f"{config}:1:1: serve.deadman: Input should be a valid string\n"
    config.write_text("[serve\n")
    done = _serve("--config", str(config))
    assert done.returncode == 1
    assert done.stderr.startswith(f"{config}:1:7: ")
    config.write_text('[serve]\nlisten = "nowhere"\n')
    done = _serve("--config", str(config))
    assert done.returncode == 1 and "serve.listen: 'nowhere': write host:port" in done.stderr
    config.write_text('[serve]\ncolour = "red"\n')
    done = _serve("--config", str(config))
    assert done.returncode == 1 and "serve.colour: Extra inputs are not permitted" in done.stderr
    done = _serve("--config", str(tmp_path / "missing.toml"))
    assert done.returncode == 2 and "no such file" in done.stderr
    done = _serve("--deadman", "soon", "--config", str(tmp_path / "none.toml"))
    assert done.returncode == 2
    assert "Traceback" not in done.stderr


def test_bad_options_are_usage_errors(tmp_path: Path) -> None:
    env = {"MASSAGER_CONFIG": str(tmp_path / "none.toml")}
    done = _serve("--listen", "127.0.0.1:99999", env=env)
    assert done.returncode == 2 and "--listen: '127.0.0.1:99999': the port must be" in done.stderr
    done = _serve("--device", "warp", env=env)
    assert done.returncode == 2 and "unknown device 'warp'" in done.stderr
    done = _serve("--device", "gpio", "--speed", "5", env=env)
    assert done.returncode == 2 and "--speed applies to the simulator only" in done.stderr
    done = _serve("--session-cap", "2h", env=env)
    assert done.returncode == 2 and "--session-cap: '2h'" in done.stderr
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        done = _serve(
            "--listen", f"127.0.0.1:{port}", "--socket", str(tmp_path / "s.sock"), env=env
        )
    assert done.returncode == 2 and "cannot listen there" in done.stderr


def test_readiness_is_told_to_systemd(tmp_path: Path) -> None:
    where = tmp_path / "notify"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as notify:
        notify.bind(str(where))
        notify.settimeout(30)
        svc = Service(tmp_path, env={"NOTIFY_SOCKET": str(where)})
        try:
            assert notify.recv(100) == b"READY=1"
        finally:
            svc.close()
        assert notify.recv(100) == b"STOPPING=1"


def test_the_token_is_made_once_and_kept(tmp_path: Path) -> None:
    path = tmp_path / "state" / "token"
    token = load_or_make_token(path)
    assert len(token) >= 20 and path.stat().st_mode & 0o777 == 0o600
    assert load_or_make_token(path) == token
    settings = ServeSettings(
        device="sim",
        rig=None,
        host="0.0.0.0",
        port=8765,
        token=token,
        auth_required=True,
        deadman_s=30.0,
        session_cap_ms=1,
        socket=tmp_path / "s",
        history=tmp_path / "h",
    )
    url = page_url(settings, 8765)
    assert url.endswith(f":8765/?token={token}") and "0.0.0.0" not in url
