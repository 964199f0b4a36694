"""One gpiozero output per actuator, built from the rig's gpio binding.

Rollers become a `Motor` (forward and backward PWM inputs of an H-bridge) or a
`PhaseEnableMotor` (direction pin plus PWM enable); vibration motors, air
pumps and heaters a `PWMOutputDevice`; an air bladder's vent valve a
`DigitalOutputDevice` that is on while the bladder holds air. gpiozero is
imported inside the builders so importing this module stays cheap.
"""

from __future__ import annotations

import contextlib
from typing import Any

from massager.rig.model import Actuator, GpioBinding


class Output:
    """An actuator's gpiozero device(s): takes a level, writes the pins."""

    def __init__(self, actuator: Actuator, devices: list[Any]) -> None:
        self.actuator = actuator
        self.devices = devices
        self.last: float | None = None
        """The level last written, so an unchanged level costs no pin write."""

    @property
    def pins(self) -> tuple[int, ...]:
        """The BCM pins this output drives."""
        assert self.actuator.bindings.gpio is not None
        return tuple(self.actuator.bindings.gpio.pins())

    def write(self, level: float) -> None:
        """Drive the pins to `level` (-1..1 for rollers, 0..1 otherwise) if it changed."""
        if level != self.last:
            self._write(level)
            self.last = level

    def _write(self, level: float) -> None:
        raise NotImplementedError

    def _pin_devices(self) -> list[Any]:
        """The devices `zero()` drives low."""
        return self.devices

    def zero(self) -> None:
        """Drive every pin of this output low now, whatever was written before."""
        self.last = None
        first: Exception | None = None
        for device in self._pin_devices():
            try:
                device.off()
            except Exception as exc:
                first = first or exc
        if first is not None:
            raise first
        self.last = 0.0

    def close(self) -> None:
        """Release the pins (gpiozero leaves them as inputs). Never raises."""
        for device in self.devices:
            with contextlib.suppress(Exception):
                device.close()


class MotorOutput(Output):
    """A roller on `Motor` (forward/backward PWM) or `PhaseEnableMotor` (phase pin, PWM enable).

    The level's sign is the direction. The motor's sub-devices are written
    directly, so a steady direction costs one PWM write per change and the
    enable pin never blinks off between two speeds of the same direction
    (gpiozero's `PhaseEnableMotor.forward()` turns it off first every time).
    """

    def __init__(self, actuator: Actuator, motor: Any) -> None:
        super().__init__(actuator, [motor])
        self.motor = motor
        self.phase_enable = hasattr(motor, "phase_device")

    def _write(self, level: float) -> None:
        level = max(-1.0, min(1.0, level))
        before = self.last or 0.0
        turned = (level > 0.0 and before <= 0.0) or (level < 0.0 and before >= 0.0)
        motor = self.motor
        if self.phase_enable:
            if turned:
                motor.enable_device.off()
                motor.phase_device.value = level < 0.0
            motor.enable_device.value = abs(level)
        elif level > 0.0:
            if turned:
                motor.backward_device.off()
            motor.forward_device.value = level
        elif level < 0.0:
            if turned:
                motor.forward_device.off()
            motor.backward_device.value = -level
        else:
            motor.forward_device.off()
            motor.backward_device.off()

    def _pin_devices(self) -> list[Any]:
        """Each of the motor's pins (phase included, which the motor's stop() leaves)."""
        return list(self.motor.all)


class PwmOutput(Output):
    """Vibration motor, heater or air pump (with an optional vent valve) on a PWM pin."""

    def __init__(self, actuator: Actuator, pwm: Any, valve: Any = None) -> None:
        super().__init__(actuator, [pwm] if valve is None else [pwm, valve])
        self.pwm = pwm
        self.valve = valve

    def _write(self, level: float) -> None:
        level = max(0.0, min(1.0, level))
        if self.valve is not None and level > 0.0:
            self.valve.on()  # close the vent before the pump pushes air in
        self.pwm.value = level
        if self.valve is not None and level == 0.0:
            self.valve.off()  # pump stopped: vent the bladder


def build_output(actuator: Actuator, pin_factory: Any = None) -> Output:
    """The gpiozero output for `actuator` (its gpio binding must fit its kind)."""
    from gpiozero import DigitalOutputDevice, Motor, PhaseEnableMotor, PWMOutputDevice

    binding: GpioBinding | None = actuator.bindings.gpio
    if binding is None:
        raise ValueError(f"actuator {actuator.id!r} has no gpio binding")
    hz = binding.pwm_hz
    if actuator.kind == "roller":
        if binding.forward is not None and binding.backward is not None:
            motor = Motor(binding.forward, binding.backward, pwm=True, pin_factory=pin_factory)
            pwms = [motor.forward_device, motor.backward_device]
        else:
            motor = PhaseEnableMotor(
                binding.phase, binding.enable, pwm=True, pin_factory=pin_factory
            )
            pwms = [motor.enable_device]
        try:
            for pwm_device in pwms:
                pwm_device.frequency = hz
        except Exception:
            motor.close()
            raise
        return MotorOutput(actuator, motor)
    pwm = PWMOutputDevice(binding.pin, frequency=hz, initial_value=0, pin_factory=pin_factory)
    valve = None
    if binding.valve is not None:
        try:
            valve = DigitalOutputDevice(binding.valve, initial_value=False, pin_factory=pin_factory)
        except Exception:
            pwm.close()
            raise
    return PwmOutput(actuator, pwm, valve)
