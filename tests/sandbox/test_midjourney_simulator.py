"""The simulated Midjourney's state machine, observed through a recording Discord state."""

from __future__ import annotations

import asyncio
import io
import re
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from PIL import Image

from midjau.settings import SandboxSettings
from sandbox.midjourney import MidjourneySimulator
from sandbox.midjourney.knobs import IMAGINE_COMMAND_ID, unauthorized
from tests.sandbox.recording_discord import RecordingDiscord

USER_ID = "100000000000000001"
CHANNEL_ID = "200000000000000001"


@pytest.fixture
def discord() -> RecordingDiscord:
    return RecordingDiscord()


@pytest.fixture
async def simulator(discord: RecordingDiscord) -> AsyncIterator[MidjourneySimulator]:
    # One fast job takes 40 × 0.005 = 0.2 s.
    simulator = MidjourneySimulator(
        discord, SandboxSettings(time_scale=0.005, job_seconds=40, plan="pro")
    )
    yield simulator
    await simulator.stop()


def imagine_payload(simulator: MidjourneySimulator, prompt: str, nonce: str) -> dict[str, Any]:
    return {
        "type": 2,
        "application_id": simulator.application_id,
        "channel_id": CHANNEL_ID,
        "nonce": nonce,
        "data": {
            "id": IMAGINE_COMMAND_ID,
            "version": simulator.knobs.imagine_version,
            "name": "imagine",
            "type": 1,
            "options": [{"type": 3, "name": "prompt", "value": prompt}],
        },
    }


def press_payload(message_id: str, custom_id: str, nonce: str) -> dict[str, Any]:
    return {
        "type": 3,
        "channel_id": CHANNEL_ID,
        "message_id": message_id,
        "nonce": nonce,
        "data": {"component_type": 2, "custom_id": custom_id},
    }


async def send(
    simulator: MidjourneySimulator, payload: dict[str, Any], interaction_id: str
) -> None:
    assert simulator.check_interaction(USER_ID, payload) is None
    await simulator.handle_interaction(USER_ID, "session", payload, interaction_id)


async def wait_for(predicate: Callable[[], Any], within: float = 3.0) -> Any:
    deadline = asyncio.get_running_loop().time() + within
    while asyncio.get_running_loop().time() < deadline:
        result = predicate()
        if result:
            return result
        await asyncio.sleep(0.01)
    raise AssertionError("condition not met in time")


def finals(discord: RecordingDiscord) -> list[dict[str, Any]]:
    return [m for m in discord.of_kind("create") if "Open on website" in m["content"]]


def custom_ids(message: dict[str, Any]) -> list[str]:
    return [c.get("custom_id", "") for row in message["components"] for c in row["components"]]


async def test_imagine_runs_waiting_progress_delete_final(
    simulator: MidjourneySimulator, discord: RecordingDiscord
) -> None:
    await send(simulator, imagine_payload(simulator, "red fox --ar 16:9", "555"), "9001")
    final = (await wait_for(lambda: finals(discord)))[0]

    assert discord.events[0].kind == "INTERACTION_SUCCESS"
    assert discord.events[0].data == {"id": "9001", "nonce": "555", "user_id": USER_ID}

    waiting = discord.of_kind("create")[0]
    assert waiting["nonce"] == "555"
    assert waiting["content"] == f"**red fox --ar 16:9 --v 7** - <@{USER_ID}> (Waiting to start)"
    assert waiting["interaction_metadata"]["id"] == "9001"
    assert waiting["interaction_metadata"]["user"]["id"] == USER_ID

    updates = discord.of_kind("update")
    assert [percent_of(u) for u in updates] == list(simulator.knobs.progress_steps)
    assert all(u["id"] == waiting["id"] for u in updates)
    job_uuid = final["attachments"][0]["filename"].rsplit("_", 1)[1].removesuffix(".png")
    assert updates[-1]["attachments"][0]["filename"] == f"{job_uuid}_grid_0.webp"
    assert discord.of_kind("delete") == [{"id": waiting["id"], "channel_id": CHANNEL_ID}]

    assert final["nonce"] is None
    assert final["message_reference"] == {"message_id": waiting["id"]}
    assert (
        f"[(Open on website for full quality)](<https://midjourney.com/jobs/{job_uuid}>) (fast)"
        in final["content"]
    )
    assert final["attachments"][0]["filename"].endswith(f"_red_fox_{job_uuid}.png")
    assert (final["attachments"][0]["width"], final["attachments"][0]["height"]) == (512, 288)
    assert custom_ids(final) == [
        *(f"MJ::JOB::upsample::{i}::{job_uuid}" for i in range(1, 5)),
        f"MJ::JOB::reroll::0::{job_uuid}::SOLO",
        *(f"MJ::JOB::variation::{i}::{job_uuid}" for i in range(1, 5)),
    ]


async def test_final_without_reference_when_knob_off(
    simulator: MidjourneySimulator, discord: RecordingDiscord
) -> None:
    simulator.knobs.final_as_reply = False
    simulator.knobs.show_progress = False
    await send(simulator, imagine_payload(simulator, "red fox", "1"), "9001")
    final = (await wait_for(lambda: finals(discord)))[0]

    assert final["message_reference"] is None
    assert discord.of_kind("update") == []


async def test_2023_final_carries_no_interaction_when_knob_off(
    simulator: MidjourneySimulator, discord: RecordingDiscord
) -> None:
    simulator.knobs.final_carries_interaction = False
    await send(simulator, imagine_payload(simulator, "red fox", "1"), "9001")
    final = (await wait_for(lambda: finals(discord)))[0]

    waiting = discord.of_kind("create")[0]
    assert waiting["interaction_metadata"]["id"] == "9001"
    assert final.get("interaction_metadata") is None
    assert final.get("interaction") is None


async def test_long_prompt_echo_is_cut_to_the_limit(
    simulator: MidjourneySimulator, discord: RecordingDiscord
) -> None:
    simulator.knobs.echo_limit = 100
    prompt = "red fox " * 100
    await send(simulator, imagine_payload(simulator, prompt, "1"), "9001")
    final = (await wait_for(lambda: finals(discord)))[0]

    echo = final["content"].split("**")[1]
    assert len(echo) <= 100
    assert prompt.startswith(echo)
    assert next(iter(simulator.jobs.values())).prompt.raw == prompt


async def test_upscale_press_replies_with_single_image(
    simulator: MidjourneySimulator, discord: RecordingDiscord
) -> None:
    await send(simulator, imagine_payload(simulator, "red fox", "1"), "9001")
    grid = (await wait_for(lambda: finals(discord)))[0]

    await send(simulator, press_payload(grid["id"], custom_ids(grid)[1], "2"), "9002")
    single = discord.of_kind("create")[-1]

    assert single["content"] == f"**red fox --v 7** - Image #2 <@{USER_ID}>"
    assert single["message_reference"] == {"message_id": grid["id"]}
    assert single["nonce"] == "2"
    file = discord.files[single["attachments"][0]["id"]]
    grid_file = discord.files[grid["attachments"][0]["id"]]
    assert Image.open(io.BytesIO(file.data)).size == (256, 256)
    assert Image.open(io.BytesIO(grid_file.data)).size == (512, 512)


async def test_variation_press_makes_new_grid(
    simulator: MidjourneySimulator, discord: RecordingDiscord
) -> None:
    await send(simulator, imagine_payload(simulator, "red fox", "1"), "9001")
    grid = (await wait_for(lambda: finals(discord)))[0]

    await send(simulator, press_payload(grid["id"], custom_ids(grid)[5], "3"), "9003")
    variation = (await wait_for(lambda: finals(discord)[1:]))[0]

    waiting = next(m for m in discord.of_kind("create") if m["nonce"] == "3")
    assert waiting["message_reference"] == {"message_id": grid["id"]}
    assert f"**red fox --v 7** - Variations (Strong) by <@{USER_ID}>" in variation["content"]
    assert custom_ids(variation)[0] != custom_ids(grid)[0]


async def test_reroll_press_makes_new_grid(
    simulator: MidjourneySimulator, discord: RecordingDiscord
) -> None:
    await send(simulator, imagine_payload(simulator, "red fox", "1"), "9001")
    grid = (await wait_for(lambda: finals(discord)))[0]

    await send(simulator, press_payload(grid["id"], custom_ids(grid)[4], "4"), "9004")
    reroll = (await wait_for(lambda: finals(discord)[1:]))[0]

    assert reroll["content"].startswith(f"**red fox --v 7** - <@{USER_ID}> [(Open")
    assert (
        discord.files[reroll["attachments"][0]["id"]].data
        != discord.files[grid["attachments"][0]["id"]].data
    )


async def test_unknown_button_gets_interaction_failure(
    simulator: MidjourneySimulator, discord: RecordingDiscord
) -> None:
    await send(simulator, imagine_payload(simulator, "red fox", "1"), "9001")
    grid = (await wait_for(lambda: finals(discord)))[0]

    await send(simulator, press_payload(grid["id"], "MJ::Something::else", "5"), "9005")

    failures = discord.of_kind("INTERACTION_FAILURE")
    assert failures == [{"id": "9005", "nonce": "5", "reason_code": 1, "user_id": USER_ID}]
    assert {"id": "9005", "nonce": "5", "user_id": USER_ID} not in discord.of_kind(
        "INTERACTION_SUCCESS"
    )


def test_stale_command_version_is_rejected(simulator: MidjourneySimulator) -> None:
    payload = imagine_payload(simulator, "red fox", "1")
    simulator.knobs.bump_command_version()

    status, body = simulator.check_interaction(USER_ID, payload) or (0, {})

    assert status == 400
    assert body["code"] == 50035
    assert (
        body["errors"]["data"]["_errors"][0]["code"]
        == "INTERACTION_APPLICATION_COMMAND_INVALID_VERSION"
    )
    assert simulator.commands()[0]["version"] == simulator.knobs.imagine_version


def test_press_on_missing_message_is_404(simulator: MidjourneySimulator) -> None:
    status, body = simulator.check_interaction(
        USER_ID, press_payload("1", "MJ::JOB::upsample::1::x", "1")
    ) or (0, {})

    assert status == 404
    assert body["code"] == 10008


def test_queued_rejection_answers_next_interaction_once(simulator: MidjourneySimulator) -> None:
    simulator.knobs.rejections.append(unauthorized())
    payload = imagine_payload(simulator, "red fox", "1")

    assert simulator.check_interaction(USER_ID, payload) == (
        401,
        {"message": "401: Unauthorized", "code": 0},
    )
    assert simulator.check_interaction(USER_ID, payload) is None


async def test_full_slots_queue_job_then_run_it(
    simulator: MidjourneySimulator, discord: RecordingDiscord
) -> None:
    simulator.knobs.fast_slots = 1
    await send(simulator, imagine_payload(simulator, "first fox", "1"), "9001")
    await send(simulator, imagine_payload(simulator, "second fox", "2"), "9002")

    queued = next(m for m in discord.of_kind("create") if m["nonce"] == "2")
    assert queued["embeds"][0]["title"] == "Job queued"
    assert queued["embeds"][0]["footer"]["text"] == "/imagine second fox --v 7"
    assert queued["interaction_metadata"]["id"] == "9002"

    done = await wait_for(lambda: len(finals(discord)) == 2 and finals(discord))
    assert [m["content"].split("**")[1] for m in done] == ["first fox --v 7", "second fox --v 7"]
    later_waiting = [
        m
        for m in discord.of_kind("create")
        if "second fox" in m["content"] and "Waiting" in m["content"]
    ]
    assert later_waiting[0]["nonce"] is None
    assert later_waiting[0]["interaction_metadata"]["id"] == "9002"


async def test_queue_full_rejects_job(
    simulator: MidjourneySimulator, discord: RecordingDiscord
) -> None:
    simulator.knobs.fast_slots = 1
    simulator.knobs.queue_size = 1
    for number in range(3):
        await send(
            simulator, imagine_payload(simulator, f"fox {number}", str(number)), f"900{number}"
        )

    rejected = next(m for m in discord.of_kind("create") if m["nonce"] == "2")
    assert rejected["embeds"][0]["title"] == "Queue full"
    assert rejected["embeds"][0]["color"] == 0xFF0000


async def test_invalid_parameter_embed_carries_nonce(
    simulator: MidjourneySimulator, discord: RecordingDiscord
) -> None:
    await send(simulator, imagine_payload(simulator, "red fox --chaos 500", "77"), "9001")

    (reply,) = discord.of_kind("create")
    assert reply["nonce"] == "77"
    assert reply["embeds"][0]["title"] == "Invalid parameter"
    assert "--chaos" in reply["embeds"][0]["description"]
    assert reply["embeds"][0]["color"] == 0xFF0000


async def test_invalid_parameter_embed_can_be_ephemeral(
    simulator: MidjourneySimulator, discord: RecordingDiscord
) -> None:
    simulator.knobs.ephemeral_errors = True
    await send(simulator, imagine_payload(simulator, "red fox --ar wide", "78"), "9001")

    (reply,) = discord.of_kind("create")
    assert reply["flags"] == 64
    assert reply["ephemeral_to"] == USER_ID


async def test_banned_word_gets_banned_prompt_embed(
    simulator: MidjourneySimulator, discord: RecordingDiscord
) -> None:
    simulator.knobs.banned_words = frozenset({"gore"})
    await send(simulator, imagine_payload(simulator, "Gore fox", "79"), "9001")

    (reply,) = discord.of_kind("create")
    assert reply["embeds"][0]["title"] == "Banned prompt detected"
    assert "`gore`" in reply["embeds"][0]["description"]
    assert reply["nonce"] == "79"


async def test_post_moderation_deletes_progress_without_final(
    simulator: MidjourneySimulator, discord: RecordingDiscord
) -> None:
    simulator.knobs.post_moderated_words = frozenset({"forbidden"})
    await send(simulator, imagine_payload(simulator, "forbidden fox", "80"), "9001")
    await wait_for(lambda: discord.of_kind("delete"))
    await asyncio.sleep(0.1)

    percents = [percent_of(u) for u in discord.of_kind("update")]
    assert percents and max(percents) < simulator.knobs.post_moderation_percent
    assert finals(discord) == []
    assert simulator.jobs[next(iter(simulator.jobs))].state == "deleted"


async def test_credits_exhausted_for_fast_job(
    simulator: MidjourneySimulator, discord: RecordingDiscord
) -> None:
    simulator.knobs.fast_jobs_left = 0
    await send(simulator, imagine_payload(simulator, "red fox", "81"), "9001")

    (reply,) = discord.of_kind("create")
    assert reply["embeds"][0]["title"] == "Credits exhausted"
    assert reply["nonce"] == "81"


async def test_soft_moderation_appeal_starts_job(
    simulator: MidjourneySimulator, discord: RecordingDiscord
) -> None:
    simulator.knobs.soft_moderated_words = frozenset({"spicy"})
    await send(simulator, imagine_payload(simulator, "spicy fox", "90"), "9001")
    (notice,) = discord.of_kind("create")

    assert notice["embeds"][0]["title"] == "Action needed to continue"
    assert notice["flags"] == 64
    assert notice["ephemeral_to"] == USER_ID
    assert notice["nonce"] == "90"

    await send(simulator, press_payload(notice["id"], custom_ids(notice)[0], "91"), "9002")
    final = (await wait_for(lambda: finals(discord)))[0]

    assert {"id": notice["id"], "channel_id": CHANNEL_ID} in discord.of_kind("delete")
    waiting = next(m for m in discord.of_kind("create") if m["nonce"] == "91")
    assert "(Waiting to start)" in waiting["content"]
    assert final["content"].startswith("**spicy fox --v 7**")


async def test_rejected_appeal_gets_ephemeral_notice(
    simulator: MidjourneySimulator, discord: RecordingDiscord
) -> None:
    simulator.knobs.soft_moderated_words = frozenset({"spicy"})
    simulator.knobs.appeal_succeeds = False
    await send(simulator, imagine_payload(simulator, "spicy fox", "92"), "9001")
    (notice,) = discord.of_kind("create")

    await send(simulator, press_payload(notice["id"], custom_ids(notice)[0], "93"), "9002")

    reply = discord.of_kind("create")[-1]
    assert reply["embeds"][0]["title"] == "Appeal rejected"
    assert reply["nonce"] == "93"
    assert simulator.jobs == {}


async def test_captcha_knob_sends_iframe_modal(
    simulator: MidjourneySimulator, discord: RecordingDiscord
) -> None:
    simulator.knobs.captcha_on_next_imagine = True
    await send(simulator, imagine_payload(simulator, "red fox", "94"), "9001")

    (modal,) = discord.of_kind("INTERACTION_IFRAME_MODAL_CREATE")
    assert modal["nonce"] == "94"
    assert modal["custom_id"].startswith("MJ::iframe::")
    assert modal["iframe_path"].startswith("/captcha/embedded/")
    assert discord.of_kind("INTERACTION_SUCCESS") == []
    assert discord.of_kind("create") == []


def percent_of(message: dict[str, Any]) -> int:
    """Return the "(n%)" progress of a progress edit's content."""
    match = re.search(r"\((\d+)%\)", message["content"])
    assert match is not None, f"no progress in {message['content']!r}"
    return int(match[1])
