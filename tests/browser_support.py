"""Debian's chromium, headless, driven by Playwright: for the phone page's tests and its bench.

`playwright install` cannot download browsers here, so Playwright drives the
packaged `/usr/bin/chromium` (`.ci/run` installs it with apt-get); each
browser gets a fresh profile folder and no network of its own (no sync, no
component updates, no QUIC), so the page is the only thing it loads.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from playwright.sync_api import BrowserContext, sync_playwright

CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 800}


def chromium_path() -> Path:
    """The chromium binary, or an error saying how to install it (never a skip)."""
    found = CHROMIUM if CHROMIUM.exists() else shutil.which("chromium")
    if not found:
        raise RuntimeError(f"{CHROMIUM} not found: `apt-get install -y chromium` (.ci/run does it)")
    return Path(found)


@contextmanager
def browser(viewport: dict[str, int] = PHONE, **options: Any) -> Iterator[BrowserContext]:
    """A fresh headless chromium at `viewport` (phone: touch, 2x pixels), closed on the way out."""
    phone = viewport == PHONE
    settings: dict[str, Any] = {"has_touch": phone, "is_mobile": phone, "device_scale_factor": 2}
    settings.update(options)
    with (
        tempfile.TemporaryDirectory(prefix="massager-chromium-") as profile,
        sync_playwright() as pw,
    ):
        context = pw.chromium.launch_persistent_context(
            profile,
            executable_path=str(chromium_path()),
            headless=True,
            args=ARGS,
            viewport=viewport,
            **settings,
        )
        try:
            yield context
        finally:
            context.close()
