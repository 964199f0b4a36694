"""The executor: a queue of timed commands run on the device's own clock.

The same code runs on the Pico (MicroPython), in the Pi's GPIO device process
and in the simulator. Its parts have a module each: the channels' limits and
the check of every command (``limits``), the queue (``cmdqueue``), every
output's motion and the per-tick evaluation (``motion``), the heaters' loop
(``heater``). It talks to hardware only through a HAL object with:

- ``now_us() -> int``: the device clock, microseconds modulo 2**30 (wrapping);
- ``set_output(ch, level)``: write a level (-1..1 for rollers, 0..1 otherwise);
- ``read_temp(ch) -> float``: a heater channel's temperature in degrees C.

API:

- ``Executor(hal, channels, watchdog_ms=250, queue_size=64)``; ``channels`` is
  the number of output channels; ``queue_size`` bounds the commands waiting,
  over all channels together.
- ``configure(ch, kind, max_level, min_level, max_slew, max_on_ms, max_temp_c)``:
  kind codes roller 0, vibration 1, air 2, heater 3 (``codes.KIND_*``);
  ``max_slew`` in level per second; ``max_temp_c`` None except for heaters.
  Returns ``OK``, ``ERR_CHANNEL`` or ``ERR_ARG``.
- ``schedule(t_us, ch, op, a, b, c, d) -> int``: queue a command at device
  time ``t_us`` (op codes and arguments as in ``waveforms``); returns ``OK`` or
  an error code: ``ERR_LATE`` (``t_us`` before the last tick, or before the
  moment of the pause while paused), ``ERR_LIMIT`` (a level outside the
  channel's range, a heat target above its ``max_temp_c``, heat on a channel
  that is not a heater), ``ERR_CHANNEL`` (no such configured channel),
  ``ERR_FULL`` (queue full: send it again later), ``ERR_FAULT`` (a fault is
  latched), ``ERR_ARG`` (unknown op, shape, negative duration, a frequency
  outside 0..MAX_WAVE_HZ, a value that is not a finite number). Refused
  commands are never executed. Commands at the same time run in the order
  they were queued.
- ``feed()``: the host is alive: resets the watchdog, and arms it (it is
  disarmed until the first ``feed()`` and again by ``off()``). Call it for
  every message that arrives from the host; nothing else feeds it.
- ``tick()``: read the clock, start due commands, evaluate every output,
  enforce the envelope, write the outputs that changed. Call it often (100 Hz
  or more). The envelope: each level is clamped to the channel's range
  (``-max_level..max_level`` for rollers, ``0..max_level`` otherwise), then
  moves toward that target by at most ``max_slew`` per second; a channel
  whose commanded level stayed non-zero at every tick for longer than
  ``max_on_ms`` is cut (output 0 at once, motion dropped, its bit set in
  ``cut_mask``) until its next command; heaters are read every 100 ms, a
  reading above ``max_temp_c`` latches ``FAULT_OVERTEMP``, an unreadable one
  ``FAULT_SENSOR``, and a heater within 1 C of its cap gets no duty; no
  ``feed()`` for ``watchdog_ms`` latches ``FAULT_WATCHDOG``. ``min_level`` is
  kept for the HAL (``min_level[ch]``): the executor does not snap levels
  below it, so soft starts pass through it as on the real motor.
- ``heat`` runs a PI loop toward its target temperature with the duty never
  above the command's ceiling; other ops on a heater drive its duty directly.
- ``set_scale(x)``: user intensity 0..1, applied from the next tick through the
  slew limits.
- ``pause()`` / ``resume()``: pause ramps outputs down within 1 s (at their
  slew limit, or faster where that would take longer) and freezes the
  program; resume shifts every queued time by the paused span (``shift_us``
  accumulates it, so the host adds it to the times it sends) and ramps back
  up through the slew limits. Waves and ramps continue where they stopped.
- ``stop()``: drop the queue and ramp every output to zero at its slew limit.
- ``off()``: every output to zero at once (hal written immediately).
- ``latch(fault)``: latch a fault bit (all outputs 0 at once, queue dropped,
  commands refused) until ``clear_faults()``. Bits: ``FAULT_WATCHDOG``,
  ``FAULT_OVERTEMP``, ``FAULT_ESTOP``, ``FAULT_HAL`` (the HAL raised),
  ``FAULT_SENSOR`` (``codes.py``; ``names.fault_names(bits)`` spells them out).
- Read-only state: ``levels`` (applied level per channel), ``temps`` (last
  reading per heater channel), ``faults`` (bitmask), ``cut_mask`` (channels
  cut by on-time; a channel's bit clears at its next command or by
  ``clear_faults()``), ``shift_us``, ``paused``,
  ``queued()`` (commands waiting), ``busy()`` (any output moving or queued),
  ``armed()`` (the watchdog is armed), ``next_command_us()`` (when the next
  queued command is due, for a loop that wakes then),
  ``next_due_us()`` (when the next tick has work, for simulators that skip idle ticks).
"""

from firmware_bridge.cmdqueue import CommandQueue
from firmware_bridge.codes import (
    ERR_CHANNEL,
    ERR_FAULT,
    ERR_FULL,
    ERR_LATE,
    FAULT_HAL,
    FAULT_WATCHDOG,
    OK,
)
from firmware_bridge.heater import HeaterLoop
from firmware_bridge.limits import EPS as EPS
from firmware_bridge.limits import PAUSE_RAMP_US as PAUSE_RAMP_US
from firmware_bridge.limits import ChannelLimits
from firmware_bridge.motion import Motion
from firmware_bridge.ticks import ticks_add, ticks_diff

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Final

    from firmware_bridge.hal_types import Hal


QUEUE_SIZE: "Final" = 64


class Executor:
    """Runs timed commands on the device clock inside a safety envelope.

    The facade over the parts: the channels' limits (``ChannelLimits``), the
    command queue (``CommandQueue``), the heaters' loop (``HeaterLoop``) and
    every output's motion (``Motion``); it owns the clock, the watchdog, the
    pause and the latched faults.
    """

    def __init__(
        self, hal: "Hal", channels: int, watchdog_ms: int = 250, queue_size: int = QUEUE_SIZE
    ) -> None:
        self._hal = hal
        self.channels = channels
        self._wd_us = watchdog_ms * 1000
        now = hal.now_us()
        self._limits = limits = ChannelLimits(channels)
        self._queue = CommandQueue(queue_size)
        self._heat = heat = HeaterLoop(hal, limits, now)
        self._motion = motion = Motion(hal, limits, heat)
        self._heaters = limits.heaters
        self.min_level = limits.min_level
        self.levels = motion.levels
        self.temps = heat.temps
        self._now = now
        self._fed = now
        self._armed = False
        self.paused = False
        self._pause_at = now
        self._pause_acc = 0
        self.shift_us = 0
        self.faults = 0

    @property
    def cut_mask(self) -> int:
        """Channels cut by their on-time (a bit per channel) until their next command."""
        return self._motion.cut_mask

    def configure(
        self,
        ch: int,
        kind: int,
        max_level: float,
        min_level: float,
        max_slew: float,
        max_on_ms: int,
        max_temp_c: "float | None" = None,
    ) -> int:
        """Set a channel's kind and limits; returns OK, ERR_CHANNEL or ERR_ARG."""
        return self._limits.configure(
            ch, kind, max_level, min_level, max_slew, max_on_ms, max_temp_c
        )

    # -- messages from the host ----------------------------------------

    def feed(self) -> None:
        """The host is alive: reset (and arm) the watchdog."""
        self._fed = self._hal.now_us()
        self._armed = True

    def schedule(self, t_us: int, ch: int, op: int, a: float, b: float, c: float, d: float) -> int:
        """Queue a command at device time `t_us`; returns OK or an error code."""
        if self.faults:
            return ERR_FAULT
        limits = self._limits
        if ch < 0 or ch >= self.channels or not limits.configured[ch]:
            return ERR_CHANNEL
        ref = self._pause_at if self.paused else self._now
        if ticks_diff(t_us, ref) < 0:
            return ERR_LATE
        err = limits.check(ch, op, a, b, c, d)
        if err:
            return err
        return OK if self._queue.push(t_us, ch, op, a, b, c, d) else ERR_FULL

    def set_scale(self, x: float) -> None:
        """User intensity 0..1, applied from the next tick through the slew limits."""
        if not (x >= 0.0):  # also catches NaN
            x = 0.0
        self._motion.scale = 1.0 if x > 1.0 else x
        self._motion.unsteady()

    def pause(self) -> None:
        """Freeze the program and ramp every output down within 1 s."""
        if self.paused or self.faults:
            return
        now = self._hal.now_us()
        self.paused = True
        self._motion.unsteady()
        self._pause_at = now
        # the part of the next tick's interval before this moment still ran
        ran = ticks_diff(now, self._now)
        self._pause_acc = -ran
        self._motion.add_elapsed(ran)

    def resume(self) -> None:
        """Continue the program where it was paused; outputs ramp back up."""
        if not self.paused:
            return
        waited = ticks_diff(self._hal.now_us(), self._now)
        span = self._pause_acc + waited
        self.paused = False
        self._motion.unsteady()
        # the next tick's interval counts the part before this moment: take it back
        self._motion.add_elapsed(-waited)
        self._queue.shift(span)
        self.shift_us += span

    def stop(self) -> None:
        """Drop the queue; every output ramps to zero at its slew limit."""
        self._queue.clear()
        self._motion.stop()

    def off(self) -> None:
        """Every output to zero at once; the queue is dropped and the watchdog disarmed."""
        self._armed = False
        self._zero_all()

    def latch(self, fault: int) -> None:
        """Latch `fault`: all outputs 0 now, queue dropped, commands refused until cleared."""
        self.faults |= fault
        self._zero_all()

    def clear_faults(self) -> None:
        """Clear latched faults and on-time cuts; outputs stay at zero until commanded."""
        self.faults = 0
        self._motion.cut_mask = 0
        self._fed = self._hal.now_us()

    def _zero_all(self) -> None:
        self._queue.clear()
        if not self._motion.zero_all():
            self.faults |= FAULT_HAL

    # -- state ---------------------------------------------------------

    def queued(self) -> int:
        """Number of commands waiting in the queue."""
        return self._queue.count

    def busy(self) -> bool:
        """True while a command waits or an output is not at rest at zero."""
        return self._queue.count > 0 or len(self._motion.active) > 0

    def armed(self) -> bool:
        """Whether the watchdog is armed: from the first ``feed()`` until ``off()``."""
        return self._armed

    def next_command_us(self) -> "int | None":
        """The device time the next queued command is due, or None with an empty queue."""
        return self._queue.next_us()

    def next_due_us(self) -> "int | None":
        """The device time of the next thing a tick has to do, or None if every tick matters.

        None while any output moves. While every output rests or holds a set
        level it has reached, the earliest of the next queued command, the
        next heater reading, the watchdog's deadline and the first on-time
        limit, at most 1 s ahead: ticks before it change nothing but the
        on-time counts (which the next tick's interval carries), so a
        simulator may skip them.
        """
        motion = self._motion
        if motion.moving:
            return None
        now = self._now
        due = motion.on_time_due(now, ticks_add(now, 1000000))
        queue = self._queue
        if queue.count and ticks_diff(queue.t[queue.head], due) < 0:
            due = queue.t[queue.head]
        heat = self._heat
        if self._heaters and not self.faults and ticks_diff(heat.next_us, due) < 0:
            due = heat.next_us
        if self._armed and not self.faults:
            deadline = ticks_add(self._fed, self._wd_us + 1)
            if ticks_diff(deadline, due) < 0:
                due = deadline
        return due

    # -- the tick ------------------------------------------------------

    def tick(self) -> None:
        """Run the device up to now: start due commands, evaluate and write every output."""
        now = self._hal.now_us()
        dt = ticks_diff(now, self._now)
        if dt < 0:
            dt = 0
        self._now = now
        if self._armed and ticks_diff(now, self._fed) > self._wd_us:
            self.latch(FAULT_WATCHDOG)
        if self.faults:
            return
        paused = self.paused
        if paused:
            self._pause_acc += dt
        motion = self._motion
        if self._heaters and ticks_diff(now, self._heat.next_us) >= 0:
            fault = self._heat.read(now, motion.op, motion.a, motion.b, paused)
            if fault:
                self.latch(fault)
                return
        if not paused:
            queue = self._queue
            if queue.count and ticks_diff(now, queue.t[queue.head]) >= 0:
                motion.start_due(queue, now, dt)
        if motion.evaluate(dt, paused):
            self.latch(FAULT_HAL)
