"""The executor's queue of timed commands: a fixed ring buffer kept in time order.

``CommandQueue(size)`` holds at most ``size`` commands over all channels in
flat lists (``t``, ``ch``, ``op``, ``a``, ``b``, ``c``, ``d``, one slot per
item), so queueing and starting a command allocate nothing. ``head`` is the
slot of the earliest command and ``count`` how many wait; commands at the
same time keep the order they were pushed in. Times are device ticks
(microseconds, wrapping), compared only through ``ticks_diff``.
"""

from firmware_bridge.ticks import ticks_add, ticks_diff


class CommandQueue:
    """A bounded ring buffer of timed commands, earliest first."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.t = [0] * size
        self.ch = [0] * size
        self.op = [0] * size
        self.a = [0.0] * size
        self.b = [0.0] * size
        self.c = [0.0] * size
        self.d = [0.0] * size
        self.head = 0
        self.count = 0

    def push(self, t_us: int, ch: int, op: int, a: float, b: float, c: float, d: float) -> bool:
        """Insert a command at time `t_us` after any at the same time; False when full."""
        size = self.size
        if self.count >= size:
            return False
        qt = self.t
        qch = self.ch
        qop = self.op
        qa = self.a
        qb = self.b
        qc = self.c
        qd = self.d
        head = self.head
        i = (head + self.count) % size
        while i != head:
            j = (i - 1) % size
            if ticks_diff(qt[j], t_us) <= 0:
                break
            qt[i] = qt[j]
            qch[i] = qch[j]
            qop[i] = qop[j]
            qa[i] = qa[j]
            qb[i] = qb[j]
            qc[i] = qc[j]
            qd[i] = qd[j]
            i = j
        qt[i] = t_us
        qch[i] = ch
        qop[i] = op
        qa[i] = a
        qb[i] = b
        qc[i] = c
        qd[i] = d
        self.count += 1
        return True

    def pop(self) -> int:
        """Take the earliest command off (the queue must not be empty); returns its slot.

        The slot's items stay as they were until the next ``push``.
        """
        i = self.head
        self.head = (i + 1) % self.size
        self.count -= 1
        return i

    def next_us(self) -> "int | None":
        """The time of the earliest command, or None when the queue is empty."""
        return self.t[self.head] if self.count else None

    def clear(self) -> None:
        """Drop every command."""
        self.count = 0

    def shift(self, span_us: int) -> None:
        """Move every waiting command `span_us` microseconds later (a resume after a pause)."""
        qt = self.t
        size = self.size
        for k in range(self.count):
            i = (self.head + k) % size
            qt[i] = ticks_add(qt[i], span_us)
