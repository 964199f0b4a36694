"""massager: drive a motorized foot massager from a Raspberry Pi.

Profiles (YAML) are compiled for a rig into a timed actuator command stream,
which a session plays on a device: the simulator, a Pico over serial, or GPIO.
"""

__version__ = "0.1.0"

from massager import compiled as _compiled  # before anything imports firmware_bridge

_compiled.install()
