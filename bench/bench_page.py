"""Phone page: what a phone downloads to open it (target: under 150 KB), beside same-run baselines.

A real `massager serve` on the simulator and Debian's chromium at 390x844 (the
browser tests' helpers in tests/): every HTTP response the page's load asks
for is counted (body and headers, as Chromium reports them), then the
websocket frames the page receives while it opens (server info, status,
profile list, the selected profile's description with its timeline), then the
status pushes of a running session. Baselines: the same files gzip'd (what a
compressing server would send; the service sends them as they are), and the
JSON of one status push per second over a 20-minute session.
"""

from __future__ import annotations

import gzip
import json
import statistics
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from run import Row

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from browser_support import PHONE, browser
from playwright.sync_api import Request, WebSocket, expect
from service_support import Service

SESSION_S = 20 * 60
KB = 1000.0


def _rpc(url: str, method: str, params: dict[str, Any] | None = None) -> Any:
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params or {}})
    request = urllib.request.Request(url + "rpc", data=body.encode(), method="POST")
    request.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())["result"]


def measure() -> dict[str, Any]:
    """Load the page once; the bytes of its files, its opening frames and its status pushes."""
    files: list[tuple[str, int, int, bytes]] = []  # url, body bytes, header bytes, body
    frames: list[tuple[float, str]] = []

    def finished(request: Request) -> None:
        response = request.response()
        if response is None:
            return
        sizes = request.sizes()
        files.append(
            (request.url, sizes["responseBodySize"], sizes["responseHeadersSize"], response.body())
        )

    def websocket(ws: WebSocket) -> None:
        ws.on("framereceived", lambda payload: frames.append((time.monotonic(), str(payload))))

    with tempfile.TemporaryDirectory(prefix="bench-page-") as tmp:
        service = Service(Path(tmp), speed=1.0)
        try:
            with browser(PHONE) as context:
                page = context.new_page()
                page.on("requestfinished", finished)
                page.on("websocket", websocket)
                page.goto(service.url)
                timeline = page.get_by_role("img", name="Timeline of classic", exact=False)
                expect(timeline).to_be_visible(timeout=20_000)
                expect(page.locator("#conn-text")).to_have_text("connected")
                opening = sum(len(text.encode()) for _, text in frames)
                base = service.url.split("?")[0]
                frames.clear()
                _rpc(base, "session.start", {"profile": "classic"})
                expect(page.locator("body")).to_have_attribute("data-state", "running")
                page.wait_for_timeout(3000)  # collect pushes
                _rpc(base, "session.stop")
                pushes = [
                    len(text.encode())
                    for _, text in frames
                    if '"method":"status"' in text.replace(" ", "")
                ]
        finally:
            service.close()
    return {"files": files, "opening": opening, "pushes": pushes}


def run(quick: bool) -> list[Row]:
    """The rows of docs/performance.md for the page."""
    got = measure()
    files = got["files"]
    wire = sum(body + headers for _, body, headers, _ in files) / KB
    bodies = sum(len(raw) for *_, raw in files) / KB
    zipped = sum(len(gzip.compress(raw, 9)) for *_, raw in files) / KB
    push = statistics.median(got["pushes"])
    session_pushes = push * SESSION_S / KB
    names = ", ".join(sorted(urlparse(url).path.rsplit("/", 1)[-1] or "/" for url, *_ in files))
    per_session = f"status JSON ({push / KB:.2f} KB a push), 1 push/s for a 20-min session"
    return [
        Row(
            f"page files on the wire ({len(files)} requests: {names}), headers included",
            wire,
            "KB",
            "the same files gzip -9",
            zipped,
            "< 150 KB",
        ),
        Row("page files, bodies only", bodies, "KB", "the same files gzip -9", zipped),
        Row("page files on the wire, headers included", wire, "KB", per_session, session_pushes),
        Row(
            "websocket frames while the page opens (info, status, profiles, classic's timeline)",
            got["opening"] / KB,
            "KB",
            per_session,
            session_pushes,
        ),
    ]
