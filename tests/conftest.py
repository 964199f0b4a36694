"""Test-wide settings.

On CI (`CI` set in the environment) hypothesis runs derandomized: the same
examples every run, so a submission lands or fails on its own merits, not on
the draw. Local runs keep exploring new examples (and keep the ones that failed).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest
from hypothesis import settings

if TYPE_CHECKING:
    from mqtt_support import Broker

settings.register_profile("ci", derandomize=True, database=None, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")


@pytest.fixture(scope="module")
def mosquitto() -> Iterator[Broker]:
    """A real Mosquitto on 127.0.0.1 at a free port, one per test module."""
    from mqtt_support import Broker

    broker = Broker().start()
    try:
        yield broker
    finally:
        broker.close()
