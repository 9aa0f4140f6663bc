"""A paused connection in Discord: the notice, the Resume button, ``/connection``, ``/health``."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from bot.cogs.connections import RESUME_PREFIX
from pipeline.health import ConnectionHealth
from sandbox.midjourney.knobs import unauthorized
from tests.faults.rig import REPLY_TIMEOUT, Product, start_product
from tests.web.site import serve_app
from web.app import create_app

pytestmark = pytest.mark.e2e

Message = dict[str, Any]
LINK = "https://discord.com/channels/1/2/3"
EPHEMERAL = 64


def buttons_of(message: Message) -> list[dict[str, Any]]:
    return [
        component
        for row in message.get("components") or []
        for component in row.get("components") or []
        if component.get("type") == 2
    ]


def from_bot(product: Product, check: Callable[[Message], bool]) -> Callable[[Message], bool]:
    def predicate(message: Message) -> bool:
        author = message.get("author") or {}
        return str(author.get("id")) == product.sandbox.bot_user_id and check(message)

    return predicate


def pause_notice(product: Product) -> Callable[[Message], bool]:
    return from_bot(product, lambda message: str(message.get("content", "")).startswith("⏸"))


def resumed_notice(product: Product) -> Callable[[Message], bool]:
    return from_bot(product, lambda message: str(message.get("content", "")).startswith("▶"))


def ephemeral_containing(product: Product, text: str) -> Callable[[Message], bool]:
    return from_bot(
        product,
        lambda message: (
            bool(int(message.get("flags") or 0) & EPHEMERAL)
            and text in str(message.get("content", ""))
        ),
    )


def resume_id(product: Product) -> str:
    return f"{RESUME_PREFIX}{product.connection_id}"


async def health_of(product: Product) -> ConnectionHealth:
    [health] = await product.service.engine.connection_health(product.user_id)
    return health


async def test_rejected_token_notice_and_resume_finish_batch(tmp_path: Path) -> None:
    async with start_product(tmp_path) as product:
        product.knobs.rejections.append(unauthorized())
        batch_id = await product.run_sheet(["a red fox", "a grey owl"])

        notice = await product.user.wait_for_message(pause_notice(product), REPLY_TIMEOUT)
        health = await health_of(product)
        await product.user.click_button(notice["id"], resume_id(product))
        resumed = await product.user.wait_for_message(resumed_notice(product), REPLY_TIMEOUT)
        outcome = await product.finish(batch_id)
        notice_after = product.discord.get_message(product.sandbox.channel_id, notice["id"])

    content = notice["content"]
    assert not health.working
    assert content.startswith(f"⏸ <@{product.sandbox.user_id}> ")
    assert f"Your Midjourney connection **sandbox** is paused: {health.reason}" in content
    assert f"What to do: {health.advice}" in content
    assert [button["custom_id"] for button in buttons_of(notice)] == [resume_id(product)]
    assert notice["channel_id"] == product.sandbox.channel_id
    assert "**sandbox** is resumed" in resumed["content"]
    assert notice_after is not None
    assert buttons_of(notice_after) == []
    assert [(line.row, line.status) for line in outcome.lines] == [(2, "done"), (3, "done")]


async def test_pause_without_batch_posts_link_in_connection_channel(tmp_path: Path) -> None:
    async with start_product(tmp_path) as product:
        await product.service.engine.pause(product.connection_id, "Pending mod message", link=LINK)
        notice = await product.user.wait_for_message(pause_notice(product), REPLY_TIMEOUT)
        health = await health_of(product)

    # The sandbox has no direct messages, so the notice falls back to the connection's channel.
    assert notice["channel_id"] == product.sandbox.channel_id
    assert "pending moderation message" in health.reason
    assert f"is paused: {health.reason}" in notice["content"]
    assert f"<{LINK}>" in notice["content"]
    assert [button["custom_id"] for button in buttons_of(notice)] == [resume_id(product)]


async def test_status_shows_paused_then_working(tmp_path: Path) -> None:
    async with start_product(tmp_path) as product:
        await product.service.engine.pause(product.connection_id, "HTTP 401: token rejected")
        await product.user.run_slash_command("connection status", {})
        paused = await product.user.wait_for_message(
            ephemeral_containing(product, "⏸ paused since"), REPLY_TIMEOUT
        )
        health = await health_of(product)

        await product.user.click_button(paused["id"], resume_id(product))
        await product.user.wait_for_message(resumed_notice(product), REPLY_TIMEOUT)
        await product.user.run_slash_command("connection status", {})
        working = await product.user.wait_for_message(
            ephemeral_containing(product, "✅ working"), REPLY_TIMEOUT
        )

    assert "**sandbox**" in paused["content"]
    assert health.reason in paused["content"]
    assert "When fast hours run out: pause and tell you." in paused["content"]
    assert [button["custom_id"] for button in buttons_of(paused)] == [resume_id(product)]
    assert "paused" not in working["content"]
    assert buttons_of(working) == []


async def test_resume_of_working_connection_changes_nothing(tmp_path: Path) -> None:
    async with start_product(tmp_path) as product:
        await product.service.engine.pause(product.connection_id, "HTTP 401: token rejected")
        await product.user.run_slash_command("connection status", {})
        status = await product.user.wait_for_message(
            ephemeral_containing(product, "⏸ paused since"), REPLY_TIMEOUT
        )
        resumed = await product.service.engine.resume_connection(
            product.connection_id, product.user_id
        )
        await product.user.wait_for_message(resumed_notice(product), REPLY_TIMEOUT)

        await product.user.click_button(status["id"], resume_id(product))
        reply = await product.user.wait_for_message(
            ephemeral_containing(product, "is already working"), REPLY_TIMEOUT
        )
        resumed_notices = product.bot_messages(resumed_notice(product))

    assert resumed
    assert "**sandbox**" in reply["content"]
    assert len(resumed_notices) == 1


async def test_settings_change_both_choices(tmp_path: Path) -> None:
    async with start_product(tmp_path) as product:
        await product.user.run_slash_command(
            "connection settings",
            {"relax_when_fast_used_up": True, "appeal_soft_moderation": True},
        )
        reply = await product.user.wait_for_message(
            ephemeral_containing(product, "Saved for"), REPLY_TIMEOUT
        )
        [health] = await product.service.engine.connection_health(product.user_id)

    assert health.relax_when_fast_used_up
    assert health.appeal_soft_moderation
    assert "switch to relax mode" in reply["content"]
    assert "press Appeal" in reply["content"]


@asynccontextmanager
async def serve_web(product: Product) -> AsyncIterator[str]:
    service = product.service
    app = create_app(service.settings, service.db, service.secret, engine=service.engine)
    async with serve_app(app) as base_url:
        yield base_url


async def test_health_counts_paused_connection(tmp_path: Path) -> None:
    async with start_product(tmp_path) as product, serve_web(product) as base_url:
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{base_url}/health") as response:
                before = await response.json()
            await product.service.engine.pause(product.connection_id, "HTTP 401: token rejected")
            health = await health_of(product)
            async with http.get(f"{base_url}/health") as response:
                after = await response.json()
                status = response.status

    assert before["connections"]["working"] == 1
    assert before["connections"]["paused"] == 0
    assert status == 200
    assert after["connections"]["working"] == 0
    assert after["connections"]["paused"] == 1
    assert "sandbox" not in str(after)
    assert health.reason not in str(after)
