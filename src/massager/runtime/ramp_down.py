"""The stop sequence at the end of a session: ramp every output down, then off.

The device is told to stop; the session looks at the outputs again when the
driver says the ramp ends (`ramp_down_ms`), never later than a heartbeat (each
poll feeds the device's watchdog), and never longer in all than the ramp-down
limit. A second interrupt, or an abort at once, ends the wait at once. Every
output is then turned off.
"""

from __future__ import annotations

from massager.runtime.controls import Controls
from massager.runtime.guarded import GuardedDriver
from massager.runtime.pacing import Pacing

_ZERO = 1e-6
_MIN_RAMP_WAIT_MS = 1.0
"""Shortest wait between two looks at a ramp-down (clock ms)."""


def ramp_down(device: GuardedDriver, controls: Controls, pacing: Pacing) -> None:
    """Ramp every output of `device` to zero (a bounded wait), then turn them off.

    Sets `controls.stopping` once the device has been told to stop. Raises what a
    poll raises (SafetyStop, DeviceError)."""
    driver = device.driver
    clock = driver.clock
    device.call(driver.stop)
    controls.stopping.set()
    deadline = clock.now_ms() + pacing.ramp_down_limit_ms
    while not controls.off_now():  # asked twice, or told to turn off now: no more waiting
        status = device.poll()
        if all(abs(v) <= _ZERO for v in status.levels.values()):
            break
        now = clock.now_ms()
        if now >= deadline:
            break
        # look again when the device says its ramp ends (at least every heartbeat, which
        # feeds its watchdog; at least a millisecond on, so a late report is not a spin)
        ramp = max(_MIN_RAMP_WAIT_MS, device.call(driver.ramp_down_ms, status.levels))
        wait = min(pacing.heartbeat_ms, ramp, deadline - now)
        controls.sleep_until(clock, now + wait, controls.off_now)
    device.call(driver.off)
