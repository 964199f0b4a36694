"""The simulator's clock: virtual, or real time scaled by --speed and paced for a busy host.

On a real clock the simulated world (device included) moves with wall time
times `options.speed`; a host starved of CPU slows that clock instead of
tripping the device's watchdog or making a command late, and the run says
once, at its end, how much real time the slowed clock lost (`lag_note`).
"""

from __future__ import annotations

from massager.clock import Clock, MonotonicClock, VirtualClock
from massager.drivers.base import DriverOptions

WATCHDOG_POLLS = 2.5
"""Polls the session makes per watchdog period, at least (its heartbeat adapts to the rig)."""
PACE_SHARE = 0.1
"""On a real clock the simulator's time moves at most this share of the watchdog (wall time)
between two reads beyond the sleep asked for: a host starved of CPU slows the simulated world
(device included) instead of tripping a watchdog or making a command late. Between two feeds
the session reads the clock about five times and sleeps at most 1/WATCHDOG_POLLS of it."""
LAG_NOTE_MS = 50.0
"""Wall time lost to a slowed clock above which the run says so (once, at its end)."""


def device_watchdog_ms(base_ms: int, options: DriverOptions, max_ms: int) -> int:
    """The device watchdog in device time for a watchdog of `base_ms` (wall time).

    On a real clock sped up by `options.speed` it is that many times longer
    (a host's silences last wall time), at most `max_ms` of device time.
    """
    if options.virtual or options.speed <= 1.0:
        return base_ms
    return min(round(base_ms * options.speed), max_ms)


def sim_clock(options: DriverOptions, watchdog_ms: int) -> Clock:
    """The clock a simulator with options `options` and a device watchdog of `watchdog_ms`
    (device time) runs on: virtual, or real time scaled and paced to PACE_SHARE of the
    watchdog's wall time."""
    if options.virtual:
        return VirtualClock()
    wall_ms = watchdog_ms / max(options.speed, 1e-9)
    return MonotonicClock(options.speed, max_gap_ms=wall_ms * PACE_SHARE)


def lag_note(clock: Clock, speed: float) -> str:
    """Says how much `clock` slowed because the host could not keep up ("" if barely)."""
    lost = getattr(clock, "lost_ms", 0.0)
    if lost < LAG_NOTE_MS:
        return ""
    return (
        f"note: this machine could not keep up with --speed {speed:g}; "
        f"the simulator slowed its clock by {lost / 1000:.1f} s of real time rather than "
        "report a fault the device did not have (a lower --speed, or `simulate`, runs "
        "without slowing)"
    )
