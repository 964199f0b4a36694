"""An NTC thermistor's temperature from its resistance: the Beta equation, for every home.

The Pico's HAL (`hal_rp2`, its ADC inputs) and the Pi's GPIO device process
(an MCP3008 channel) read their heaters' thermistors through this one
function; each works out the resistance from its own divider and reference.
"""

import math

KELVIN = 273.15


def ntc_c(ohms: float, r25_ohm: float, beta: float) -> float:
    """Degrees C of an NTC thermistor reading `ohms`, `r25_ohm` at 25 C, constant `beta`."""
    inverse_t = 1.0 / (25.0 + KELVIN) + math.log(ohms / r25_ohm) / beta
    return 1.0 / inverse_t - KELVIN
