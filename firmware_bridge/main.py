"""The Pico's entry point (deployed as :main.py): serve the host over USB serial.

At power-up every output is written to zero. If the emergency stop reads
pressed at boot (no button or jumper on GP22), the firmware does not start and
the REPL stays free for mpremote: that is the maintenance mode. Otherwise
Ctrl-C is switched off (0x03 is an ordinary byte in a binary frame), the
hardware watchdog is started so a hung loop resets the board (outputs off
again at boot), and the loop reads whatever bytes USB has, ticks the executor
and feeds the watchdog, forever.
"""

import select
import sys

import machine
import micropython

from firmware_bridge.channels import CHANNELS
from firmware_bridge.codes import CAP_TEMP
from firmware_bridge.device import Device
from firmware_bridge.hal_rp2 import Rp2Hal

WDT_MS = 1000  # the loop runs every few ms; a second without a pass is a hang
READ_BURST = 64  # bytes read per pass before the executor ticks again


def run() -> None:
    """Serve the host until the board resets."""
    hal = Rp2Hal()
    if hal.estop():
        return  # maintenance mode: outputs are off, the REPL is free
    stdin = sys.stdin.buffer
    stdout = sys.stdout.buffer
    device = Device(hal, CHANNELS, stdout.write, caps=CAP_TEMP)
    poller = select.poll()
    poller.register(sys.stdin, select.POLLIN)
    micropython.kbd_intr(-1)
    wdt = machine.WDT(timeout=WDT_MS)
    try:
        while True:
            n = 0
            while n < READ_BURST and poller.poll(0):
                data = stdin.read(1)
                if data:
                    device.feed(data)
                n += 1
            device.tick()
            wdt.feed()
    finally:
        device.all_off()
        hal.all_off()
        micropython.kbd_intr(3)


run()
