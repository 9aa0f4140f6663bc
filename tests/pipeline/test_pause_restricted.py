"""A pause for restricted processing: recognised, explained, and never probed."""

from __future__ import annotations

from pipeline.pause_reasons import RESTRICTED_REASON, PauseCause, classify_pause, describe_pause


def test_restricted_reason_classified() -> None:
    assert classify_pause(RESTRICTED_REASON) is PauseCause.RESTRICTED


def test_restricted_pause_not_probed() -> None:
    assert PauseCause.RESTRICTED.is_probed is False
    assert all(cause.is_probed for cause in PauseCause if cause is not PauseCause.RESTRICTED)


def test_restricted_advice_points_to_lifting() -> None:
    description = describe_pause(RESTRICTED_REASON, probe_seconds=600)

    assert "Lift the restriction" in description.advice
    assert "checks the account" not in description.advice
    assert "Resume" not in description.advice
