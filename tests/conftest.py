"""Test-wide settings.

Hypothesis runs derandomized everywhere (one registered profile, "massager"): the
same examples locally as on CI, so a test tests the same thing on every machine and a
submission lands or fails on its own merits, not on the draw. On CI (`CI` set in the
environment) its example database is off; locally it replays what failed before.
Every test gets a runtime folder of its own for device claims (`XDG_RUNTIME_DIR`).
`massager` is imported first, so its guard decides which of the simulator's modules run
compiled before any test imports `firmware_bridge` (`massager.compiled`).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from hypothesis import settings

import massager  # noqa: F401  (first: installs massager.compiled's finder)

if TYPE_CHECKING:
    from mqtt_support import Broker

# No deadline: the tests run beside other work, and a test never times the code it checks.
if os.environ.get("CI"):
    settings.register_profile(
        "massager", derandomize=True, deadline=None, database=None, print_blob=True
    )
else:
    settings.register_profile("massager", derandomize=True, deadline=None, print_blob=True)
settings.load_profile("massager")


@pytest.fixture(scope="module")
def mosquitto() -> Iterator[Broker]:
    """A real Mosquitto on 127.0.0.1 at a free port, one per test module."""
    from mqtt_support import Broker

    broker = Broker().start()
    try:
        yield broker
    finally:
        broker.close()


@pytest.fixture(autouse=True)
def _private_runtime_dir(monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Each test claims devices in a runtime folder of its own (short: a socket path is <108
    bytes), so tests and other checkouts running at once never see each other's claims."""
    folder = Path(tempfile.mkdtemp(prefix="mrt-", dir="/tmp"))
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(folder))
    yield folder
    shutil.rmtree(folder, ignore_errors=True)
