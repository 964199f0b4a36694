"""The protocol's code tables, for both ends: message types, ops, shapes, kinds, faults, errors.

One home for every number the host and the device must agree on, imported by
the codec, the device, the executor and the host (the rig model, the stream,
the drivers). Only numbers live here, so the Pico keeps no text it never
shows; the host's names and wording for them are in ``names.py`` (not
deployed). docs/protocol.md lists the same tables for people.
"""

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Final

# -- message types: host to device ---------------------------------------
MSG_IDENTIFY: "Final" = 0x01
MSG_CONFIG_BEGIN: "Final" = 0x02
MSG_CONFIG_CHANNEL: "Final" = 0x03
MSG_CONFIG_END: "Final" = 0x04
MSG_CLOCK: "Final" = 0x05
MSG_STATUS: "Final" = 0x06
MSG_SCHEDULE: "Final" = 0x07
MSG_PAUSE: "Final" = 0x08
MSG_RESUME: "Final" = 0x09
MSG_INTENSITY: "Final" = 0x0A
MSG_STOP: "Final" = 0x0B
MSG_OFF: "Final" = 0x0C
MSG_CLEAR_FAULTS: "Final" = 0x0D
MSG_STATS: "Final" = 0x0E
MSG_BYE: "Final" = 0x0F

# -- message types: device to host ---------------------------------------
MSG_ACK: "Final" = 0x80
MSG_IDENTIFY_REPLY: "Final" = 0x81
MSG_CLOCK_REPLY: "Final" = 0x82
MSG_STATUS_REPLY: "Final" = 0x83
MSG_REFUSED: "Final" = 0x84
MSG_STATS_REPLY: "Final" = 0x85

# -- ops of timed commands (arguments: waveforms.py) ---------------------
OP_SET: "Final" = 1
OP_RAMP: "Final" = 2
OP_WAVE: "Final" = 3
OP_HEAT: "Final" = 4
OP_OFF: "Final" = 5

# -- wave shapes ---------------------------------------------------------
SHAPE_SINE: "Final" = 0
SHAPE_TRIANGLE: "Final" = 1

# -- channel kinds -------------------------------------------------------
KIND_ROLLER: "Final" = 0
KIND_VIBRATION: "Final" = 1
KIND_AIR: "Final" = 2
KIND_HEATER: "Final" = 3

# -- latched fault bits --------------------------------------------------
FAULT_WATCHDOG: "Final" = 1
FAULT_OVERTEMP: "Final" = 2
FAULT_ESTOP: "Final" = 4
FAULT_HAL: "Final" = 8
FAULT_SENSOR: "Final" = 16

# -- results and refusal reasons: the executor's (0..15), then the device's
OK: "Final" = 0
ERR_LATE: "Final" = 1
ERR_LIMIT: "Final" = 2
ERR_CHANNEL: "Final" = 3
ERR_FULL: "Final" = 4
ERR_FAULT: "Final" = 5
ERR_ARG: "Final" = 6
ERR_NOT_CONFIGURED: "Final" = 16
ERR_MALFORMED: "Final" = 17
ERR_VERSION: "Final" = 18

# -- capability bits in the identify reply -------------------------------
CAP_TEMP: "Final" = 1  # heater channels have a temperature sensor
CAP_ESTOP: "Final" = 2  # an emergency-stop input
CAP_CURRENT: "Final" = 4  # output currents are measured
CAP_VIRTUAL: "Final" = 8  # a simulated device, not hardware

# -- status flags --------------------------------------------------------
FLAG_CONFIGURED: "Final" = 1
FLAG_PAUSED: "Final" = 2
FLAG_BUSY: "Final" = 4
