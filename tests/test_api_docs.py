"""Every request in docs/api.md, sent to a real service, answers like the example beside it."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any

from service_support import Service, Ws

DOC = Path(__file__).resolve().parent.parent / "docs" / "api.md"
LOOSE = {"listen", "started_at", "version"}
"""Strings that differ from run to run (a port, a clock): only their type is compared."""
DATA = {"levels", "zones", "temps", "timeline", "params"}
"""Objects keyed by data (actuators, zones): the example shows some of their members."""


def examples() -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """(request, answer) pairs: each JSON block with an id and a method, and the next one."""
    blocks = [json.loads(b) for b in re.findall(r"```json\n(.*?)```", DOC.read_text(), re.S)]
    pairs = []
    for i, block in enumerate(blocks):
        if "method" in block and "id" in block:
            answer = blocks[i + 1]
            assert answer.get("id") == block["id"], block
            pairs.append((block, answer))
    return pairs


def like(shown: Any, got: Any, where: str, key: str = "") -> None:
    """`got` has everything `shown` shows: the same members, types and (most) values."""
    if isinstance(shown, dict):
        assert isinstance(got, dict), where
        if key not in DATA:
            assert set(shown) <= set(got), f"{where}: {set(shown) - set(got)} not in the answer"
        for k, v in shown.items():
            assert k in got, f"{where}.{k} not in the answer"
            like(v, got[k], f"{where}.{k}", k)
    elif isinstance(shown, list):
        assert isinstance(got, list), where
        for i, (a, b) in enumerate(zip(shown, got, strict=False)):
            like(a, b, f"{where}[{i}]", key)
    elif isinstance(shown, bool) or shown is None:
        assert got == shown, f"{where}: {got!r}, the docs show {shown!r}"
    elif isinstance(shown, int | float):
        assert isinstance(got, int | float) and not isinstance(got, bool), where
    elif isinstance(shown, str) and key not in LOOSE and key not in DATA:
        assert got == shown, f"{where}: {got!r}, the docs show {shown!r}"


def _wait_for_state(ws: Ws, state: str) -> None:
    deadline = time.monotonic() + 10
    while ws.call("status.get")["state"] != state and time.monotonic() < deadline:
        time.sleep(0.05)


def test_every_example_in_the_api_docs(tmp_path: Path) -> None:
    pairs = examples()
    methods = {request["method"] for request, _ in pairs}
    from massager.service.models import METHODS

    assert set(METHODS) <= methods  # every method has an example
    svc = Service(tmp_path, speed=1.0)
    try:
        ws = svc.ws(name="phone")
        for request, answer in pairs:
            expected = answer.get("result")
            if request["method"] in ("status.get", "fault.acknowledge") and isinstance(
                expected, dict
            ):
                _wait_for_state(ws, expected["state"])
            got = ws.request(request["method"], request.get("params"))
            got["id"] = request["id"]
            if "error" in answer:
                assert got.get("error") == answer["error"], request
            else:
                assert "error" not in got, (request, got)
                like(answer, got, request["method"])
        ws.close()
    finally:
        svc.close()
