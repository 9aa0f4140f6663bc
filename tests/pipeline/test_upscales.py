"""Which upscale presses of a job the channel history shows Midjourney received."""

from __future__ import annotations

from typing import Any

from midjourney.messages import ChannelMessage
from pipeline.upscales import answered_upscales, press_count
from storage.models import Job
from tests.pipeline import discord_payloads as mj

PROMPT = "a red fox in the snow"
URL = "https://cdn.example/attachments/u.png"


def job_with_grid(grid: ChannelMessage, pressed: list[int] | None = None) -> Job:
    return Job(
        id="job-1",
        prompt=f"{PROMPT} --ar 3:2",
        grid_message_id=grid.id,
        upscales_pressed=pressed or [],
    )


def grid_message() -> ChannelMessage:
    return mj.grid(PROMPT, mj.new_job_uuid(), URL)


def notice(index: int, reference_id: str | None) -> ChannelMessage:
    fields: dict[str, Any] = {
        "content": f"Upscaling image #{index} with **{PROMPT}** - <@{mj.USER_ID}> (fast)"
    }
    if reference_id:
        fields["message_reference"] = {"message_id": reference_id, "channel_id": mj.CHANNEL_ID}
    return ChannelMessage.from_payload(mj.message_payload(**fields))


def test_reply_to_grid_answers_its_press():
    grid = grid_message()
    history = [grid, mj.upscale(PROMPT, 2, grid.id, URL)]
    assert answered_upscales(job_with_grid(grid), history) == {2}


def test_upscaling_notice_answers_its_press():
    grid = grid_message()
    history = [grid, notice(3, grid.id)]
    assert answered_upscales(job_with_grid(grid), history) == {3}


def test_reply_to_other_grid_answers_nothing():
    grid, other = grid_message(), grid_message()
    history = [grid, other, mj.upscale(PROMPT, 2, other.id, URL)]
    assert answered_upscales(job_with_grid(grid), history) == set()


def test_reply_without_reference_matches_by_prompt_after_grid():
    earlier = notice(1, None)
    grid = grid_message()
    history = [earlier, grid, notice(4, None)]
    assert answered_upscales(job_with_grid(grid), history) == {4}


def test_user_message_answers_nothing():
    grid = grid_message()
    payload = mj.message_payload(
        content=f"**{PROMPT}** - Image #2 <@{mj.USER_ID}>",
        message_reference={"message_id": grid.id, "channel_id": mj.CHANNEL_ID},
        attachments=[mj.attachment("u.png", URL)],
    )
    payload["author"] = {"id": mj.USER_ID, "username": "demo", "discriminator": "0"}
    history = [grid, ChannelMessage.from_payload(payload)]
    assert answered_upscales(job_with_grid(grid), history) == set()


def test_press_count_counts_each_recorded_press():
    job = job_with_grid(grid_message(), pressed=[2, 4, 4])
    assert press_count(job, 2) == 1
    assert press_count(job, 4) == 2
    assert press_count(job, 1) == 0
