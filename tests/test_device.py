"""The firmware's protocol endpoint: sequence, acks, refusals, watchdog, faults, and fuzz."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, ClassVar

import pytest
from fake_hal import FakeHal
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from firmware_bridge import codec, codes, names
from firmware_bridge import device as device_module
from firmware_bridge import executor as ex
from firmware_bridge.device import Device

ACTUATING = ("schedule", "pause", "resume", "stop", "off", "set_scale", "configure", "clear")


LOGGED = {
    "schedule": "schedule",
    "pause": "pause",
    "resume": "resume",
    "stop": "stop",
    "off": "off",
    "set_scale": "set_scale",
    "configure": "configure",
    "clear_faults": "clear",
}
"""The executor's calls that can change an output, and how the spy logs each."""


class SpyExecutor:
    """The real executor, logging every call that can change an output.

    A wrapper, not a subclass: the executor may run compiled by mypyc
    (`massager.compiled`), and a compiled class takes no interpreted subclass.
    """

    log: ClassVar[list[str]] = []

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._real = ex.Executor(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._real, name)
        entry = LOGGED.get(name)
        if entry is None:
            return value

        def logged(*args: Any, **kwargs: Any) -> Any:
            SpyExecutor.log.append(entry)
            return value(*args, **kwargs)

        return logged


class Link:
    """A device on a FakeHal, spoken to the way the host does."""

    def __init__(self, channels: int = 2, hal: FakeHal | None = None) -> None:
        self.hal = hal or FakeHal()
        self.out: list[tuple[int, int, bytes]] = []
        self.decoder = codec.Decoder(lambda s, t, p: self.out.append((s, t, p)))
        self.device = Device(self.hal, channels, self.decoder.feed)
        self.seq = 0x40

    def send(self, mtype: int, payload: bytes = b"", seq: int | None = None) -> None:
        if seq is None:
            seq = self.seq
            self.seq = (self.seq + 1) & 0xFF
        self.device.feed(codec.encode_frame(seq, mtype, payload))

    def replies(self, mtype: int) -> list[bytes]:
        return [p for _, t, p in self.out if t == mtype]

    def hello(self, nonce: int = 1) -> None:
        self.send(codes.MSG_IDENTIFY, codec.encode_identify(nonce), seq=self.seq - 1)

    def configure(self, watchdog_ms: int = 250, kinds: tuple[int, ...] = (0, 1)) -> None:
        self.hello()
        self.send(codes.MSG_CONFIG_BEGIN, codec.encode_config_begin(77, watchdog_ms))
        for ch, kind in enumerate(kinds):
            temp = 42.0 if kind == codes.KIND_HEATER else None
            payload = codec.encode_config_channel(ch, kind, 0.9, 0.0, 100.0, 600_000, temp)
            self.send(codes.MSG_CONFIG_CHANNEL, payload)
        self.send(codes.MSG_CONFIG_END, codec.encode_config_end(len(kinds)))

    def schedule(self, *commands: tuple[int, int, int, float], first_id: int = 1) -> None:
        wire = [(t, ch, op, a, 0.0, 0.0, 0.0) for t, ch, op, a in commands]
        self.send(codes.MSG_SCHEDULE, codec.encode_schedule(first_id, wire))

    def run(self, until_us: int, talk_every_us: int | None = None) -> None:
        """Tick every 10 ms up to `until_us` elapsed, sending a status query as a heartbeat."""
        last = self.hal.el_us
        while self.hal.el_us + 10_000 <= until_us:
            self.hal.el_us += 10_000
            if talk_every_us is not None and self.hal.el_us - last >= talk_every_us:
                last = self.hal.el_us
                self.send(codes.MSG_STATUS, codec.encode_token(1))
            self.device.tick()

    def status(self) -> tuple[object, ...]:
        self.send(codes.MSG_STATUS, codec.encode_token(5))
        return codec.decode_status_reply(self.replies(codes.MSG_STATUS_REPLY)[-1])


@pytest.fixture
def spy(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    monkeypatch.setattr(device_module, "Executor", SpyExecutor)
    SpyExecutor.log = []
    yield SpyExecutor.log


def test_nothing_is_done_before_the_host_says_hello(spy: list[str]) -> None:
    link = Link()
    link.send(codes.MSG_CONFIG_BEGIN, codec.encode_config_begin(1, 250))
    link.send(codes.MSG_OFF)
    link.schedule((10, 0, codes.OP_SET, 0.5))
    assert link.out == [] and spy == []
    assert link.device.rx_invalid == 3


def test_identify_answers_and_restarts_the_sequence_only_for_a_new_nonce() -> None:
    link = Link(channels=3)
    link.send(codes.MSG_IDENTIFY, codec.encode_identify(5), seq=9)
    reply = codec.decode_identify_reply(link.replies(codes.MSG_IDENTIFY_REPLY)[0])
    assert reply[:4] == (codec.PROTOCOL_VERSION, 5, 0, 3)
    assert link.out[0][0] == 10  # acknowledges: expects 10 next
    link.send(codes.MSG_IDENTIFY, codec.encode_identify(5), seq=200)  # a repeat: no restart
    assert link.device.expected == 10
    link.send(codes.MSG_IDENTIFY, codec.encode_identify(6), seq=200)
    assert link.device.expected == 201


def test_a_host_of_another_protocol_version_is_told_so() -> None:
    link = Link()
    link.send(codes.MSG_IDENTIFY, codec.encode_identify(5, version=9), seq=0)
    # the id field is the command id, the channel, or 0xFFFF: never the version itself
    assert codec.decode_refused(link.replies(codes.MSG_REFUSED)[0]) == (
        codes.MSG_IDENTIFY,
        0xFFFF,
        0xFF,
        codes.ERR_VERSION,
    )


def test_a_watchdog_out_of_range_is_refused_with_no_id() -> None:
    link = Link()
    link.hello()
    link.send(codes.MSG_CONFIG_BEGIN, codec.encode_config_begin(77, 5))
    assert codec.decode_refused(link.replies(codes.MSG_REFUSED)[0]) == (
        codes.MSG_CONFIG_BEGIN,
        0xFFFF,
        0xFF,
        codes.ERR_ARG,
    )


def test_a_command_runs_at_its_time_on_the_device_clock() -> None:
    link = Link()
    link.configure()
    link.schedule((100_000, 0, codes.OP_SET, 0.5))
    link.run(90_000, talk_every_us=50_000)
    assert link.device.executor.levels[0] == 0.0
    link.run(200_000, talk_every_us=50_000)
    assert link.device.executor.levels[0] == pytest.approx(0.5)
    assert link.hal.outputs[0] == pytest.approx(0.5)


def test_a_duplicate_frame_is_acknowledged_but_not_done_twice() -> None:
    link = Link()
    link.configure()
    seq = link.seq
    link.schedule((100_000, 0, codes.OP_SET, 0.5))
    link.send(
        codes.MSG_SCHEDULE, codec.encode_schedule(1, [(100_000, 0, 1, 0.5, 0, 0, 0)]), seq=seq
    )
    assert link.device.executor.queued() == 1
    assert link.device.rx_duplicates == 1
    assert link.out[-1] == ((seq + 1) & 0xFF, codes.MSG_ACK, b"")


def test_a_frame_after_a_gap_is_not_done_and_the_gap_is_reported() -> None:
    link = Link()
    link.configure()
    expected = link.seq
    link.send(codes.MSG_SCHEDULE, codec.encode_schedule(1, [(100_000, 0, 1, 0.5, 0, 0, 0)]),
              seq=expected + 1)  # fmt: skip
    assert link.device.executor.queued() == 0
    assert link.device.rx_out_of_order == 1
    assert link.out[-1] == (expected, codes.MSG_ACK, b"")  # "I still expect this one"


def test_refusals_name_the_command_and_the_reason() -> None:
    link = Link()
    link.configure()
    link.run(50_000, talk_every_us=20_000)
    link.schedule(
        (10_000, 0, codes.OP_SET, 0.5),  # late
        (100_000, 1, codes.OP_SET, 0.95),  # above max 0.9
        (100_000, 5, codes.OP_SET, 0.5),  # no such channel
        (100_000, 1, codes.OP_SET, 0.5),  # fine
        first_id=40,
    )
    refused = [codec.decode_refused(p) for p in link.replies(codes.MSG_REFUSED)]
    assert refused == [
        (codes.MSG_SCHEDULE, 40, 0, codes.ERR_LATE),
        (codes.MSG_SCHEDULE, 41, 1, codes.ERR_LIMIT),
        (codes.MSG_SCHEDULE, 42, 5, codes.ERR_CHANNEL),
    ]
    assert link.device.executor.queued() == 1
    st = link.status()
    assert st[7] == 3 and st[8] == 42 and st[9] == codes.ERR_CHANNEL


def test_commands_before_the_configuration_ends_are_refused() -> None:
    link = Link()
    link.hello()
    link.schedule((100_000, 0, codes.OP_SET, 0.5), first_id=3)
    assert codec.decode_refused(link.replies(codes.MSG_REFUSED)[0]) == (
        codes.MSG_SCHEDULE, 3, 0, codes.ERR_NOT_CONFIGURED,
    )  # fmt: skip


def test_a_malformed_payload_is_refused_and_changes_nothing(spy: list[str]) -> None:
    link = Link()
    link.configure()
    spy.clear()
    link.send(codes.MSG_SCHEDULE, b"\x01\x00\x02\x00")  # says 2 commands, holds none
    link.send(codes.MSG_INTENSITY, b"\x00")
    link.send(0x55, b"")  # no such message
    assert spy == []
    reasons = [codec.decode_refused(p)[3] for p in link.replies(codes.MSG_REFUSED)]
    assert reasons == [codes.ERR_MALFORMED] * 3


def test_a_channel_the_hardware_cannot_drive_is_refused() -> None:
    class PickyHal(FakeHal):
        def configure(self, ch: int, kind: int) -> bool:
            return kind != codes.KIND_HEATER

    link = Link(hal=PickyHal())
    link.hello()
    link.send(codes.MSG_CONFIG_CHANNEL, codec.encode_config_channel(1, 3, 0.5, 0, 1, 1000, 42.0))
    assert codec.decode_refused(link.replies(codes.MSG_REFUSED)[0]) == (
        codes.MSG_CONFIG_CHANNEL, 1, 1, codes.ERR_CHANNEL,
    )  # fmt: skip


def test_the_watchdog_turns_everything_off_when_the_host_goes_quiet() -> None:
    link = Link()
    link.configure(watchdog_ms=250)
    link.schedule((20_000, 0, codes.OP_SET, 0.8), (20_000, 1, codes.OP_SET, 0.6))
    link.run(1_000_000, talk_every_us=100_000)
    assert link.device.executor.levels == [pytest.approx(0.8), pytest.approx(0.6)]
    link.out.clear()
    silent_from = link.hal.el_us
    link.run(silent_from + 400_000)  # nobody talks
    assert link.device.executor.faults == codes.FAULT_WATCHDOG
    assert link.hal.outputs == {0: 0.0, 1: 0.0}
    cut = (
        min(t for t, _, level in link.hal.writes if level == 0.0 and t > silent_from) - silent_from
    )
    assert 250_000 <= cut <= 260_000
    unasked = [codec.decode_status_reply(p) for p in link.replies(codes.MSG_STATUS_REPLY)]
    assert unasked and unasked[0][0] == 0 and unasked[0][3] == codes.FAULT_WATCHDOG


def test_a_duplicate_frame_still_proves_the_host_is_alive() -> None:
    link = Link()
    link.configure(watchdog_ms=250)
    link.schedule((20_000, 0, codes.OP_SET, 0.8))
    old = link.seq - 1
    for _ in range(10):
        link.run(link.hal.el_us + 100_000)
        link.send(codes.MSG_STATUS, codec.encode_token(1), seq=old)
    assert link.device.executor.faults == 0


def test_a_held_emergency_stop_latches_again_after_clearing() -> None:
    class EstopHal(FakeHal):
        pressed = False

        def estop(self) -> bool:
            return self.pressed

    hal = EstopHal()
    link = Link(hal=hal)
    link.configure()
    link.schedule((20_000, 0, codes.OP_SET, 0.8))
    link.run(100_000, talk_every_us=20_000)
    hal.pressed = True
    link.run(120_000, talk_every_us=20_000)
    assert link.device.executor.faults == codes.FAULT_ESTOP and hal.outputs[0] == 0.0
    link.send(codes.MSG_CLEAR_FAULTS, codec.encode_clear_faults(0xFF))
    link.run(140_000, talk_every_us=20_000)
    assert link.device.executor.faults == codes.FAULT_ESTOP
    hal.pressed = False
    link.send(codes.MSG_CLEAR_FAULTS, codec.encode_clear_faults(0xFF))
    link.run(160_000, talk_every_us=20_000)
    assert link.device.executor.faults == 0
    identity = codec.decode_identify_reply(link.replies(codes.MSG_IDENTIFY_REPLY)[0])
    assert identity[4] & codes.CAP_ESTOP


def test_a_new_configuration_keeps_latched_faults_and_clearing_takes_a_mask() -> None:
    link = Link()
    link.configure()
    link.device.executor.latch(codes.FAULT_OVERTEMP | codes.FAULT_WATCHDOG)
    link.send(codes.MSG_CONFIG_BEGIN, codec.encode_config_begin(78, 250))
    assert link.device.executor.faults == codes.FAULT_OVERTEMP | codes.FAULT_WATCHDOG
    link.send(codes.MSG_CLEAR_FAULTS, codec.encode_clear_faults(codes.FAULT_WATCHDOG))
    assert link.device.executor.faults == codes.FAULT_OVERTEMP


def test_bye_turns_off_and_disarms_the_watchdog() -> None:
    link = Link()
    link.configure()
    link.schedule((20_000, 0, codes.OP_SET, 0.8))
    link.run(100_000, talk_every_us=20_000)
    link.send(codes.MSG_BYE)
    assert link.hal.outputs[0] == 0.0
    link.run(2_000_000)
    assert link.device.executor.faults == 0
    link.hello(nonce=2)  # a new host learns there is no session any more
    assert codec.decode_identify_reply(link.replies(codes.MSG_IDENTIFY_REPLY)[-1])[2] == 0


def test_status_reports_levels_temperatures_currents_and_the_pause_shift() -> None:
    class Meter(FakeHal):
        def read_current(self, ch: int) -> float:
            return 0.5 + ch

    hal = Meter()
    hal.temps[1] = 33.0
    link = Link(hal=hal)
    link.configure(kinds=(codes.KIND_ROLLER, codes.KIND_HEATER))
    link.schedule((20_000, 0, codes.OP_SET, -0.5), (500_000, 0, codes.OP_SET, 0.5))
    link.run(300_000, talk_every_us=20_000)
    link.send(codes.MSG_PAUSE)
    link.run(1_300_000, talk_every_us=20_000)
    link.send(codes.MSG_RESUME)
    link.run(1_350_000, talk_every_us=20_000)
    st = link.status()
    assert st[2] & codes.FLAG_CONFIGURED and not st[2] & codes.FLAG_PAUSED
    assert st[5] == pytest.approx(1_000_000, abs=20_000)  # shift_us: the pause
    assert st[10][0] < 0  # roller going backwards, ramping up again
    assert st[11] == [None, 33.0]
    assert st[12] == [0.5, 1.5]


# -- fuzz: nothing that is not a valid, in-sequence message touches an output --


def configured_device() -> tuple[Link, list[str]]:
    link = Link()
    link.configure()
    link.run(50_000, talk_every_us=10_000)
    SpyExecutor.log = []
    return link, SpyExecutor.log


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture], max_examples=300)
@given(st.lists(st.binary(max_size=200), max_size=8))
def test_random_bytes_are_rejected_and_never_reach_the_executor(
    spy: list[str], chunks: list[bytes]
) -> None:
    """A rejection test: random bytes never pass the CRC-32 (valid frames: the test below)."""
    link, log = configured_device()
    for chunk in chunks:
        link.device.feed(chunk)
        link.device.tick()
    assert [c for c in log if c in ACTUATING] == []
    assert link.device.executor.queued() == 0
    assert all(level == 0.0 for level in link.hal.outputs.values())


any_type = st.one_of(st.sampled_from(sorted(names.MSG_NAMES)), st.integers(0, 255))


@st.composite
def frames(draw: st.DrawFn) -> tuple[int, int, bytes]:
    mtype = draw(any_type)
    seq = draw(st.one_of(st.integers(0x40, 0x50), st.integers(0, 255)))
    if draw(st.booleans()):
        payload = draw(st.binary(max_size=60))
    elif mtype == codes.MSG_SCHEDULE:
        cmd = (draw(st.integers(0, 2**30)), draw(st.integers(0, 3)), draw(st.integers(0, 6)))
        payload = bytes([1, 0, 1]) + cmd[0].to_bytes(4, "little") + bytes(cmd[1:])
        payload += draw(st.binary(min_size=0, max_size=13))
    else:
        payload = draw(st.binary(max_size=8))
    return seq, mtype, payload


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture], max_examples=300)
@given(st.lists(frames(), max_size=12))
def test_random_frames_act_only_when_in_sequence_and_well_formed(
    spy: list[str], sequence: list[tuple[int, int, bytes]]
) -> None:
    link, log = configured_device()
    expected = link.device.expected
    nonce = link.device.nonce
    for seq, mtype, payload in sequence:
        in_sequence = seq == expected
        if mtype == codes.MSG_IDENTIFY:
            try:
                _, new_nonce = codec.decode_identify(payload)
            except ValueError:
                new_nonce = nonce
            if new_nonce != nonce:
                nonce, expected = new_nonce, (seq + 1) & 0xFF
            in_sequence = False  # a hello never actuates
        elif in_sequence:
            expected = (expected + 1) & 0xFF
        del log[:]
        link.device.feed(codec.encode_frame(seq, mtype, payload))
        link.device.tick()
        if not in_sequence:
            assert [c for c in log if c in ACTUATING] == [], (seq, mtype, payload)
        assert link.device.expected == expected
    for ch, level in link.hal.outputs.items():
        assert -0.9 - 1e-9 <= level <= 0.9 + 1e-9, ch
