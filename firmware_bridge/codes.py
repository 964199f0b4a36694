"""The protocol's code tables, for both ends: message types, ops, shapes, kinds, faults, errors.

One home for every number the host and the device must agree on, imported by
the codec, the device, the executor and the host (the rig model, the stream,
the drivers). Only numbers live here, so the Pico keeps no text it never
shows; the host's names and wording for them are in ``names.py`` (not
deployed). docs/protocol.md lists the same tables for people.
"""

# -- message types: host to device ---------------------------------------
MSG_IDENTIFY = 0x01
MSG_CONFIG_BEGIN = 0x02
MSG_CONFIG_CHANNEL = 0x03
MSG_CONFIG_END = 0x04
MSG_CLOCK = 0x05
MSG_STATUS = 0x06
MSG_SCHEDULE = 0x07
MSG_PAUSE = 0x08
MSG_RESUME = 0x09
MSG_INTENSITY = 0x0A
MSG_STOP = 0x0B
MSG_OFF = 0x0C
MSG_CLEAR_FAULTS = 0x0D
MSG_STATS = 0x0E
MSG_BYE = 0x0F

# -- message types: device to host ---------------------------------------
MSG_ACK = 0x80
MSG_IDENTIFY_REPLY = 0x81
MSG_CLOCK_REPLY = 0x82
MSG_STATUS_REPLY = 0x83
MSG_REFUSED = 0x84
MSG_STATS_REPLY = 0x85

# -- ops of timed commands (arguments: waveforms.py) ---------------------
OP_SET = 1
OP_RAMP = 2
OP_WAVE = 3
OP_HEAT = 4
OP_OFF = 5

# -- wave shapes ---------------------------------------------------------
SHAPE_SINE = 0
SHAPE_TRIANGLE = 1

# -- channel kinds -------------------------------------------------------
KIND_ROLLER = 0
KIND_VIBRATION = 1
KIND_AIR = 2
KIND_HEATER = 3

# -- latched fault bits --------------------------------------------------
FAULT_WATCHDOG = 1
FAULT_OVERTEMP = 2
FAULT_ESTOP = 4
FAULT_HAL = 8
FAULT_SENSOR = 16

# -- results and refusal reasons: the executor's (0..15), then the device's
OK = 0
ERR_LATE = 1
ERR_LIMIT = 2
ERR_CHANNEL = 3
ERR_FULL = 4
ERR_FAULT = 5
ERR_ARG = 6
ERR_NOT_CONFIGURED = 16
ERR_MALFORMED = 17
ERR_VERSION = 18

# -- capability bits in the identify reply -------------------------------
CAP_TEMP = 1  # heater channels have a temperature sensor
CAP_ESTOP = 2  # an emergency-stop input
CAP_CURRENT = 4  # output currents are measured
CAP_VIRTUAL = 8  # a simulated device, not hardware

# -- status flags --------------------------------------------------------
FLAG_CONFIGURED = 1
FLAG_PAUSED = 2
FLAG_BUSY = 4
