"""Code that runs both on the Raspberry Pi Pico (MicroPython) and on the host (CPython).

Everything in this package is written in the subset of Python both accept:
no dataclasses, enum or typing at run time (annotations are fine), no f-string
features MicroPython lacks, only modules MicroPython has.
"""
