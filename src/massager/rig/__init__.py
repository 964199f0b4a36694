"""Rigs: the actuators a massager has, the zones they reach, their limits and bindings."""

from massager.rig.model import Actuator, ActuatorKind, GpioBinding, Rig, SerialBinding

__all__ = ["Actuator", "ActuatorKind", "GpioBinding", "Rig", "SerialBinding"]
