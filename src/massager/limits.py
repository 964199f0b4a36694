"""Session-wide limits shared by the compiler (safety layer 1) and the session (layer 2)."""

DEFAULT_CAP_MS = 20 * 60_000
"""Session cap unless the user raises it: 20 minutes, like consumer massagers."""

HARD_CAP_MS = 60 * 60_000
"""Highest session cap the command line accepts: 60 minutes."""
