"""Test-wide settings.

On CI (`CI` set in the environment) hypothesis runs derandomized: the same
examples every run, so a submission lands or fails on its own merits, not on
the draw. Local runs keep exploring new examples (and keep the ones that failed).
"""

from __future__ import annotations

import os

from hypothesis import settings

settings.register_profile("ci", derandomize=True, database=None, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")
