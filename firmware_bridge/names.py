"""The host's names for the protocol's codes (``codes.py``): messages, ops, shapes, kinds, faults.

Host-only text, never deployed to the Pico (it would only cost the board RAM):
the drivers, the rig model, the stream and the docs spell codes through these
tables, and the refusal wording lives here once for every driver.
"""

from firmware_bridge import codes as c

MSG_NAMES = {
    c.MSG_IDENTIFY: "identify",
    c.MSG_CONFIG_BEGIN: "config_begin",
    c.MSG_CONFIG_CHANNEL: "config_channel",
    c.MSG_CONFIG_END: "config_end",
    c.MSG_CLOCK: "clock",
    c.MSG_STATUS: "status",
    c.MSG_SCHEDULE: "schedule",
    c.MSG_PAUSE: "pause",
    c.MSG_RESUME: "resume",
    c.MSG_INTENSITY: "intensity",
    c.MSG_STOP: "stop",
    c.MSG_OFF: "off",
    c.MSG_CLEAR_FAULTS: "clear_faults",
    c.MSG_STATS: "stats",
    c.MSG_BYE: "bye",
    c.MSG_ACK: "ack",
    c.MSG_IDENTIFY_REPLY: "identify_reply",
    c.MSG_CLOCK_REPLY: "clock_reply",
    c.MSG_STATUS_REPLY: "status_reply",
    c.MSG_REFUSED: "refused",
    c.MSG_STATS_REPLY: "stats_reply",
}
"""Message type -> its name in docs/protocol.md."""

OP_CODES = {
    "set": c.OP_SET,
    "ramp": c.OP_RAMP,
    "wave": c.OP_WAVE,
    "heat": c.OP_HEAT,
    "off": c.OP_OFF,
}
"""A stream command's op -> its op code."""
SHAPE_CODES = {"sine": c.SHAPE_SINE, "triangle": c.SHAPE_TRIANGLE}
"""A wave's shape -> its shape code."""
KIND_CODES = {
    "roller": c.KIND_ROLLER,
    "vibration": c.KIND_VIBRATION,
    "air": c.KIND_AIR,
    "heater": c.KIND_HEATER,
}
"""An actuator kind -> the channel kind code the executor takes."""
FAULT_BITS = {
    "watchdog": c.FAULT_WATCHDOG,
    "overtemp": c.FAULT_OVERTEMP,
    "estop": c.FAULT_ESTOP,
    "hal": c.FAULT_HAL,
    "sensor": c.FAULT_SENSOR,
}
"""A fault's name -> its latched bit."""

REFUSALS = {
    c.ERR_LATE: "its time had already passed on the device (the host fell behind)",
    c.ERR_LIMIT: "it breaks the actuator's limits on the device",
    c.ERR_CHANNEL: "the device has no such channel, or none configured for it",
    c.ERR_FULL: "the device's command queue is full",
    c.ERR_FAULT: "a fault is latched on the device",
    c.ERR_ARG: "an argument is invalid (unknown op or shape, or a value out of range)",
    c.ERR_NOT_CONFIGURED: "the device is not configured (no session)",
    c.ERR_MALFORMED: "the message was malformed",
    c.ERR_VERSION: "the device speaks another protocol version",
}
"""Why a device refused something, worded once for every driver and the docs."""


def reason_name(code: int) -> str:
    """A refusal code spelled out (`REFUSALS`), or 'refusal code N' for an unknown one."""
    return REFUSALS.get(code, "refusal code " + str(code))


def fault_names(bits: int) -> "list[str]":
    """The names of the fault bits set in `bits` (e.g. ['watchdog'])."""
    return [name for name, bit in FAULT_BITS.items() if bits & bit]
