"""Pause reasons read back into causes, and explained to the connection's owner."""

from __future__ import annotations

import pytest

from midjourney.relay import (
    AccessBlockedError,
    CaptchaRequiredError,
    RelayError,
    TokenRejectedError,
)
from pipeline.pause_reasons import PauseCause, classify_pause, describe_pause, with_guild


@pytest.mark.parametrize(
    ("reason", "cause"),
    [
        (
            "Pending mod message You have a pending moderation message.",
            PauseCause.PENDING_MODERATION,
        ),
        ("Subscription required Your Midjourney subscription has ended.", PauseCause.SUBSCRIPTION),
        ("Subscription paused", PauseCause.SUBSCRIPTION),
        ("Plan Cancelled", PauseCause.SUBSCRIPTION),
        ("Credits exhausted You have run out of fast GPU time.", PauseCause.FAST_HOURS_USED_UP),
        ("Tos not accepted", PauseCause.TERMS),
        ("Midjourney asks for a CAPTCHA; solve it in Discord.", PauseCause.CAPTCHA),
        ("Blocked", PauseCause.OTHER),
        ("", PauseCause.OTHER),
    ],
)
def test_midjourney_reason_cause(reason: str, cause: PauseCause) -> None:
    assert classify_pause(reason) is cause


@pytest.mark.parametrize(
    ("error", "cause"),
    [
        (TokenRejectedError, PauseCause.TOKEN_REJECTED),
        (AccessBlockedError, PauseCause.ACCESS_BLOCKED),
        (CaptchaRequiredError, PauseCause.CAPTCHA),
    ],
)
def test_relay_error_cause(error: type[RelayError], cause: PauseCause) -> None:
    from midjourney.relay import _raise_for_status

    status = {TokenRejectedError: 401, AccessBlockedError: 403}.get(error, 400)
    body = {"captcha_key": ["captcha-required"]} if status == 400 else {}
    with pytest.raises(error) as raised:
        _raise_for_status(status, body)

    assert classify_pause(raised.value.user_message) is cause


def test_only_session_causes_skip_trial() -> None:
    assert [cause for cause in PauseCause if not cause.needs_trial] == [
        PauseCause.TOKEN_REJECTED,
        PauseCause.SESSION_FAILED,
    ]


def test_session_that_did_not_start_keeps_discords_answer() -> None:
    reason = (
        "The account's Discord session did not start "
        '(HTTP 404: {"message": "Unknown Guild", "code": 10004})'
    )

    description = describe_pause(reason, probe_seconds=600)

    assert description.cause is PauseCause.SESSION_FAILED
    assert "Unknown Guild" in description.reason
    assert "channel link" in description.advice


def test_description_gives_advice_and_probe_interval() -> None:
    description = describe_pause("Subscription paused", probe_seconds=600)

    assert description.cause is PauseCause.SUBSCRIPTION
    assert "subscription" in description.reason
    assert "https://www.midjourney.com/account" in description.advice
    assert "every 10 minutes" in description.advice
    assert "Resume" in description.advice


def test_unknown_reason_keeps_its_text() -> None:
    description = describe_pause("Blocked", probe_seconds=30)

    assert description.reason.endswith(": Blocked.")
    assert "every 30 seconds" in description.advice


def test_link_without_guild_gets_one() -> None:
    assert (
        with_guild("https://discord.com/channels//2/3", "1") == "https://discord.com/channels/1/2/3"
    )
    assert (
        with_guild("https://discord.com/channels/9/2/3", "1")
        == "https://discord.com/channels/9/2/3"
    )
    assert with_guild("", "1") == ""
