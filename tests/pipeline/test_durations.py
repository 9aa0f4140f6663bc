"""Durations written the way people read them."""

from __future__ import annotations

import pytest

from pipeline.durations import format_duration


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "0 s"),
        (1, "1 s"),
        (45, "45 s"),
        (45.4, "45 s"),
        (250, "4 min 10 s"),
        (300, "5 min"),
        (600, "10 min"),
        (3600, "1 h"),
        (7500, "2 h 5 min"),
    ],
)
def test_whole_seconds_minutes_and_hours(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text


@pytest.mark.parametrize(("seconds", "text"), [(0.3, "0.3 s"), (2.5, "2.5 s"), (1.04, "1 s")])
def test_short_durations_keep_tenths(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text


def test_negative_duration_reads_zero() -> None:
    assert format_duration(-5) == "0 s"
