"""Connecting the serial driver to a device and keeping it: hello, configuration, recovery.

`Connection` says hello (protocol version, channels), configures one channel
per actuator and the watchdog, synchronises the clocks and sets the link's
heartbeat; after a link outage it waits for the device to answer again and
either resumes its session (the watchdog tripped meanwhile) or configures the
device afresh (it restarted). What to replay is the driver's business.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable

from firmware_bridge import codec, codes
from firmware_bridge.codes import FAULT_WATCHDOG
from firmware_bridge.names import MSG_NAMES
from massager.drivers.clock_sync import ClockSync
from massager.drivers.serial_link import SerialLink, status_after
from massager.drivers.serial_messages import Identity, Refusal, Status
from massager.errors import DeviceError, MassagerError, UsageError
from massager.rig.model import Rig

SYNC_SAMPLES = 8
GPIO_FIRMWARE = "massager-gpio"
"""How the GPIO device process (`massager mcu gpio`) names itself in its identify reply."""


def rig_channels(rig: Rig) -> tuple[dict[str, int], bool]:
    """Channel of each actuator, and whether they go by actuator order (a gpio-only rig).

    A rig with gpio bindings only runs on the GPIO device process, whose channel n
    is the rig's n-th actuator; `Connection.connect` refuses it on any other device.
    """
    missing = [a.id for a in rig.actuators if a.bindings.serial is None]
    if (
        missing
        and len(missing) == len(rig.actuators)
        and all(a.bindings.gpio for a in rig.actuators)
    ):
        return {a.id: ch for ch, a in enumerate(rig.actuators)}, True
    if missing:
        raise no_binding(rig, missing)
    channels: dict[str, int] = {}
    owner: dict[int, str] = {}
    for act in rig.actuators:
        assert act.bindings.serial is not None
        ch = act.bindings.serial.channel
        if ch in owner:
            raise UsageError(
                f"rig {rig.name!r}: actuators {owner[ch]} and {act.id} share serial channel {ch}"
            )
        owner[ch] = act.id
        channels[act.id] = ch
    return channels, False


def no_binding(rig: Rig, missing: list[str]) -> UsageError:
    """The error for actuators the serial device cannot reach."""
    return UsageError(
        f"rig {rig.name!r}: no serial binding for {', '.join(missing)}; give each "
        "actuator `bindings: {serial: {channel: N}}` to run it on the serial device"
    )


class Heartbeat:
    """A link timer that keeps the device's watchdog fed while nothing else is in flight.

    While frames are in flight, their retransmissions are the heartbeat: more frames
    would only crowd a noisy link (one lost frame holds up all after it). Every other
    beat is `clock_query` (the clock sync's), whose reply is short and so gets through
    a noisy link more often; the others ask for a status report.
    """

    def __init__(self, link: SerialLink, period_s: float, clock_query: Callable[[], object]):
        self.link = link
        self.period_s = period_s
        self.clock_query = clock_query
        self._beats = 0

    def __call__(self, now: float) -> None:
        """Beat if the link has been quiet for `period_s`."""
        frames = self.link.frames
        if frames.in_flight() or now - frames.last_tx < self.period_s:
            return
        self._beats += 1
        if self._beats % 2:
            self.clock_query()
        else:
            self.link.query(codes.MSG_STATUS)


class Connection:
    """One device's session on a link: its identity, configuration and clock."""

    def __init__(
        self,
        rig: Rig,
        channels: dict[str, int],
        watchdog_ms: int,
        refusal_error: Callable[[Refusal], MassagerError],
        *,
        gpio_order: bool = False,
    ) -> None:
        self.rig = rig
        self.channels = channels
        self.watchdog_ms = watchdog_ms
        self.refusal_error = refusal_error
        self.gpio_order = gpio_order
        self.sync = ClockSync()
        self.target = ""
        self.identity: Identity | None = None
        self.nonce = 0
        """The session this host configured on the device (a device that restarted has another)."""
        self.heartbeat: Heartbeat | None = None

    def connect(self, link: SerialLink, intensity: float) -> Status:
        """Hello, checks, configuration, clock sync, heartbeat; the status after configuring."""
        identity = link.identify(secrets.randbits(32), timeout=3.0)
        if identity is None:
            raise DeviceError(
                f"no answer from the massager firmware on {self.target}; is it a Pico running "
                "firmware_bridge (see firmware_bridge/README.md)? `massager ports` lists candidates"
            )
        if identity.version != codec.PROTOCOL_VERSION:
            raise DeviceError(
                f"the device on {self.target} speaks protocol version {identity.version}, "
                f"this host version {codec.PROTOCOL_VERSION}; deploy the matching firmware"
            )
        self.identity = identity
        if self.gpio_order and not identity.firmware.startswith(GPIO_FIRMWARE):
            raise no_binding(self.rig, [a.id for a in self.rig.actuators])
        too_high = {a: ch for a, ch in self.channels.items() if ch >= identity.channels}
        if too_high:
            names = ", ".join(f"{a} (channel {ch})" for a, ch in too_high.items())
            raise UsageError(
                f"the device has channels 0..{identity.channels - 1}; the rig uses {names}"
            )
        st = self.configure(link, intensity)
        self._sample(link, SYNC_SAMPLES)
        self.heartbeat = Heartbeat(link, min(0.1, self.watchdog_ms / 3000.0), self.sync.query)
        link.timers.append(self.heartbeat)
        self.sync.follow(link)
        return st

    def configure(self, link: SerialLink, intensity: float) -> Status:
        """A new session on the device: its channels and watchdog (latched faults stay)."""
        self.nonce = secrets.randbits(32) or 1
        link.send(codes.MSG_CONFIG_BEGIN, codec.encode_config_begin(self.nonce, self.watchdog_ms))
        for act in self.rig.actuators:
            link.send(
                codes.MSG_CONFIG_CHANNEL,
                codec.encode_config_channel(self.channels[act.id], *act.device_limits()),
            )
        link.send(codes.MSG_CONFIG_END, codec.encode_config_end(len(self.channels)))
        # answered after everything above was handled
        got = link.request(codes.MSG_STATUS, codes.MSG_STATUS_REPLY, every=0.03)
        st = link.status
        if got is None or st is None:
            raise DeviceError(f"the device on {self.target} did not confirm its configuration")
        for refusal in list(link.refusals):
            if refusal.mtype in (codes.MSG_CONFIG_BEGIN, codes.MSG_CONFIG_CHANNEL):
                raise self.refusal_error(refusal)
        link.refusals.clear()
        if intensity != 1.0:
            link.send(codes.MSG_INTENSITY, codec.encode_intensity(intensity))
        return st

    def refused(self, r: Refusal) -> DeviceError:
        """The error for a refused configuration (or other message), naming what and why."""
        if r.mtype == codes.MSG_CONFIG_CHANNEL:
            owners = [a for a, ch in self.channels.items() if ch == r.ident]
            who = f" ({owners[0]})" if owners else ""
            return DeviceError(
                f"the device refused to configure channel {r.ident}{who}: {r.reason}"
            )
        if r.mtype == codes.MSG_CONFIG_BEGIN:
            return DeviceError(
                f"the device refused a session with a {self.watchdog_ms} ms watchdog: {r.reason}"
            )
        kind = MSG_NAMES.get(r.mtype, str(r.mtype))
        return DeviceError(f"the device refused a {kind} message: {r.reason}")

    def lost_since(self, link: SerialLink, started: bool, stopped: bool) -> float | None:
        """Since when (host s) a session's device has been lost: silent for a watchdog's time,
        its port gone, or its watchdog tripped; None while it is there. DeviceError if the
        link failed, or the port went before a session."""
        if link.failure:
            raise DeviceError(f"the serial link to {self.target} failed: {link.failure}")
        if not started or stopped:
            if not link.connected and not stopped:
                raise DeviceError(f"lost the serial port {self.target}: {link.port_error}")
            return None
        now = link.time.now()
        stall_s = self.watchdog_ms / 1000.0
        if now - link.last_rx >= stall_s or not link.connected:
            return link.last_rx
        st = link.status
        return now - stall_s if st is not None and st.faults == FAULT_WATCHDOG else None

    def turn_off(self, link: SerialLink) -> None:
        """Hello, then every output off (whatever the device's session); DeviceError if not."""
        self.identity = link.identify(secrets.randbits(32), timeout=3.0)
        if self.identity is None:
            raise DeviceError(
                f"no answer from the massager firmware on {self.target}; its outputs may be on "
                "(its watchdog turns them off once a session's host goes quiet)"
            )
        if not link.wait_acked(link.send(codes.MSG_OFF), 1.0):
            raise DeviceError(f"the device on {self.target} did not confirm turning off")

    def _sample(self, link: SerialLink, samples: int) -> None:
        if not self.sync.sample(link, samples):
            raise DeviceError(f"the device on {self.target} did not answer clock requests")

    def reconnect(
        self,
        link: SerialLink,
        since: float,
        grace_s: float,
        intensity: float,
        keep: Callable[[], object],
    ) -> Status:
        """Wait (until `since` + `grace_s`) for the device to answer again, and take it back.

        A device that restarted is configured afresh; one that kept its session is
        turned off and its watchdog fault cleared. Refusals from before are dropped
        (the fault refused commands the driver replays). `keep()` is called while
        waiting (the driver's sign of life). Returns the status after; DeviceError
        if the device stays silent.
        """
        identity = None
        while identity is None:
            keep()
            if link.connected:
                identity = link.identify(secrets.randbits(32), timeout=0.2)
            if identity is None:
                if link.time.now() >= since + grace_s:
                    why = f" ({link.port_error})" if link.port_error else ""
                    raise DeviceError(
                        f"lost the device on {self.target} for more than {grace_s:g} s"
                        f"{why}; its watchdog turned every output off"
                    )
                link.time.sleep(0.05)
        self.identity = identity
        if identity.session != self.nonce:  # the device restarted: a new clock, a new executor
            self.sync.reset()
            st = self.configure(link, intensity)
            self._sample(link, SYNC_SAMPLES)
            return st
        n = link.send(codes.MSG_OFF)
        link.send(codes.MSG_CLEAR_FAULTS, codec.encode_clear_faults(FAULT_WATCHDOG))
        status = status_after(link, n)
        if status is None:
            raise DeviceError(f"the device on {self.target} stopped answering")
        link.refusals.clear()
        self._sample(link, 2)
        return status
