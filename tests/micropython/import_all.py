"""Import every deployed firmware module on MicroPython, then boot main.py in maintenance mode.

Prints ``imported NAME`` per module, then main.py's run with the emergency
stop reading pressed (returns at once, every PWM duty 0), and one roller write
and thermistor reading through the RP2040 HAL.
"""

import sys

import machine

for name in (
    "codes",
    "ticks",
    "waveforms",
    "limits",
    "cmdqueue",
    "heater",
    "motion",
    "executor",
    "codec",
    "channels",
    "device",
    "thermistor",
    "hal_rp2",
):
    __import__("firmware_bridge." + name)
    print("imported", name)
import main  # noqa: E402, F401  (runs: the stand-in's inputs read pressed, so it returns)

print("imported main")
print("duties", sorted(set(machine.DUTIES.values())), len(machine.DUTIES))
hal = sys.modules["firmware_bridge.hal_rp2"].Rp2Hal()
hal.set_output(0, -0.5)
print("roller", machine.DUTIES[0], hal._dir[0].value())
print("temp", "%.3f" % hal.read_temp(7))
print("estop", hal.estop())
