"""Devices that play a command stream: the simulator, a Pico over serial, the Pi's GPIO."""
