"""Physical models of the actuators the simulator drives, advanced exactly between commands.

Each model takes the level the executor writes (`command`) and reports a
physical quantity (`value`) at any later time. The input is piecewise
constant, so every model steps exactly (first-order lags with their
exponential solution, fills and vents at constant rates): the result does not
depend on how often it is observed.
"""

from __future__ import annotations

import math
import random

from massager.rig import Actuator


class Model:
    """An actuator's physics: a command level in, one physical quantity out."""

    column = ""
    """The trace column the quantity goes to ('speed', 'pressure', 'temp_c'), '' for none."""
    quantum = 0.01
    """The change in the quantity worth a trace row."""

    __slots__ = ("cmd", "t_s", "written_us")

    def __init__(self) -> None:
        self.t_s = 0.0
        self.cmd = 0.0
        self.written_us = -1
        """The simulated device's elapsed time (us) of the output's latest write with a
        trace open (that write sampled the trace)."""

    def advance(self, t_s: float) -> None:
        """Move the state forward to time `t_s` (seconds) under the present command."""
        self.t_s = max(self.t_s, t_s)

    def command(self, t_s: float, level: float) -> float:
        """The output is set to `level` at time `t_s`; returns the quantity at `t_s`."""
        value = self.value(t_s)  # moves the state to t_s under the command until now
        self.cmd = level
        return value

    def value(self, t_s: float) -> float:
        """The physical quantity at time `t_s`."""
        self.advance(t_s)
        return 0.0

    @property
    def settled(self) -> bool:
        """True when the quantity no longer changes under the present command."""
        return True


class Plain(Model):
    """An output with no physical state worth modelling (a vibration motor)."""

    __slots__ = ()


class Stepped(Model):
    """A model whose `command` steps its state to the given time (the hot path, written out
    once): advancing and reading it are a command of the level it already has."""

    __slots__ = ()

    def advance(self, t_s: float) -> None:
        """Move the state forward to `t_s` under the present command."""
        self.command(t_s, self.cmd)

    def value(self, t_s: float) -> float:
        """The physical quantity at `t_s`."""
        return self.command(t_s, self.cmd)


class Roller(Stepped):
    """A DC motor: speed follows the command with a first-order lag; it stalls below `min_level`.

    Speed is signed like the level (-1..1). The current is the running draw plus
    the stall draw times the gap between command and speed: high when the
    motor starts (5 to 10 times its running current) and when it is held
    stalled below `min_level`.
    """

    column = "speed"
    __slots__ = ("_decay_cache", "min_level", "running_a", "speed", "stall_a", "tau_s")

    def __init__(
        self,
        min_level: float = 0.0,
        tau_s: float = 0.15,
        running_a: float = 0.4,
        stall_a: float = 3.0,
    ) -> None:
        super().__init__()
        self.min_level = min_level
        self.tau_s = tau_s
        self.running_a = running_a
        self.stall_a = stall_a
        self.speed = 0.0
        self._decay_cache = (0.0, 1.0)

    def _target(self) -> float:
        return self.cmd if abs(self.cmd) >= self.min_level else 0.0

    def command(self, t_s: float, level: float) -> float:
        """Move the speed forward to `t_s` under the present command, then take `level`;
        returns the speed at `t_s`.

        The simulator's hottest call (every write to a roller): the exact
        exponential step toward the target is written out here, once.
        """
        dt = t_s - self.t_s
        if dt > 0.0:
            self.t_s = t_s
            cmd = self.cmd
            floor = self.min_level  # abs(cmd) >= floor, without the call
            target = cmd if cmd >= floor or -cmd >= floor else 0.0
            speed = self.speed
            if speed != target:
                cached_dt, decay = self._decay_cache
                if dt != cached_dt:  # the simulator steps on a fixed tick: one exp() per size
                    decay = math.exp(-dt / self.tau_s)
                    self._decay_cache = (dt, decay)
                speed = target + (speed - target) * decay
                gap = speed - target
                self.speed = target if -1e-6 < gap < 1e-6 else speed
        self.cmd = level
        return self.speed

    def current_a(self, t_s: float) -> float:
        """The current the motor draws at `t_s`, in amperes."""
        self.advance(t_s)
        return self.running_a * abs(self.speed) + self.stall_a * abs(self.cmd - self.speed)

    @property
    def stalled(self) -> bool:
        """True while the motor is powered below the level at which it turns."""
        return self.cmd != 0.0 and abs(self.cmd) < self.min_level

    @property
    def settled(self) -> bool:
        """True once the speed has reached its target."""
        return self.speed == self._target()


class AirBladder(Stepped):
    """A compression bladder: the pump fills it toward the level, the valve vents it.

    Pressure is a fraction of the bladder's full pressure (0..1). It rises at
    `fill_per_s` while below the level and falls at `vent_per_s` while above.
    """

    column = "pressure"
    __slots__ = ("fill_per_s", "pressure", "vent_per_s")

    def __init__(self, fill_per_s: float = 0.5, vent_per_s: float = 1.5) -> None:
        super().__init__()
        self.fill_per_s = fill_per_s
        self.vent_per_s = vent_per_s
        self.pressure = 0.0

    def command(self, t_s: float, level: float) -> float:
        """Fill or vent at the constant rate until `t_s` or the level, whichever comes first,
        then take `level` (the step written out: every write to a bladder calls this);
        returns the pressure at `t_s`."""
        dt = t_s - self.t_s
        if dt > 0.0:
            self.t_s = t_s
            p, target = self.pressure, self.cmd
            if p < target:
                self.pressure = min(target, p + self.fill_per_s * dt)
            elif p > target:
                self.pressure = max(target, p - self.vent_per_s * dt)
        self.cmd = level
        return self.pressure

    @property
    def settled(self) -> bool:
        """True once the pressure has reached the level."""
        return self.pressure == self.cmd


class Heater(Model):
    """A heating pad: warms through a thermal resistance toward ambient plus duty x `rise_c`.

    A first-order thermal model (heat capacity and thermal resistance give the
    time constant `tau_s`): at full duty it would settle `rise_c` above ambient,
    so an uncontrolled heater can pass its cap.
    """

    column = "temp_c"
    quantum = 0.1
    __slots__ = ("ambient_c", "rise_c", "tau_s", "temp_c")

    def __init__(self, ambient_c: float = 25.0, rise_c: float = 30.0, tau_s: float = 90.0) -> None:
        super().__init__()
        self.ambient_c = ambient_c
        self.rise_c = rise_c
        self.tau_s = tau_s
        self.temp_c = ambient_c

    def advance(self, t_s: float) -> None:
        """Exact exponential step of the temperature toward its equilibrium."""
        dt = t_s - self.t_s
        if dt <= 0.0:
            return
        self.t_s = t_s
        settle = self.ambient_c + self.rise_c * max(0.0, self.cmd)
        self.temp_c = settle + (self.temp_c - settle) * math.exp(-dt / self.tau_s)

    def value(self, t_s: float) -> float:
        """The heater's temperature at `t_s`, degrees C."""
        self.advance(t_s)
        return self.temp_c

    @property
    def settled(self) -> bool:
        """True once the temperature is within 0.01 C of its equilibrium."""
        settle = self.ambient_c + self.rise_c * max(0.0, self.cmd)
        return abs(self.temp_c - settle) < 0.01


class TempSensor:
    """A temperature sensor on a heater: the true temperature plus seeded Gaussian noise."""

    def __init__(self, heater: Heater, noise_c: float = 0.1, seed: int = 0) -> None:
        self.heater = heater
        self.noise_c = noise_c
        self.bias_c = 0.0
        """Added to every reading (a test hook: a sensor that reads high)."""
        self._uniform = random.Random(seed).random
        self._spare: float | None = None

    def read(self, t_s: float) -> float:
        """A reading at `t_s`, degrees C."""
        return self.heater.value(t_s) + self.bias_c + self._noise() * self.noise_c

    def _noise(self) -> float:
        """The next standard normal draw: `random.Random(seed).gauss(0, 1)`'s sequence (the
        Box-Muller pairs it makes, the second one kept for the next draw), called inline."""
        z = self._spare
        if z is not None:
            self._spare = None
            return z
        uniform = self._uniform
        x2pi = uniform() * math.tau
        g2rad = math.sqrt(-2.0 * math.log(1.0 - uniform()))
        self._spare = math.sin(x2pi) * g2rad
        return math.cos(x2pi) * g2rad


def model_for(actuator: Actuator) -> Model:
    """The physical model of `actuator`, by kind."""
    if actuator.kind == "roller":
        return Roller(min_level=actuator.min_level)
    if actuator.kind == "air":
        return AirBladder()
    if actuator.kind == "heater":
        return Heater()
    return Plain()
