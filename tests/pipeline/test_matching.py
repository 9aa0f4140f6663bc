"""Matching Midjourney messages to jobs: each key in order, then the prompt, oldest first."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from midjourney.messages import ChannelMessage
from midjourney.prompt import normalise_for_matching
from midjourney.replies import classify
from pipeline.tracker.matching import JobIndex, MatchKey, TrackedJob
from pipeline.variations import VariationRender, VariationStatus
from storage.models import JobStatus
from tests.pipeline.discord_payloads import (
    CHANNEL_ID,
    USER_ID,
    VARIATIONS,
    embed_reply,
    grid,
    message_payload,
    new_job_uuid,
    next_id,
    progress,
    upscale,
    waiting,
)

T0 = datetime(2026, 6, 14, 10, 0, tzinfo=UTC)
CDN = "https://cdn.discordapp.com/attachments/1/2/grid.png"


def tracked(job_id: str, prompt: str, *, seconds: int = 0, **keys) -> TrackedJob:
    status = keys.pop("status", JobStatus.SUBMITTED)
    return TrackedJob(
        job_id=job_id,
        batch_id=1,
        connection_id=1,
        status=status,
        prompt=prompt,
        normalised_prompt=normalise_for_matching(prompt),
        sent_at=T0 + timedelta(seconds=seconds),
        sequence=seconds,
        channel_id=CHANNEL_ID,
        account_id=USER_ID,
        **keys,
    )


def match(index: JobIndex, message):
    return index.match(message, classify(message))


def test_nonce_wins_over_prompt():
    index = JobIndex()
    index.put(tracked("old", "a red fox", seconds=0))
    index.put(tracked("new", "a red fox", seconds=5, nonce="777"))

    found = match(index, waiting("a red fox", nonce="777"))

    assert found.job.job_id == "new"
    assert found.key == MatchKey.NONCE


def test_progress_message_id_matches_edits():
    index = JobIndex()
    index.put(tracked("a", "a red fox", status=JobStatus.WAITING, progress_message_id="900"))
    index.put(tracked("b", "a red fox", seconds=1))

    found = match(index, progress("a red fox", "900", 45, new_job_uuid()))

    assert found.job.job_id == "a"
    assert found.key == MatchKey.PROGRESS_MESSAGE


def test_reply_to_progress_message_matches():
    index = JobIndex()
    index.put(tracked("a", "a red fox", status=JobStatus.RUNNING, progress_message_id="900"))
    index.put(tracked("b", "a red fox", seconds=1, status=JobStatus.RUNNING))

    found = match(index, grid("a red fox", new_job_uuid(), CDN, reference_id="900"))

    assert found.job.job_id == "a"
    assert found.key == MatchKey.PROGRESS_MESSAGE


def test_interaction_id_matches():
    index = JobIndex()
    index.put(tracked("a", "a red fox", interaction_id="5551"))
    index.put(tracked("b", "a red fox", seconds=-5))

    found = match(index, waiting("a red fox", nonce=None, interaction_id="5551"))

    assert found.job.job_id == "a"
    assert found.key == MatchKey.INTERACTION


def test_job_uuid_matches_final_grid():
    job_uuid = new_job_uuid()
    index = JobIndex()
    index.put(tracked("older", "a red fox", status=JobStatus.RUNNING, progress_message_id="1"))
    index.put(
        tracked(
            "a",
            "a red fox",
            seconds=3,
            status=JobStatus.RUNNING,
            progress_message_id="2",
            midjourney_job_id=job_uuid,
        )
    )

    found = match(index, grid("a red fox", job_uuid, CDN))

    assert found.job.job_id == "a"
    assert found.key == MatchKey.JOB_UUID


def test_upscale_matches_grid_by_reference():
    index = JobIndex()
    index.put(
        tracked(
            "a",
            "a red fox",
            status=JobStatus.UPSCALING,
            grid_message_id="4242",
            upscales_pending=(2,),
        )
    )
    index.put(
        tracked(
            "b",
            "a red fox",
            seconds=-3,
            status=JobStatus.UPSCALING,
            grid_message_id="4343",
            upscales_pending=(2,),
        )
    )

    found = match(index, upscale("a red fox", 2, "4242", CDN))

    assert found.job.job_id == "a"
    assert found.key == MatchKey.REFERENCE


def test_identical_prompts_match_oldest_first():
    index = JobIndex()
    index.put(tracked("second", "a red fox", seconds=10, status=JobStatus.RUNNING))
    index.put(tracked("first", "a red fox", seconds=1, status=JobStatus.RUNNING))

    first = match(index, grid("a red fox", new_job_uuid(), CDN))
    assert first.job.job_id == "first"
    assert first.key == MatchKey.PROMPT

    index.put(
        tracked(
            "first", "a red fox", seconds=1, status=JobStatus.UPSCALING, grid_message_id=next_id()
        )
    )
    second = match(index, grid("a red fox", new_job_uuid(), CDN))
    assert second.job.job_id == "second"


def test_rewritten_prompt_with_short_links_matches():
    sent = (
        "https://example.com/cat.png https://example.com/dog.png two pets on a sofa --ar 3:2 --v 7"
    )
    echoed = (
        "<https://s.mj.run/AbCdEf> <https://s.mj.run/GhIjKl> two pets on a sofa"
        " --ar 3:2 --v 7 --stylize 250"
    )
    index = JobIndex()
    index.put(tracked("pets", sent, status=JobStatus.RUNNING))
    index.put(
        tracked("other", "two pets on a bench --ar 3:2", seconds=-1, status=JobStatus.RUNNING)
    )

    found = match(index, grid(echoed, new_job_uuid(), CDN))

    assert found.job.job_id == "pets"
    assert found.key == MatchKey.PROMPT


def test_prompt_match_skips_another_users_job():
    index = JobIndex()
    job = tracked("theirs", "a red fox", status=JobStatus.RUNNING)
    job.account_id = "999999999999999999"
    index.put(job)

    assert match(index, grid("a red fox", new_job_uuid(), CDN)) is None


def test_unknown_message_matches_nothing():
    index = JobIndex()
    index.put(tracked("a", "a red fox"))

    assert match(index, waiting("a blue whale", nonce="1")) is None


def test_queued_embed_matches_by_nonce():
    index = JobIndex()
    index.put(tracked("a", "a red fox", nonce="31337"))

    found = match(
        index,
        embed_reply(
            "Job queued", "Your job will start soon.", "a red fox", nonce="31337", color=16776960
        ),
    )

    assert found.job.job_id == "a"
    assert found.key == MatchKey.NONCE


def test_removed_job_no_longer_matches():
    index = JobIndex()
    index.put(tracked("a", "a red fox", nonce="42"))
    index.remove("a")

    assert match(index, waiting("a red fox", nonce="42")) is None
    assert len(index) == 0


def with_variations(job: TrackedJob, *renders: VariationRender) -> TrackedJob:
    job.status = JobStatus.UPSCALING
    job.grid_message_id = job.grid_message_id or next_id()
    job.variations = renders
    return job


def pressed(index: int, *, seconds: int = 0, **keys) -> VariationRender:
    return VariationRender(
        index,
        f"MJ::JOB::variation::{index}::{new_job_uuid()}",
        status=keys.pop("status", VariationStatus.SUBMITTED),
        sent_at=T0 + timedelta(seconds=seconds),
        **keys,
    )


def test_variation_waiting_matches_press_nonce():
    index = JobIndex()
    index.put(with_variations(tracked("a", "a red fox"), pressed(2, nonce="881")))

    found = match(index, waiting("a red fox", nonce="881", action=VARIATIONS))

    assert (found.job.job_id, found.variation, found.key) == ("a", 2, MatchKey.NONCE)


def test_variation_final_matches_by_reply_to_its_waiting_message():
    index = JobIndex()
    render = pressed(1, status=VariationStatus.RUNNING, progress_message_id="700")
    index.put(with_variations(tracked("a", "a red fox"), render))

    found = match(index, grid("a red fox", new_job_uuid(), CDN, reference_id="700"))

    assert (found.job.job_id, found.variation, found.key) == ("a", 1, MatchKey.PROGRESS_MESSAGE)


def test_reply_to_grid_goes_to_variation_named_by_placeholder():
    index = JobIndex()
    job = tracked("a", "a red fox", grid_message_id="4242")
    index.put(with_variations(job, pressed(1, seconds=1), pressed(3, seconds=2)))
    placeholder = ChannelMessage.from_payload(
        message_payload(
            content=f"Making variations for image #3 with prompt **a red fox** - <@{USER_ID}>",
            message_reference={"message_id": "4242", "channel_id": CHANNEL_ID},
        )
    )

    found = match(index, placeholder)

    assert (found.job.job_id, found.variation, found.key) == ("a", 3, MatchKey.REFERENCE)


def test_upscale_reply_to_grid_stays_with_job():
    index = JobIndex()
    job = tracked("a", "a red fox", grid_message_id="4242", upscales_pending=(2,))
    index.put(with_variations(job, pressed(1)))

    found = match(index, upscale("a red fox", 2, "4242", CDN))

    assert (found.job.job_id, found.variation) == ("a", None)


def test_variation_grid_by_prompt_skips_imagine_jobs():
    index = JobIndex()
    index.put(tracked("imagine", "a red fox", seconds=0, status=JobStatus.RUNNING))
    index.put(with_variations(tracked("parent", "a red fox", seconds=-9), pressed(4, seconds=5)))

    variation = match(index, grid("a red fox", new_job_uuid(), CDN, action=VARIATIONS))
    imagine = match(index, grid("a red fox", new_job_uuid(), CDN))

    assert (variation.job.job_id, variation.variation, variation.key) == (
        "parent",
        4,
        MatchKey.PROMPT,
    )
    assert (imagine.job.job_id, imagine.variation) == ("imagine", None)


def test_identical_variation_prompts_match_oldest_press_first():
    index = JobIndex()
    index.put(with_variations(tracked("late", "a red fox", seconds=0), pressed(1, seconds=30)))
    index.put(with_variations(tracked("early", "a red fox", seconds=9), pressed(2, seconds=20)))

    found = match(index, grid("a red fox", new_job_uuid(), CDN, action=VARIATIONS))

    assert (found.job.job_id, found.variation) == ("early", 2)


def test_variation_matched_by_job_uuid():
    variation_uuid = new_job_uuid()
    index = JobIndex()
    render = pressed(1, status=VariationStatus.RUNNING, midjourney_job_id=variation_uuid)
    index.put(with_variations(tracked("a", "a red fox"), render))
    index.put(with_variations(tracked("b", "a red fox", seconds=-5), pressed(1, seconds=-5)))

    found = match(index, grid("a red fox", variation_uuid, CDN, action=VARIATIONS))

    assert (found.job.job_id, found.variation, found.key) == ("a", 1, MatchKey.JOB_UUID)
