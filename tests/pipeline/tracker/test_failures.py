"""Failure categories and messages read from Midjourney's error replies."""

from __future__ import annotations

from midjourney.replies import ReplyKind, classify
from pipeline.tracker.failures import APPEALS_OFF, describe_failure, describe_soft_moderation
from storage.models import FailureCategory
from tests.pipeline import discord_payloads as mj

REJECTED = "After a second check, your prompt was found to be against our community standards."


def test_banned_prompt_keeps_title_and_text() -> None:
    reply = classify(mj.embed_reply("Banned prompt detected", "The word gore.", "x", nonce="1"))

    assert describe_failure(reply) == (
        FailureCategory.MODERATED,
        "Banned prompt detected: The word gore.",
    )


def test_soft_moderation_is_moderated_without_appeal() -> None:
    reply = classify(
        mj.embed_reply("Action needed to continue", "Our AI moderators feel…", "x", nonce="1")
    )

    category, message = describe_failure(reply)

    assert reply.kind is ReplyKind.ACTION_NEEDED
    assert category is FailureCategory.MODERATED
    assert (
        message == "Action needed to continue: Our AI moderators feel… MidJAu did not press Appeal."
    )


def test_soft_moderation_message_ends_with_outcome() -> None:
    reply = classify(
        mj.embed_reply("Action needed to continue", "Our AI moderators feel…", "x", nonce="1")
    )

    message = describe_soft_moderation(reply, APPEALS_OFF)

    assert message.startswith("Action needed to continue: Our AI moderators feel… MidJAu")
    assert message.endswith("Turn them on with /connection settings, then retry the row.")


def test_rejected_appeal_is_moderated() -> None:
    reply = classify(mj.embed_reply("Appeal rejected", REJECTED, "x", nonce="1"))

    assert describe_failure(reply) == (
        FailureCategory.MODERATED,
        f"Appeal rejected: {REJECTED}",
    )


def test_rejected_appeal_in_any_colour_is_a_failure() -> None:
    reply = classify(mj.embed_reply("Appeal denied", REJECTED, "x", nonce="1", color=0x5865F2))

    assert reply.kind is ReplyKind.FAILED
    assert describe_failure(reply)[0] is FailureCategory.MODERATED
