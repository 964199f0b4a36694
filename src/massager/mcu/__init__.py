"""Device processes: the firmware's Device and Executor on this machine's own hardware.

`massager.mcu.gpio` is the GPIO device process (``massager mcu gpio``, and what
``--device gpio`` starts): the Pi's pins as a device of their own, reached over
the wire protocol like a Pico. The host side of every device is in
`massager.drivers`.
"""
