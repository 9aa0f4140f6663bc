"""The simulated Midjourney's fault switches for lost jobs and lost events."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from midjau.settings import SandboxSettings
from sandbox.midjourney import MidjourneySimulator
from tests.sandbox.recording_discord import RecordingDiscord
from tests.sandbox.test_midjourney_simulator import imagine_payload, send, wait_for


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


async def settle(simulator: MidjourneySimulator) -> None:
    """Let every simulated job run to its end."""
    await asyncio.sleep(simulator.knobs.job_duration * 3)


async def test_swallowed_prompt_gets_only_acknowledgement(
    simulator: MidjourneySimulator, discord: RecordingDiscord
) -> None:
    simulator.knobs.swallowed_words = frozenset({"ghost"})
    await send(simulator, imagine_payload(simulator, "a ghost ship", "1"), "9001")
    await settle(simulator)

    assert [event.kind for event in discord.events] == ["INTERACTION_SUCCESS"]


async def test_stalled_job_stops_after_waiting_message(
    simulator: MidjourneySimulator, discord: RecordingDiscord
) -> None:
    simulator.knobs.stalled_words = frozenset({"frozen"})
    await send(simulator, imagine_payload(simulator, "a frozen lake", "1"), "9001")
    await settle(simulator)

    [waiting] = discord.of_kind("create")
    assert "(Waiting to start)" in waiting["content"]
    assert discord.of_kind("update") == []


async def test_unfinished_job_shows_progress_without_grid(
    simulator: MidjourneySimulator, discord: RecordingDiscord
) -> None:
    simulator.knobs.unfinished_words = frozenset({"endless"})
    await send(simulator, imagine_payload(simulator, "an endless road", "1"), "9001")
    await settle(simulator)

    assert len(discord.of_kind("create")) == 1
    assert "(93%)" in discord.of_kind("update")[-1]["content"]
    assert discord.of_kind("delete") == []


async def test_undelivered_final_is_stored_without_event(
    simulator: MidjourneySimulator, discord: RecordingDiscord
) -> None:
    simulator.knobs.undelivered_final_words = frozenset({"hidden"})
    await send(simulator, imagine_payload(simulator, "a hidden door", "1"), "9001")
    [final] = await wait_for(lambda: discord.of_kind("store"))

    assert "Open on website" in final["content"]
    assert len(discord.of_kind("create")) == 1  # only the waiting message was published
    assert len(discord.of_kind("delete")) == 1
