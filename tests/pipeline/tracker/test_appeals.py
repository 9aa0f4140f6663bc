"""The tracker on soft moderation: fail the job at once, or press Appeal and follow it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from midjourney.messages import (
    EPHEMERAL_FLAG,
    ChannelMessage,
    EventSource,
    InteractionSucceeded,
    MessageCreated,
    MessageUpdated,
)
from midjourney.relay import RelayError
from pipeline.progress import BatchOptions
from storage.blobs import LocalBlobStore
from storage.db import Database
from storage.models import BatchOrigin, FailureCategory, Job, JobStatus, MidjourneyConnection
from tests.pipeline import discord_payloads as mj
from tests.pipeline.engine_rig import Rig, jobs_of, run_to_grid, start_rig, wait_sent
from tests.pipeline.engine_support import make_intake, wait_for

PROMPT = "a spicy grey owl"
APPEAL_ID = "MJ::Prompts::Appeal::7_dEy36TiEY"
NOTICE_TEXT = (
    "Our AI moderators feel your prompt might be against our community standards. "
    "If you think this is a mistake, press Appeal to ask for a second check."
)


def notice(nonce: str | None, *, message_id: str | None = None, text: str = NOTICE_TEXT):
    """Return Midjourney's ephemeral "Action needed to continue" notice with its Appeal button."""
    return ChannelMessage.from_payload(
        mj.message_payload(
            message_id,
            nonce=nonce,
            flags=EPHEMERAL_FLAG,
            embeds=[
                {
                    "type": "rich",
                    "title": "Action needed to continue",
                    "description": text,
                    "color": mj.RED,
                    "footer": {"text": f"/imagine {PROMPT}"},
                }
            ],
            components=[
                {
                    "type": 1,
                    "components": [
                        {"type": 2, "style": 4, "label": "Appeal", "custom_id": APPEAL_ID}
                    ],
                }
            ],
        )
    )


class PressFlags:
    """Records the message flags of each press the engine sends through the rig's relay."""

    def __init__(self, rig: Rig, error: Exception | None = None) -> None:
        self.flags: list[int] = []
        self.error = error
        self._press = rig.relay.press
        rig.relay.press = self.press  # type: ignore[method-assign]

    async def press(self, message_id: str, custom_id: str, **options: Any) -> str:
        self.flags.append(options.get("message_flags", 0))
        if self.error is not None:
            raise self.error
        return await self._press(message_id, custom_id, **options)


@pytest.fixture
async def short_rig(db: Database, blobs: LocalBlobStore, tmp_path: Path) -> AsyncIterator[Rig]:
    """Yield a started engine whose jobs wait at most 0.3 s for a reply."""
    async with start_rig(db, blobs, tmp_path, waiting_message=0.3) as running:
        yield running


async def choose_appeals(rig: Rig, appeal: bool) -> None:
    """Store the connection's choice and tell the tracker, as the engine does for the user."""
    async with rig.engine.ledger.transaction() as session:
        connection = await session.get(MidjourneyConnection, rig.connection_id)
        assert connection is not None
        connection.appeal_soft_moderation = appeal
    rig.engine.tracker.set_appeal_choice(rig.connection_id, appeal)


async def send_soft_moderated(rig: Rig) -> tuple[int, str, ChannelMessage]:
    """Send one row and reply with the notice. Return the batch id, its nonce and the notice."""
    batch_id = await rig.engine.create_batch(
        rig.user_id, make_intake([PROMPT]), BatchOptions(), origin=BatchOrigin.DEMO
    )
    await wait_sent(rig, 1)
    _, nonce, _ = rig.relay.imagined[0]
    await rig.relay.emit(InteractionSucceeded("1250000000000000100", nonce))
    message = notice(nonce)
    await rig.relay.emit(MessageCreated(message, EventSource.USER))
    return batch_id, nonce, message


async def job_of(rig: Rig, batch_id: int) -> Job:
    (job,) = await jobs_of(rig.engine, batch_id)
    return job


async def wait_pressed(rig: Rig, count: int = 1) -> None:
    async def pressed() -> bool:
        return len(rig.relay.pressed) >= count

    await wait_for(pressed)


async def wait_status(rig: Rig, batch_id: int, status: JobStatus) -> Job:
    async def reached() -> bool:
        return (await job_of(rig, batch_id)).status == status

    await wait_for(reached)
    return await job_of(rig, batch_id)


async def test_appeals_off_fails_job_without_press(rig: Rig) -> None:
    batch_id, _, _ = await send_soft_moderated(rig)

    job = await wait_status(rig, batch_id, JobStatus.FAILED)

    assert job.failure_category == FailureCategory.MODERATED
    assert job.failure_message.startswith("Action needed to continue: Our AI moderators")
    assert "appeals are off for this connection" in job.failure_message
    assert rig.relay.pressed == []


async def test_appeal_presses_notice_button_with_its_flags(rig: Rig) -> None:
    await choose_appeals(rig, True)
    recorder = PressFlags(rig)
    batch_id, nonce, message = await send_soft_moderated(rig)

    await wait_pressed(rig)

    ((message_id, custom_id, press_nonce),) = rig.relay.pressed
    assert message_id == message.id
    assert custom_id == APPEAL_ID
    assert recorder.flags == [EPHEMERAL_FLAG]
    job = await job_of(rig, batch_id)
    assert job.status == JobStatus.SUBMITTED
    assert job.nonce == press_nonce != nonce
    assert job.interaction_id is None


async def test_accepted_appeal_render_reaches_job(rig: Rig) -> None:
    await choose_appeals(rig, True)
    batch_id, _, _ = await send_soft_moderated(rig)
    await wait_pressed(rig)
    (_, _, press_nonce) = rig.relay.pressed[0]

    await rig.relay.emit(InteractionSucceeded("1250000000000000200", press_nonce))
    await run_to_grid(rig, PROMPT, press_nonce)
    job = await wait_status(rig, batch_id, JobStatus.DONE)

    assert job.interaction_id == "1250000000000000200"
    assert job.grid_message_id is not None
    assert job.attempts == 1
    assert len(rig.relay.imagined) == 1


async def test_rejected_appeal_fails_job_with_verdict(rig: Rig) -> None:
    await choose_appeals(rig, True)
    batch_id, _, _ = await send_soft_moderated(rig)
    await wait_pressed(rig)
    (_, _, press_nonce) = rig.relay.pressed[0]

    verdict = mj.embed_reply(
        "Appeal rejected",
        "After a second check, your prompt was found to be against our community standards.",
        PROMPT,
        nonce=press_nonce,
    )
    await rig.relay.emit(MessageCreated(verdict, EventSource.USER))
    job = await wait_status(rig, batch_id, JobStatus.FAILED)

    assert job.failure_category == FailureCategory.MODERATED
    assert job.failure_message == (
        "Appeal rejected: After a second check, your prompt was found to be against "
        "our community standards."
    )


async def test_notice_edit_is_not_appealed_twice(rig: Rig) -> None:
    await choose_appeals(rig, True)
    batch_id, nonce, message = await send_soft_moderated(rig)
    await wait_pressed(rig)

    edited = notice(nonce, message_id=message.id, text=f"{NOTICE_TEXT} (edited)")
    await rig.relay.emit(MessageUpdated(edited, EventSource.USER))

    assert len(rig.relay.pressed) == 1
    assert (await job_of(rig, batch_id)).status == JobStatus.SUBMITTED


async def test_second_notice_after_appeal_fails_job(rig: Rig) -> None:
    await choose_appeals(rig, True)
    batch_id, _, _ = await send_soft_moderated(rig)
    await wait_pressed(rig)
    (_, _, press_nonce) = rig.relay.pressed[0]

    await rig.relay.emit(MessageCreated(notice(press_nonce), EventSource.USER))
    job = await wait_status(rig, batch_id, JobStatus.FAILED)

    assert job.failure_category == FailureCategory.MODERATED
    assert "asked again after the appeal" in job.failure_message
    assert len(rig.relay.pressed) == 1


async def test_refused_press_fails_job_as_moderated(rig: Rig) -> None:
    await choose_appeals(rig, True)
    PressFlags(rig, RelayError("Discord rejected the request", "HTTP 404 Unknown Message"))
    batch_id, _, _ = await send_soft_moderated(rig)

    job = await wait_status(rig, batch_id, JobStatus.FAILED)

    assert job.failure_category == FailureCategory.MODERATED
    assert "did not take the press (HTTP 404 Unknown Message)" in job.failure_message


async def test_unanswered_appeal_times_out(short_rig: Rig) -> None:
    rig = short_rig
    await choose_appeals(rig, True)
    batch_id, _, _ = await send_soft_moderated(rig)
    await wait_pressed(rig)
    (_, _, press_nonce) = rig.relay.pressed[0]
    await rig.relay.emit(InteractionSucceeded("1250000000000000300", press_nonce))

    job = await wait_status(rig, batch_id, JobStatus.FAILED)

    # The waiting-message timeout applies from the press on, then its own resend policy.
    assert job.failure_category == FailureCategory.TIMED_OUT
    assert job.attempts == len(rig.relay.imagined)
    assert len(rig.relay.pressed) == 1
