"""Slash commands respond in time, progress edits obey 429s, long batches outlive their token."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from midjau.settings import SandboxSettings
from sandbox.discord.interactions import PendingInteraction
from tests.faults.rig import Product, start_product

pytestmark = pytest.mark.e2e

MESSAGE_ROUTE = "/channels/{channel_id}/messages/{message_id}"
WEBHOOK_ROUTES = (
    "/webhooks/{application_id}/{token}",
    "/webhooks/{application_id}/{token}/messages/{message_id}",
)
LARGE_SHEET_ROWS = 2000
WAIT_SECONDS = 20.0


def bot_interactions(product: Product) -> list[PendingInteraction]:
    """Return the interactions the sandbox sent to the MidJAu bot, oldest first."""
    pending = product.discord.interactions.pending.values()
    return [item for item in pending if item.application_id == product.sandbox.bot_user_id]


def stored_message(product: Product, message_id: str) -> dict[str, Any]:
    message = product.discord.messages.get_any(message_id)
    assert message is not None, f"message {message_id} is not in the channel"
    return product.discord.render(message)


async def progress_message_id(product: Product, batch_id: int) -> str:
    async with asyncio.timeout(WAIT_SECONDS):
        while True:
            progress = await product.service.engine.progress(batch_id)
            if progress.progress_message_id:
                return progress.progress_message_id
            await asyncio.sleep(0.02)


async def test_batch_commands_answer_within_interaction_timeout(tmp_path: Path) -> None:
    prompts = [f"a lighthouse at dawn, study {number}" for number in range(LARGE_SHEET_ROWS)]
    async with start_product(tmp_path) as product:
        batch_id = await product.run_sheet(prompts)
        await product.user.run_slash_command("batch status", {})
        await product.user.run_slash_command("batch cancel", {"batch": batch_id})
        await product.service.engine.wait_finished(batch_id)
        await product.user.run_slash_command("batch retry", {"batch": batch_id})
        await product.user.run_slash_command("batch template", {})
        # The last command gets the same time to respond as the others had.
        await asyncio.sleep(product.sandbox.settings.interaction_timeout_seconds)
        interactions = bot_interactions(product)
        timeouts = [
            data
            for name, data in product.user.events
            if name == "INTERACTION_FAILURE" and data.get("reason_code") == 2
        ]

    # /batch run (and its Run button when the sheet needs confirmation), status,
    # cancel, retry and template.
    assert len(interactions) >= 5
    assert [item.id for item in interactions if not item.acknowledged] == []
    assert timeouts == []


async def test_progress_edits_wait_out_rate_limits(tmp_path: Path) -> None:
    retry_after = 0.3
    async with start_product(tmp_path) as product:
        product.knobs.job_seconds = 400.0
        batch_id = await product.run_sheet(["a red fox", "a grey owl", "a koi pond"])
        message_id = await progress_message_id(product, batch_id)
        product.discord.rate_limit_next(
            3, method="PATCH", route=MESSAGE_ROUTE, retry_after=retry_after
        )
        outcome = await product.finish(batch_id, within=WAIT_SECONDS)
        edits = [
            record
            for record in product.discord.requests.matching(method="PATCH", route=MESSAGE_ROUTE)
            if record.path.endswith(f"/{message_id}")
        ]
        final = stored_message(product, message_id)

    limited = [index for index, record in enumerate(edits) if record.status == 429]
    assert len(limited) == 3
    for index in limited:
        assert index + 1 < len(edits), "no edit followed a 429"
        waited = edits[index + 1].at - edits[index].at
        assert waited >= retry_after * 0.9, f"edit {index + 1} came {waited:.3f} s after a 429"
    assert edits[-1].status == 200
    assert "· done" in final["content"]
    assert "3/3 jobs" in final["content"]
    assert [line.status for line in outcome.lines] == ["done", "done", "done"]


async def test_batch_outliving_interaction_token_reports_in_channel(tmp_path: Path) -> None:
    token_ttl = 0.5
    sandbox = SandboxSettings(time_scale=0.005, interaction_token_ttl_seconds=token_ttl)
    async with start_product(tmp_path, sandbox=sandbox) as product:
        # Each render takes 2 s, four times the token's life.
        product.knobs.job_seconds = 400.0
        batch_id = await product.run_sheet(["a red fox", "a grey owl", "a koi pond"])
        message_id = await progress_message_id(product, batch_id)
        outcome = await product.finish(batch_id, within=WAIT_SECONDS)
        interactions = bot_interactions(product)
        progress = stored_message(product, message_id)
        webhook_requests = [
            record
            for route in WEBHOOK_ROUTES
            for record in product.discord.requests.matching(route=route)
        ]
        result_posts = product.bot_messages(
            lambda message: any(
                str(attachment.get("filename", "")).endswith(".zip")
                for attachment in message.get("attachments") or ()
            )
        )

    assert interactions
    assert all(item.expired for item in interactions)
    assert [record.status for record in webhook_requests if record.status >= 400] == []
    assert "· done" in progress["content"]
    assert progress.get("webhook_id") is None
    assert len(result_posts) == 1
    assert result_posts[0].get("webhook_id") is None
    assert [line.status for line in outcome.lines] == ["done", "done", "done"]
