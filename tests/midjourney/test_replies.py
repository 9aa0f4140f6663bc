"""classify: Midjourney bot messages in their 2023 and 2025-2026 shapes."""

from __future__ import annotations

from typing import Any

import pytest

from midjourney.job_ids import job_uuid_from_custom_id
from midjourney.messages import MIDJOURNEY_BOT_ID, Button, ChannelMessage
from midjourney.replies import (
    ReplyKind,
    classify,
    job_uuid_from_url,
    reroll_custom_id,
    upscale_custom_id,
    variation_custom_id,
)

JOB = "8b831f86-c093-4f17-8570-2159888840aa"
OTHER_JOB = "0f3e2d1c-4b5a-4978-8d6e-5f4a3b2c1d0e"
USER = "402193844750254081"
CHANNEL = "1187765412345678901"
RED = 16711680


def payload(**fields: Any) -> dict[str, Any]:
    """Return a MESSAGE_CREATE/UPDATE body from the Midjourney bot with ``fields`` set."""
    message: dict[str, Any] = {
        "id": "1249876543210987654",
        "type": 0,
        "channel_id": CHANNEL,
        "guild_id": "1187765400000000000",
        "author": {
            "id": MIDJOURNEY_BOT_ID,
            "username": "Midjourney Bot",
            "discriminator": "9282",
            "bot": True,
        },
        "content": "",
        "attachments": [],
        "embeds": [],
        "components": [],
        "flags": 0,
        "timestamp": "2026-06-14T10:21:33.512000+00:00",
    }
    message.update(fields)
    return message


def read(**fields: Any) -> ChannelMessage:
    return ChannelMessage.from_payload(payload(**fields))


def attachment(filename: str, *, width: int = 2048, height: int = 2048) -> dict[str, Any]:
    url = f"https://cdn.discordapp.com/attachments/{CHANNEL}/1249876543210987700/{filename}"
    return {
        "id": "1249876543210987700",
        "filename": filename,
        "size": 6_512_345,
        "url": f"{url}?ex=6671f0a1&is=66709f21&hm=3c1f0e9a7b2d&",
        "proxy_url": f"https://media.discordapp.net/attachments/{CHANNEL}/1249876543210987700/{filename}",
        "width": width,
        "height": height,
        "content_type": "image/png" if filename.endswith(".png") else "image/webp",
    }


def grid_components(job: str = JOB) -> list[dict[str, Any]]:
    def row(kind: str, letter: str, extra: list[dict[str, Any]]) -> dict[str, Any]:
        buttons = [
            {
                "type": 2,
                "style": 2,
                "label": f"{letter}{i}",
                "custom_id": f"MJ::JOB::{kind}::{i}::{job}",
            }
            for i in range(1, 5)
        ]
        return {"type": 1, "components": buttons + extra}

    reroll = {
        "type": 2,
        "style": 2,
        "emoji": {"name": "🔄"},
        "custom_id": f"MJ::JOB::reroll::0::{job}::SOLO",
    }
    return [row("upsample", "U", [reroll]), row("variation", "V", [])]


def embed(
    title: str, description: str = "", *, color: int = RED, footer: str = ""
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": "rich",
        "title": title,
        "description": description,
        "color": color,
    }
    if footer:
        body["footer"] = {"text": footer}
    return body


# --- content grammar -----------------------------------------------------------------


def test_waiting_2023_with_interaction() -> None:
    message = read(
        type=20,
        content=f"**red fox, watercolor --v 5.2** - <@{USER}> (Waiting to start)",
        nonce="1118961510123847772",
        interaction={
            "id": "1249876500000000001",
            "type": 2,
            "name": "imagine",
            "user": {"id": USER},
        },
    )
    reply = classify(message)
    assert reply.kind is ReplyKind.WAITING
    assert reply.prompt == "red fox, watercolor --v 5.2"
    assert reply.mentioned_user_id == USER
    assert reply.action == "imagine"
    assert reply.percent is None


def test_waiting_2026_with_interaction_metadata() -> None:
    message = read(
        content=(
            f"**<https://s.mj.run/Xy12AbC> red fox --ar 16:9 --v 7** - <@{USER}> (Waiting to start)"
        ),
        nonce="1380000000000000001",
        interaction_metadata={"id": "1380000000000000002", "type": 2, "user": {"id": USER}},
    )
    reply = classify(message)
    assert reply.kind is ReplyKind.WAITING
    assert reply.prompt == "<https://s.mj.run/Xy12AbC> red fox --ar 16:9 --v 7"


@pytest.mark.parametrize(
    ("status", "percent", "mode", "stealth"),
    [
        ("(0%) (fast)", 0, "fast", False),
        ("(31%) (fast)", 31, "fast", False),
        ("(46%) (relaxed)", 46, "relax", False),
        ("(93%) (turbo)", 93, "turbo", False),
        ("(75%) (fast, stealth)", 75, "fast", True),
        ("(15%) (relaxed, stealth)", 15, "relax", True),
        ("(100%) (Fast)", 100, "fast", False),
    ],
)
def test_progress(status: str, percent: int, mode: str, stealth: bool) -> None:
    message = read(
        content=f"**red fox** - <@{USER}> {status}",
        attachments=[attachment(f"{JOB}_grid_0.webp", width=512, height=512)],
    )
    reply = classify(message)
    assert reply.kind is ReplyKind.PROGRESS
    assert reply.percent == percent
    assert reply.mode == mode
    assert reply.stealth is stealth
    assert reply.job_uuid == JOB
    assert reply.image is None


def test_progress_2023_preview_without_uuid() -> None:
    message = read(
        content=f"**red fox** - <@{USER}> (45%) (fast)",
        attachments=[attachment("grid_0.webp", width=512, height=512)],
    )
    reply = classify(message)
    assert reply.kind is ReplyKind.PROGRESS
    assert reply.job_uuid is None


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        ("(Stopped)", ReplyKind.STOPPED),
        ("(stopped)", ReplyKind.STOPPED),
        ("(paused)", ReplyKind.PROGRESS),
    ],
)
def test_stopped_and_paused(status: str, kind: ReplyKind) -> None:
    reply = classify(read(content=f"**red fox** - <@{USER}> {status}"))
    assert reply.kind is kind
    assert reply.percent is None


def test_grid_2023() -> None:
    message = read(
        content=f"**red fox --v 5.2** - <@{USER}> (fast)",
        attachments=[attachment(f"alice_red_fox_{JOB}.png")],
        components=grid_components(),
    )
    reply = classify(message)
    assert reply.kind is ReplyKind.GRID
    assert reply.action == "imagine"
    assert reply.mode == "fast"
    assert reply.job_uuid == JOB
    assert reply.image is not None
    assert reply.image.filename == f"alice_red_fox_{JOB}.png"
    assert len(reply.buttons) == 9


def test_grid_2026_with_website_link_and_subtext() -> None:
    content = (
        f"**red fox --v 7** - <@{USER}> "
        f"[(Open on website for full quality)](<https://midjourney.com/jobs/{JOB}>) (relaxed)\n"
        "-# Create, explore, and organize on [midjourney.com](<https://midjourney.com/imagine>)"
    )
    message = read(
        content=content,
        attachments=[attachment(f"alice_red_fox_{JOB}.png")],
        components=grid_components(),
        message_reference={"message_id": "1249876543210980000", "channel_id": CHANNEL},
    )
    reply = classify(message)
    assert reply.kind is ReplyKind.GRID
    assert reply.prompt == "red fox --v 7"
    assert reply.mode == "relax"
    assert reply.job_uuid == JOB


def test_grid_2023_plain_website_words() -> None:
    message = read(
        content=f"**red fox** - <@{USER}> (Open on website for full quality) (fast)",
        attachments=[attachment(f"alice_red_fox_{JOB}.webp")],
    )
    reply = classify(message)
    assert reply.kind is ReplyKind.GRID
    assert reply.image is not None
    assert reply.job_uuid == JOB


def test_job_uuid_from_link_button_only() -> None:
    message = read(
        content=f"**red fox** - <@{USER}> (fast)",
        components=[
            {
                "type": 1,
                "components": [
                    {
                        "type": 2,
                        "style": 5,
                        "label": "Web",
                        "url": f"https://www.midjourney.com/jobs/{JOB}",
                    }
                ],
            }
        ],
    )
    assert classify(message).job_uuid == JOB


def test_job_uuid_from_content_link() -> None:
    link = f"[(Open on website for full quality)](<https://midjourney.com/jobs/{JOB}>)"
    content = f"**red fox** - <@{USER}> {link} (fast)"
    assert classify(read(content=content)).job_uuid == JOB


@pytest.mark.parametrize("index", [1, 2, 3, 4])
def test_image_number_upscale(index: int) -> None:
    message = read(
        content=f"**red fox --v 6.1** - Image #{index} <@{USER}>",
        attachments=[attachment(f"alice_red_fox_{JOB}.png", width=1024, height=1024)],
        message_reference={"message_id": "1249876543210987654", "channel_id": CHANNEL},
        components=[
            {
                "type": 1,
                "components": [
                    {
                        "type": 2,
                        "style": 2,
                        "label": "Upscale (Subtle)",
                        "custom_id": f"MJ::JOB::upsample_v6r1_2x_subtle::1::{JOB}::SOLO",
                    },
                ],
            }
        ],
    )
    reply = classify(message)
    assert reply.kind is ReplyKind.UPSCALE
    assert reply.image_index == index
    assert reply.action == "upscale"
    assert reply.mode is None
    assert reply.image is not None
    assert reply.job_uuid == JOB


@pytest.mark.parametrize(
    ("action_part", "kind", "action"),
    [
        ("Upscaled (Subtle) by", ReplyKind.UPSCALE, "upscale"),
        ("Upscaled (Creative) by", ReplyKind.UPSCALE, "upscale"),
        ("Upscaled (4x) by", ReplyKind.UPSCALE, "upscale"),
        ("Upscaled by", ReplyKind.UPSCALE, "upscale"),
        ("Variations (Strong) by", ReplyKind.GRID, "variation"),
        ("Variations (Subtle) by", ReplyKind.GRID, "variation"),
        ("Variations (Region) by", ReplyKind.GRID, "variation"),
        ("Variations by", ReplyKind.GRID, "variation"),
        ("Remix (Strong) by", ReplyKind.GRID, "remix"),
        ("Zoom Out by", ReplyKind.GRID, "zoom"),
        ("Pan Left by", ReplyKind.GRID, "pan"),
        ("Pan Down by", ReplyKind.GRID, "pan"),
    ],
)
def test_action_results(action_part: str, kind: ReplyKind, action: str) -> None:
    message = read(
        content=f"**red fox --ar 16:9** - {action_part} <@{USER}> (fast)",
        attachments=[attachment(f"alice_red_fox_{OTHER_JOB}.png")],
    )
    reply = classify(message)
    assert reply.kind is kind
    assert reply.action == action
    assert reply.mode == "fast"
    assert reply.job_uuid == OTHER_JOB


def test_upscaling_progress() -> None:
    reply = classify(read(content=f"**red fox** - Upscaling by <@{USER}> (48%) (fast)"))
    assert reply.kind is ReplyKind.PROGRESS
    assert reply.percent == 48
    assert reply.action == "upscale"


def test_variation_waiting() -> None:
    reply = classify(
        read(
            content=f"**red fox** - Variations (Strong) by <@{USER}> (Waiting to start)", nonce="17"
        )
    )
    assert reply.kind is ReplyKind.WAITING
    assert reply.action == "variation"


@pytest.mark.parametrize(
    ("content", "kind", "index"),
    [
        (
            "Upscaling image #2 with **red fox** - <@402193844750254081>",
            ReplyKind.UPSCALE_PLACEHOLDER,
            2,
        ),
        ("Upscaling image #4 with red fox", ReplyKind.UPSCALE_PLACEHOLDER, 4),
        (
            "Making variations for image #1 with prompt **red fox**",
            ReplyKind.VARIATION_PLACEHOLDER,
            1,
        ),
        ("Creating video with prompt **red fox --video 1**", ReplyKind.VARIATION_PLACEHOLDER, None),
    ],
)
def test_placeholders(content: str, kind: ReplyKind, index: int | None) -> None:
    reply = classify(read(content=content))
    assert reply.kind is kind
    assert reply.image_index == index


@pytest.mark.parametrize("content", ["Animating...", "Displaying..."])
def test_transient_video_contents(content: str) -> None:
    assert classify(read(content=content)).kind is ReplyKind.OTHER


def test_video_result() -> None:
    message = read(
        content=f"**<https://s.mj.run/abc> fox running --video 1** - <@{USER}> (fast)",
        attachments=[attachment(f"{JOB}_0.mp4")],
    )
    reply = classify(message)
    assert reply.kind is ReplyKind.GRID
    assert reply.action == "video"
    assert reply.job_uuid == JOB


def test_blend_empty_prompt() -> None:
    reply = classify(
        read(content=f"**** - <@{USER}> (fast)", attachments=[attachment(f"alice_{JOB}.png")])
    )
    assert reply.kind is ReplyKind.GRID
    assert reply.prompt == ""


def test_failed_content() -> None:
    reply = classify(read(content="Failed to process your command :(", nonce="99"))
    assert reply.kind is ReplyKind.FAILED
    assert reply.failure_category == "midjourney-error"
    assert reply.detail.startswith("Failed")


def test_unrelated_content() -> None:
    reply = classify(read(content="Done! Your jobs now do not consume fast-hours"))
    assert reply.kind is ReplyKind.OTHER


def test_prompt_with_markdown_inside() -> None:
    reply = classify(read(content=f"**a *tiny* fox** - <@{USER}> (Waiting to start)"))
    assert reply.prompt == "a *tiny* fox"


# --- embeds --------------------------------------------------------------------------


def test_job_queued_is_not_an_error() -> None:
    message = read(
        nonce="1380000000000000005",
        embeds=[
            embed(
                "Job queued",
                "You've reached the maximum number of concurrent jobs. "
                "Your job will start when one finishes.",
                color=16776960,
                footer="/imagine red fox --ar 2:3",
            )
        ],
    )
    reply = classify(message)
    assert reply.kind is ReplyKind.QUEUED
    assert reply.failure_category is None
    assert reply.prompt == "red fox --ar 2:3"
    assert reply.title == "Job queued"


@pytest.mark.parametrize(
    ("title", "kind", "category"),
    [
        ("Queue full", ReplyKind.QUEUE_FULL, None),
        ("Invalid parameter", ReplyKind.FAILED, "invalid"),
        ("Invalid prompt", ReplyKind.FAILED, "invalid"),
        ("Empty prompt", ReplyKind.FAILED, "invalid"),
        ("Invalid request", ReplyKind.FAILED, "invalid"),
        ("Invalid link", ReplyKind.FAILED, "invalid"),
        ("Invalid link!", ReplyKind.FAILED, "invalid"),
        ("Duplicate images detected", ReplyKind.FAILED, "invalid"),
        ("Job action restricted", ReplyKind.FAILED, "invalid"),
        ("Banned prompt", ReplyKind.FAILED, "moderated"),
        ("Banned prompt detected", ReplyKind.FAILED, "moderated"),
        ("Banned image prompt", ReplyKind.FAILED, "moderated"),
        ("Request cancelled due to output filters", ReplyKind.FAILED, "filtered"),
        ("Sorry! Could not complete the job", ReplyKind.FAILED, "midjourney-error"),
        ("Failed to process your command", ReplyKind.FAILED, "midjourney-error"),
        ("Action needed to continue", ReplyKind.ACTION_NEEDED, None),
        ("Pending mod message", ReplyKind.ACCOUNT_BLOCKED, None),
        ("Subscription required", ReplyKind.ACCOUNT_BLOCKED, None),
        ("Subscription paused", ReplyKind.ACCOUNT_BLOCKED, None),
        ("Plan Cancelled", ReplyKind.ACCOUNT_BLOCKED, None),
        ("Blocked", ReplyKind.ACCOUNT_BLOCKED, None),
        ("Tos not accepted", ReplyKind.ACCOUNT_BLOCKED, None),
        ("Credits exhausted", ReplyKind.CREDITS_EXHAUSTED, None),
        ("Your info - alice", ReplyKind.INFO, None),
        ("Something new went wrong", ReplyKind.FAILED, "midjourney-error"),
        ("INVALID PARAMETER", ReplyKind.FAILED, "invalid"),
        ("job queued", ReplyKind.QUEUED, None),
    ],
)
def test_embed_titles(title: str, kind: ReplyKind, category: str | None) -> None:
    message = read(
        nonce="1380000000000000006",
        embeds=[embed(title, "details here", footer="/imagine red fox")],
    )
    reply = classify(message)
    assert reply.kind is kind
    assert reply.failure_category == category
    assert reply.title == title
    assert reply.detail == "details here"
    assert reply.prompt == "red fox"


def test_invalid_parameter_detail() -> None:
    description = "`--oref` is not compatible with `--version 8.1`"
    message = read(
        embeds=[
            embed(
                "Invalid parameter",
                description,
                footer="/imagine fox --oref https://e.com/a.png --v 8.1",
            )
        ]
    )
    reply = classify(message)
    assert reply.failure_category == "invalid"
    assert reply.detail == description
    assert reply.prompt == "fox --oref https://e.com/a.png --v 8.1"


def test_unknown_non_red_embed_is_other() -> None:
    message = read(embeds=[embed("Describe", "1️⃣ a fox", color=0)])
    assert classify(message).kind is ReplyKind.OTHER


def test_untitled_embed_falls_back_to_content() -> None:
    message = read(
        content=f"**red fox** - <@{USER}> (12%) (fast)",
        embeds=[{"type": "image", "url": "https://e.com/a.png"}],
    )
    assert classify(message).kind is ReplyKind.PROGRESS


def test_action_needed_with_appeal_button() -> None:
    message = read(
        flags=64,
        nonce="1380000000000000007",
        embeds=[
            embed(
                "Action needed to continue",
                "Our AI moderators feel your prompt might be against our community standards. "
                "If you think this is a mistake, press Appeal.",
                footer="/imagine a risky fox",
            )
        ],
        components=[
            {
                "type": 1,
                "components": [
                    {
                        "type": 2,
                        "style": 1,
                        "label": "Appeal",
                        "custom_id": "MJ::Prompts::Appeal::a1b2c3",
                    }
                ],
            }
        ],
    )
    reply = classify(message)
    assert reply.kind is ReplyKind.ACTION_NEEDED
    assert reply.prompt == "a risky fox"
    assert [b.custom_id for b in reply.buttons] == ["MJ::Prompts::Appeal::a1b2c3"]


def test_action_needed_2024_wording_without_known_title() -> None:
    message = read(
        flags=64,
        embeds=[
            embed(
                "Sorry!",
                "Our AI moderator thinks this prompt is probably against our community standards.",
            )
        ],
    )
    assert classify(message).kind is ReplyKind.ACTION_NEEDED


def test_appeal_button_marks_action_needed() -> None:
    message = read(
        embeds=[embed("Please wait", "Checking again", color=0)],
        components=[
            {
                "type": 1,
                "components": [
                    {"type": 2, "label": "Appeal", "custom_id": "MJ::Prompts::Appeal::zz"}
                ],
            }
        ],
    )
    assert classify(message).kind is ReplyKind.ACTION_NEEDED


def test_old_captcha_embed() -> None:
    message = read(
        flags=64,
        embeds=[
            embed(
                "Please continue",
                "Please verify you are human by picking the matching image.",
                color=0,
            )
        ],
        components=[
            {
                "type": 1,
                "components": [
                    {"type": 2, "label": label, "custom_id": f"MJ::Captcha::{label}"}
                    for label in ("cat", "dog", "fox")
                ],
            }
        ],
    )
    assert classify(message).kind is ReplyKind.ACCOUNT_BLOCKED


def test_subscription_word_blocked_not_inside_other_words() -> None:
    message = read(embeds=[embed("Unblockedness report", "all fine", color=0)])
    assert classify(message).kind is ReplyKind.OTHER


def test_info_embed() -> None:
    description = (
        "**Subscription**: Pro (Active monthly, renews next on <t:1719000000>)\n"
        "**Job Mode**: Fast\n**Visibility Mode**: Stealth\n"
        "**Fast Time Remaining**: 12.3/30.0 hours (41.00%)\n"
        "**Queued Jobs (fast)**: 0\n**Running Jobs**: None"
    )
    message = read(flags=64, embeds=[embed("Your info - alice", description, color=0)])
    reply = classify(message)
    assert reply.kind is ReplyKind.INFO
    assert "Fast Time Remaining" in reply.detail


def test_error_edited_into_progress_message() -> None:
    message = read(
        content=f"**red fox** - <@{USER}> (62%) (fast)",
        embeds=[embed("Sorry! Could not complete the job", "Please try again.", color=0)],
    )
    reply = classify(message)
    assert reply.kind is ReplyKind.FAILED
    assert reply.failure_category == "midjourney-error"
    assert reply.prompt == "red fox"


def test_could_not_complete_in_description_only() -> None:
    message = read(embeds=[embed("Hmm", "Sorry! Could not complete the job.", color=0)])
    assert classify(message).failure_category == "midjourney-error"


# --- helpers -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (f"https://cdn.discordapp.com/attachments/1/2/{JOB}_grid_0.webp?ex=1&is=2&hm=3&", JOB),
        (f"https://cdn.discordapp.com/ephemeral-attachments/1/2/{JOB}_grid_0.webp", JOB),
        (f"https://cdn.discordapp.com/attachments/1/2/alice_red_fox_{JOB}.png", JOB),
        (f"https://cdn.discordapp.com/attachments/1/2/{JOB}_0_0.png", JOB),
        (f"https://cdn.midjourney.com/{JOB}/0_1.png", JOB),
        (f"https://cdn.midjourney.com/{JOB}/0_3.webp", JOB),
        (f"https://www.midjourney.com/jobs/{JOB}", JOB),
        (f"https://cdn.discordapp.com/attachments/1/2/{JOB.upper()}_0.mp4", JOB),
        (f"{JOB}_grid_0.webp", JOB),
        (f"alice_fox_{JOB}.png", JOB),
        ("https://cdn.discordapp.com/attachments/1/2/grid_0.webp", None),
        ("https://example.com/a.png?id=" + JOB, None),
        ("", None),
    ],
)
def test_job_uuid_from_url(url: str, expected: str | None) -> None:
    assert job_uuid_from_url(url) == expected


@pytest.mark.parametrize(
    ("custom_id", "expected"),
    [
        (f"MJ::JOB::upsample::1::{JOB}", JOB),
        (f"MJ::JOB::variation::4::{JOB}", JOB),
        (f"MJ::JOB::reroll::0::{JOB}::SOLO", JOB),
        (f"MJ::JOB::upsample_v7_2x_creative::1::{JOB}::SOLO", JOB),
        (f"MJ::Outpaint::50::1::{JOB}::SOLO", JOB),
        (f"MJ::CustomZoom::{JOB}", JOB),
        ("MJ::Prompts::Appeal::a1b2c3", None),
        ("MJ::Settings::VersionSelector", None),
    ],
)
def test_job_uuid_from_custom_id(custom_id: str, expected: str | None) -> None:
    assert job_uuid_from_custom_id(custom_id) == expected


def test_button_custom_ids_from_grid() -> None:
    buttons = classify(
        read(content=f"**fox** - <@{USER}> (fast)", components=grid_components())
    ).buttons
    for index in range(1, 5):
        assert upscale_custom_id(buttons, index) == f"MJ::JOB::upsample::{index}::{JOB}"
        assert variation_custom_id(buttons, index) == f"MJ::JOB::variation::{index}::{JOB}"
    assert reroll_custom_id(buttons) == f"MJ::JOB::reroll::0::{JOB}::SOLO"
    assert upscale_custom_id(buttons, 5) is None


def test_upscale_custom_id_by_label() -> None:
    buttons = (
        Button(custom_id="MJ::JOB::upsample_new::2::x", label="U2"),
        Button(custom_id=None, label="U3"),
    )
    assert upscale_custom_id(buttons, 2) == "MJ::JOB::upsample_new::2::x"
    assert upscale_custom_id(buttons, 3) is None


def test_upscale_custom_id_absent() -> None:
    assert upscale_custom_id((), 1) is None
    assert reroll_custom_id(()) is None
