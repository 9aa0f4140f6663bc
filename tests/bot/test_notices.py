from dataclasses import replace
from datetime import UTC, datetime

from bot.notices import (
    connection_name,
    describe_choices,
    describe_connection,
    render_pause_notice,
    render_resume_notice,
    render_status,
)
from bot.text import MESSAGE_LIMIT, ZERO_WIDTH_SPACE
from pipeline.health import ConnectionHealth

LINK = "https://discord.com/channels/1/2/3"
PAUSED_AT = datetime(2025, 3, 4, 5, 6, 7, tzinfo=UTC)


def working(**changes: object) -> ConnectionHealth:
    health = ConnectionHealth(
        connection_id=7,
        user_id=3,
        label="studio",
        guild_id="111",
        channel_id="222",
        plan="pro",
        working=True,
        reason="",
        advice="",
        link="",
        paused_at=None,
        speed_override="",
        relax_when_fast_used_up=False,
        appeal_soft_moderation=False,
        learned_job_limit=None,
    )
    return replace(health, **changes)  # type: ignore[arg-type]


def paused(**changes: object) -> ConnectionHealth:
    base = {
        "working": False,
        "reason": "Midjourney asks you to solve a CAPTCHA",
        "advice": "Open Midjourney's message in Discord and solve the CAPTCHA",
        "link": LINK,
        "paused_at": PAUSED_AT,
    }
    return working(**(base | changes))


def test_pause_notice_says_reason_advice_and_link() -> None:
    text = render_pause_notice(paused(), "<@555>")

    assert text.startswith("⏸ <@555> ")
    assert "**studio** is paused: Midjourney asks you to solve a CAPTCHA." in text
    assert "What to do: Open Midjourney's message in Discord and solve the CAPTCHA." in text
    assert f"<{LINK}>" in text
    assert "Nothing new is sent on this connection while it is paused" in text


def test_pause_notice_without_advice_or_link_omits_them() -> None:
    text = render_pause_notice(paused(advice="", link=""))

    assert "What to do" not in text
    assert "Midjourney's message" not in text
    assert text.startswith("⏸ Your Midjourney connection **studio** is paused: ")


def test_pause_notice_without_reason_still_explains() -> None:
    text = render_pause_notice(paused(reason="  "))

    assert "is paused: Midjourney or Discord stopped accepting its requests." in text


def test_pause_notice_keeps_reason_punctuation() -> None:
    text = render_pause_notice(paused(reason="Your token was rejected!"))

    assert "is paused: Your token was rejected!\n" in text


def test_pause_notice_defuses_mentions_in_reason() -> None:
    text = render_pause_notice(paused(reason="@everyone look", advice="ask @here"))

    assert "@everyone" not in text
    assert "@here" not in text
    assert f"@{ZERO_WIDTH_SPACE}everyone look" in text


def test_pause_notice_fits_discord_limit() -> None:
    text = render_pause_notice(paused(reason="x" * 5000, advice="y" * 5000, label="z" * 500))

    assert len(text) <= MESSAGE_LIMIT
    assert f"<{LINK}>" in text


def test_resume_notice_names_connection() -> None:
    text = render_resume_notice(working())

    assert text.startswith("▶ ")
    assert "**studio** is resumed" in text


def test_connection_without_label_is_named_by_id() -> None:
    assert connection_name(working(label=" ")) == "connection 7"


def test_status_of_working_connection() -> None:
    text = describe_connection(working())

    assert "**studio** · server 111, channel <#222> · plan pro" in text
    assert "✅ working" in text
    assert "paused" not in text
    assert "/connection settings" in text


def test_status_of_paused_connection_says_why_and_since() -> None:
    text = describe_connection(paused())
    stamp = int(PAUSED_AT.timestamp())

    assert f"⏸ paused since <t:{stamp}:f> (<t:{stamp}:R>): " in text
    assert "Midjourney asks you to solve a CAPTCHA." in text
    assert "What to do: Open Midjourney's message" in text
    assert f"<{LINK}>" in text


def test_status_mentions_relax_override_and_learned_limit() -> None:
    text = describe_connection(working(speed_override="relax", learned_job_limit=2))

    assert "relax mode" in text
    assert "at most 2 jobs at once" in text


def test_status_says_until_when_sending_waits() -> None:
    waiting = "Sending waits until 2026-03-02 12:00 UTC: daily cap of 5 prompts reached."

    text = describe_connection(working(waiting=waiting))

    assert f"- {waiting}" in text


def test_choices_follow_settings() -> None:
    default = describe_choices(working())
    chosen = describe_choices(working(relax_when_fast_used_up=True, appeal_soft_moderation=True))

    assert "When fast hours run out: pause and tell you." in default
    assert "On soft moderation: fail the row as moderated." in default
    assert "When fast hours run out: switch to relax mode" in chosen
    assert "On soft moderation: press Appeal and follow the outcome." in chosen


def test_status_of_many_connections_fits_limit() -> None:
    connections = [
        paused(connection_id=index, label=f"account {index}", reason="r" * 500)
        for index in range(20)
    ]

    text = render_status(connections)

    assert len(text) <= MESSAGE_LIMIT
    assert "**account 0**" in text
    assert "more connections" in text
