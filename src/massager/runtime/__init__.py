"""Playing a compiled stream on a device: the session and the events it reports."""
