"""The executor: a queue of timed commands run on the device's own clock.

The same code runs on the Pico (MicroPython), in the Pi's GPIO driver thread
and in the simulator. It talks to hardware only through a HAL object with:

- ``now_us() -> int``: the device clock, microseconds modulo 2**30 (wrapping);
- ``set_output(ch, level)``: write a level (-1..1 for rollers, 0..1 otherwise);
- ``read_temp(ch) -> float``: a heater channel's temperature in degrees C.

Contract (implemented by the runtime issue; API fixed so the serial and GPIO
drivers can be written against it):

- ``Executor(hal, channels, watchdog_ms=250)``; ``channels`` is the number of
  output channels.
- ``configure(ch, kind, max_level, min_level, max_slew, max_on_ms, max_temp_c)``:
  kind codes roller 0, vibration 1, air 2, heater 3 (``massager.rig.model.KIND_CODES``).
- ``schedule(t_us, ch, op, a, b, c, d) -> int``: queue a command at device
  time ``t_us`` (op codes and arguments as in ``waveforms``); returns ``OK`` or
  an error code (``ERR_LATE``, ``ERR_LIMIT``, ``ERR_CHANNEL``, ``ERR_FULL``,
  ``ERR_FAULT``). Refused commands are never executed.
- ``feed()``: the host is alive (resets the watchdog).
- ``tick()``: read the clock, start due commands, evaluate every output,
  enforce the envelope (max level, slew, continuous on-time, heater cap,
  watchdog), write outputs. Call it often (100 Hz or more).
- ``set_scale(x)``: user intensity 0..1, applied from the next tick through the
  slew limits.
- ``pause()`` / ``resume()``: pause ramps outputs down within 1 s and freezes
  the program; resume shifts every queued time by the paused span
  (``shift_us`` accumulates it) and ramps back up.
- ``stop()``: drop the queue and ramp every output to zero at its slew limit.
- ``off()``: every output to zero at once (hal written immediately).
- ``latch(fault)``: latch a fault bit (all outputs off, commands refused)
  until ``clear_faults()``. Bits: ``FAULT_WATCHDOG``, ``FAULT_OVERTEMP``,
  ``FAULT_ESTOP``, ``FAULT_HAL``, ``FAULT_SENSOR``.
- Read-only state: ``levels`` (applied level per channel), ``faults``
  (bitmask), ``shift_us``, ``paused``, ``queued()`` (commands waiting).
"""
