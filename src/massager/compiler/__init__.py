"""The compiler: profile x rig x settings into a safe, timed command stream."""

from massager.compiler.assemble import Settings, compile_profile
from massager.limits import DEFAULT_CAP_MS, HARD_CAP_MS

__all__ = ["DEFAULT_CAP_MS", "HARD_CAP_MS", "Settings", "compile_profile"]
