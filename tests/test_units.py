"""Units: durations, frequencies and temperatures as profiles and rigs write them."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from massager.units import (
    format_duration,
    parse_duration,
    parse_duration_ms,
    parse_frequency_hz,
    parse_temperature_c,
)


@pytest.mark.parametrize(
    ("text", "ms"),
    [
        ("90s", 90_000),
        ("1m30s", 90_000),
        ("5m", 300_000),
        ("250ms", 250),
        ("1h", 3_600_000),
        ("1.5s", 1500),
        ("1m 30s", 90_000),
        ("2m0s", 120_000),
    ],
)
def test_durations_read(text: str, ms: int) -> None:
    assert parse_duration_ms(text) == ms


@pytest.mark.parametrize(
    ("text", "whole", "exact"),
    [
        ("90s", 90_000, 90_000.0),
        ("1.0005s", 1000, 1000.5),
        ("1.0006s", 1001, 1000.6),
        ("1.25ms", 1, 1.25),
    ],
)
def test_a_duration_reads_as_whole_and_exact_milliseconds(
    text: str, whole: int, exact: float
) -> None:
    assert parse_duration(text) == (whole, pytest.approx(exact))
    assert parse_duration_ms(text) == whole


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (90, "needs a unit"),
        (1.5, "needs a unit"),
        (True, "needs a unit"),
        ("90", "cannot read duration"),
        ("-5s", "cannot read duration"),
        ("soon", "cannot read duration"),
        ("5 minutes", "cannot read duration"),
        ("0s", "longer than zero"),
        ("0.0001s", "longer than zero"),
    ],
)
def test_bad_durations_are_refused(value: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_duration_ms(value)


def test_frequencies_and_temperatures() -> None:
    assert parse_frequency_hz("2Hz") == 2.0
    assert parse_frequency_hz("0.5 Hz") == 0.5
    assert parse_temperature_c("40C") == 40.0
    assert parse_temperature_c("-3.5C") == -3.5
    for bad in ("2", 2, "0Hz", "2kHz"):
        with pytest.raises(ValueError):
            parse_frequency_hz(bad)
    for bad in ("40", 40, "40F", "hot"):
        with pytest.raises(ValueError):
            parse_temperature_c(bad)


@pytest.mark.parametrize(
    ("ms", "text"),
    [
        (90_000, "1m30s"),
        (45_000, "45s"),
        (300_000, "5m"),
        (250, "250ms"),
        (1500, "1.5s"),
        (3_600_000, "60m"),
        (3_900_000, "1h5m"),
        (7_200_000, "2h"),
        (7_201_500, "2h1.5s"),
    ],
)
def test_format_duration(ms: int, text: str) -> None:
    assert format_duration(ms) == text


@pytest.mark.parametrize(
    ("ms", "text"),
    [(40_500, "40.5s"), (90_400, "1m30s"), (90_600, "1m31s"), (3_900_400, "1h5m")],
)
def test_format_duration_for_messages_rounds_to_the_second_past_a_minute(
    ms: int, text: str
) -> None:
    assert format_duration(ms, exact=False) == text


@given(st.integers(min_value=1, max_value=10 * 3_600_000))
def test_format_then_parse_round_trips(ms: int) -> None:
    assert parse_duration_ms(format_duration(ms)) == ms
