"""Durations written the way people read them."""

from __future__ import annotations

import pytest

from pipeline.durations import daily_cap_notice, format_duration


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


@pytest.mark.parametrize(("jobs", "daily_cap"), [(1, 1000), (1000, 1000), (5, 0)])
def test_daily_cap_notice_none_within_a_day(jobs: int, daily_cap: int) -> None:
    assert daily_cap_notice(jobs, daily_cap) is None


def test_daily_cap_notice_of_one_prompt_is_singular() -> None:
    notice = daily_cap_notice(3, 1)

    assert notice is not None
    assert "daily cap of 1 prompt per 24 hours, the 3 jobs take more than 2 days" in notice


@pytest.mark.parametrize(
    ("jobs", "daily_cap", "days"),
    [
        (1001, 1000, "more than 1 day."),
        (2000, 1000, "more than 1 day."),
        (15000, 1000, "more than 14 days."),
    ],
)
def test_daily_cap_notice_counts_full_days(jobs: int, daily_cap: int, days: str) -> None:
    notice = daily_cap_notice(jobs, daily_cap)

    assert notice is not None
    assert f"the {jobs:,} jobs take {days}" in notice
    assert f"daily cap of {daily_cap:,} prompts per 24 hours" in notice


def test_daily_cap_notice_counts_jobs_queued_before() -> None:
    notice = daily_cap_notice(2, 3, queued_before=5)

    assert notice is not None
    assert "this batch's 2 jobs and the 5 queued before them take more than 2 days" in notice


def test_daily_cap_notice_none_when_queue_fits() -> None:
    assert daily_cap_notice(2, 3, queued_before=1) is None
