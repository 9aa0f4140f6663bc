"""Turn Midjourney's messages and the user's interaction events into job state."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Protocol

from midjourney.messages import (
    MIDJOURNEY_BOT_ID,
    NIJI_BOT_ID,
    ChannelEvent,
    ChannelMessage,
    EventSource,
    InteractionCreated,
    InteractionFailed,
    InteractionSucceeded,
    MessageCreated,
    MessageDeleted,
    MessageUpdated,
    ModalCreated,
)
from midjourney.replies import Reply, ReplyKind, classify
from pipeline.completion import JobCompletion
from pipeline.job_limits import learn_job_limit
from pipeline.ledger import JobChange, JobLedger
from pipeline.tracker.appeals import Appeals, ToolsLookup
from pipeline.tracker.dedup import EventDeduplicator
from pipeline.tracker.deletions import DeletionWatch, RenderId
from pipeline.tracker.failures import describe_failure
from pipeline.tracker.matching import PRE_GRID_STATUSES, JobIndex, Match, TrackedJob
from pipeline.tracker.variations import VariationRecorder
from pipeline.variations import VariationRender
from storage.models import FailureCategory, JobStatus

log = logging.getLogger(__name__)

# Reads a connection's channel messages since a time, oldest first.
HistoryReader = Callable[[int, datetime], Awaitable[list[ChannelMessage]]]

MIDJOURNEY_AUTHOR_IDS = frozenset({MIDJOURNEY_BOT_ID, NIJI_BOT_ID})
# Times a job is sent again after Discord or Midjourney turned it away before it started.
MAX_SEND_ATTEMPTS = 3

# The changes that put a job back in our queue, forgetting the keys of the last attempt.
REQUEUE: dict[str, Any] = {
    "status": JobStatus.QUEUED,
    "nonce": None,
    "interaction_id": None,
    "progress_message_id": None,
    "midjourney_job_id": None,
    "progress": 0,
    "sent_at": None,
}
MODERATION_DELETION = (
    "Midjourney deleted the progress message and sent no result, "
    "which it does when moderation stops an image mid-render"
)


class ResultSink(Protocol):
    """Receives finished results to download; the fetcher implements it."""

    def on_grid(self, job: TrackedJob, message: ChannelMessage, reply: Reply) -> None: ...

    def on_upscale(
        self, job: TrackedJob, index: int, message: ChannelMessage, reply: Reply
    ) -> None: ...

    def on_variation(
        self, job: TrackedJob, index: int, message: ChannelMessage, reply: Reply
    ) -> None: ...


class ConnectionControl(Protocol):
    """Lets the tracker slow down or stop a connection's dispatcher."""

    def back_off(self, connection_id: int, reason: str) -> None: ...

    async def pause(self, connection_id: int, reason: str, *, link: str = "") -> None: ...


@dataclass(frozen=True, slots=True)
class ConnectionChannel:
    """The channel where Midjourney replies to a connection's jobs, and the sending account."""

    channel_id: str
    account_id: str = ""
    # The owner's choice: press Appeal on soft moderation instead of failing the job.
    appeal_soft_moderation: bool = False


class Tracker:
    """Match each Midjourney event to its job and record what it means.

    Events from both streams go through one lock in arrival order, so two messages for
    jobs with the same prompt are matched one after the other, oldest job first.
    """

    def __init__(
        self,
        ledger: JobLedger,
        results: ResultSink,
        control: ConnectionControl,
        *,
        index: JobIndex | None = None,
        completion: JobCompletion | None = None,
        deleted_progress_grace: float = 20.0,
        connections: ToolsLookup | None = None,
        history: HistoryReader | None = None,
    ) -> None:
        self.ledger = ledger
        self.history = history
        self.results = results
        self.control = control
        self.index = index if index is not None else JobIndex()
        self.variations = VariationRecorder(
            ledger, results, control, completion or JobCompletion(ledger)
        )
        self._dedup = EventDeduplicator()
        self._lock = asyncio.Lock()
        self._connections: dict[int, ConnectionChannel] = {}
        self._deletions = DeletionWatch(
            self.index, self._fail_deleted, self._lock, deleted_progress_grace, self._look_up
        )
        self.appeals = Appeals(ledger, connections)
        ledger.subscribe(self._on_job_changed)

    def register_connection(self, connection_id: int, channel: ConnectionChannel) -> None:
        """Accept Midjourney messages in this connection's channel."""
        self._connections[connection_id] = channel

    def set_appeal_choice(self, connection_id: int, appeal: bool) -> None:
        """Record the owner's choice to press Appeal on soft moderation for a connection."""
        channel = self._connections.get(connection_id)
        if channel is not None:
            self._connections[connection_id] = replace(channel, appeal_soft_moderation=appeal)

    def track(self, jobs: Iterable[Any]) -> None:
        """Start tracking jobs already in flight, e.g. after a restart."""
        for job in jobs:
            self._on_job_changed(JobChange(job, job.status))

    async def close(self) -> None:
        """Cancel the pending deletion checks and Appeal presses."""
        await self._deletions.close()
        await self.appeals.close()

    async def handle(self, event: ChannelEvent) -> None:
        """Record what one event from either stream means for its job."""
        async with self._lock:
            if not self._dedup.is_new(event):
                return
            try:
                await self._dispatch(event)
            except Exception:
                log.exception("failed to handle %s", type(event).__name__)

    async def ingest_history(
        self, messages: Iterable[ChannelMessage], *, channel_id: str | None = None
    ) -> None:
        """Feed messages read from channel history, oldest first, as if they had just arrived.

        With ``channel_id``, the messages are that channel's whole history since its oldest
        job in flight was sent, so a progress message of those jobs that is missing was
        deleted unseen, and its render gets the deletion's grace period like a live one.
        """
        ordered = sorted(messages, key=lambda message: int(message.id))
        for message in ordered:
            await self.handle(MessageCreated(message, EventSource.HISTORY))
        if channel_id is not None:
            self._notice_unseen_deletions(channel_id, {message.id for message in ordered})

    def _notice_unseen_deletions(self, channel_id: str, present: set[str]) -> None:
        for job in self.index.jobs():
            if job.channel_id != channel_id:
                continue
            progress = [job.progress_message_id, *(r.progress_message_id for r in job.variations)]
            for message_id in progress:
                if message_id and message_id not in present:
                    self._deletions.on_deleted(message_id)

    async def _dispatch(self, event: ChannelEvent) -> None:
        match event:
            case MessageCreated(message=message) | MessageUpdated(message=message):
                await self._on_message(message)
            case MessageDeleted(message_id=message_id):
                self._deletions.on_deleted(message_id)
            case InteractionCreated() | InteractionSucceeded():
                await self._on_interaction_accepted(event.interaction_id, event.nonce)
            case InteractionFailed():
                await self._on_interaction_failed(event)
            case ModalCreated():
                await self._on_modal(event)

    # Messages ---------------------------------------------------------------------------

    async def _on_message(self, message: ChannelMessage) -> None:
        if message.author_id not in MIDJOURNEY_AUTHOR_IDS or not self._watches(message):
            return
        reply = classify(message)
        match = self.index.match(message, reply)
        if match is None:
            log.debug("message %s (%s) matches no job in flight", message.id, reply.kind)
            return
        log.debug(
            "message %s (%s) is job %s (variation %s) by %s",
            message.id,
            reply.kind,
            match.job.job_id,
            match.variation,
            match.key,
        )
        if match.variation is not None:
            await self.variations.apply(match.job, match.variation, message, reply)
            return
        await self._apply(match, message, reply)

    def _watches(self, message: ChannelMessage) -> bool:
        # Ephemeral replies come only on the user's own session, which is already per channel.
        channels = {channel.channel_id for channel in self._connections.values()}
        return not channels or message.channel_id in channels or message.ephemeral

    async def _apply(self, match: Match, message: ChannelMessage, reply: Reply) -> None:
        job = match.job
        kind = reply.kind
        if kind in (ReplyKind.WAITING, ReplyKind.QUEUED):
            await self._record_waiting(job, message, reply)
        elif kind == ReplyKind.PROGRESS:
            await self._record_progress(job, message, reply)
        elif kind == ReplyKind.GRID:
            await self._record_grid(job, message, reply)
        elif kind == ReplyKind.UPSCALE:
            self._record_upscale(job, message, reply)
        elif kind == ReplyKind.QUEUE_FULL:
            # Learn the limit and back off before re-queueing, so the dispatcher cannot send
            # the job again at once.
            if job.connection_id is not None:
                await learn_job_limit(self.ledger, job.connection_id)
                self.control.back_off(job.connection_id, "queue full")
            await self._requeue(job, "Midjourney's queue is full")
        elif kind in (ReplyKind.ACCOUNT_BLOCKED, ReplyKind.CREDITS_EXHAUSTED):
            await self._stop_account(job, reply, message)
        elif kind == ReplyKind.ACTION_NEEDED:
            channel = self._connections.get(job.connection_id or -1, ConnectionChannel(""))
            await self.appeals.on_action_needed(
                job, message, reply, appeal=channel.appeal_soft_moderation
            )
        elif kind in (ReplyKind.FAILED, ReplyKind.STOPPED):
            await self._record_failure(job, reply)

    async def _record_waiting(self, job: TrackedJob, message: ChannelMessage, reply: Reply) -> None:
        changes: dict[str, Any] = {"status": JobStatus.WAITING}
        if reply.kind == ReplyKind.WAITING:
            changes["progress_message_id"] = job.progress_message_id or message.id
        if message.interaction_id and not job.interaction_id:
            changes["interaction_id"] = message.interaction_id
        if job.status != JobStatus.SUBMITTED:
            changes.pop("status")
        await self.ledger.update(job.job_id, when=PRE_GRID_STATUSES, **changes)

    async def _record_progress(
        self, job: TrackedJob, message: ChannelMessage, reply: Reply
    ) -> None:
        def compute(row: Any) -> dict[str, Any]:
            return {
                "status": JobStatus.RUNNING,
                "progress": max(row.progress or 0, reply.percent or 0),
                "progress_message_id": row.progress_message_id or message.id,
                "midjourney_job_id": row.midjourney_job_id or reply.job_uuid,
            }

        await self.ledger.modify(job.job_id, compute, when=PRE_GRID_STATUSES)

    async def _record_grid(self, job: TrackedJob, message: ChannelMessage, reply: Reply) -> None:
        if reply.image is None:
            log.warning("job %s: grid message %s has no image", job.job_id, message.id)
            return
        updated = await self.ledger.update(
            job.job_id,
            when=PRE_GRID_STATUSES,
            status=JobStatus.UPSCALING,
            progress=100,
            grid_message_id=message.id,
            midjourney_job_id=reply.job_uuid or job.midjourney_job_id,
        )
        if updated is None:
            return
        tracked = self.index.get(job.job_id) or job
        self.results.on_grid(tracked, message, reply)

    def _record_upscale(self, job: TrackedJob, message: ChannelMessage, reply: Reply) -> None:
        index = reply.image_index
        if index is None or reply.image is None or index not in job.upscales_pending:
            log.debug("job %s: upscale message %s is not one we wait for", job.job_id, message.id)
            return
        self.results.on_upscale(job, index, message, reply)

    async def _record_failure(self, job: TrackedJob, reply: Reply) -> None:
        category, detail = describe_failure(reply)
        failed = await self.ledger.update(
            job.job_id,
            when=PRE_GRID_STATUSES,
            status=JobStatus.FAILED,
            failure_category=category,
            failure_message=detail,
        )
        if failed is not None:
            log.info("job %s failed: %s (%s)", job.job_id, category, detail)

    async def _stop_account(self, job: TrackedJob, reply: Reply, message: ChannelMessage) -> None:
        reason = " ".join(part for part in (reply.title, reply.detail) if part).strip()
        # A notice with a button to press (Acknowledged, Accept ToS) is linked for the owner;
        # the engine fills in the guild when the event carried none.
        link = ""
        if any(button.custom_id for button in message.buttons):
            guild_id = message.guild_id or ""
            link = f"https://discord.com/channels/{guild_id}/{message.channel_id}/{message.id}"
        # Pause before re-queueing, so the dispatcher cannot pick the job up again at once.
        if job.connection_id is not None:
            await self.control.pause(job.connection_id, reason or reply.kind.value, link=link)
        await self._requeue(job, reason)

    async def _requeue(self, job: TrackedJob, reason: str) -> None:
        requeued = await self.ledger.update(job.job_id, when=PRE_GRID_STATUSES, **REQUEUE)
        if requeued is not None:
            log.info("job %s back in the queue: %s", job.job_id, reason)

    # Deletions ---------------------------------------------------------------------------

    async def _look_up(self, render: RenderId) -> None:
        """Feed the channel history since a render was sent, in case its grid event was lost."""
        job = self.index.get(render[0])
        if self.history is None or job is None or job.connection_id is None:
            return
        variation = job.variation(render[1]) if render[1] is not None else None
        since = variation.sent_at if variation is not None else job.sent_at
        if since is None:
            return
        await self.ingest_history(await self.history(job.connection_id, since))

    async def _fail_deleted(self, render: RenderId, message_id: str) -> None:
        job_id, variation = render
        if variation is not None:
            await self.variations.fail(
                job_id, variation, MODERATION_DELETION, FailureCategory.MODERATED
            )
            return
        failed = await self.ledger.update(
            job_id,
            when=PRE_GRID_STATUSES,
            status=JobStatus.FAILED,
            failure_category=FailureCategory.MODERATED,
            failure_message=f"{MODERATION_DELETION}.",
        )
        if failed is not None:
            log.info("job %s failed: progress message %s deleted, no grid", job_id, message_id)

    # Interaction events on the user's session ------------------------------------------------

    async def _on_interaction_accepted(self, interaction_id: str, nonce: str | None) -> None:
        job = self.index.find("nonce", nonce)
        if job is not None and not job.interaction_id:
            await self.ledger.update(
                job.job_id, when=PRE_GRID_STATUSES, interaction_id=interaction_id
            )
            return
        press = self.index.press_for_nonce(nonce)
        if press is not None:
            self.index.record_press_interaction(press, interaction_id)
            return
        found = self.index.find_variation("nonce", nonce)
        if found is not None:
            await self.variations.record_interaction(found[0], found[1].index, interaction_id)

    async def _on_interaction_failed(self, event: InteractionFailed) -> None:
        found = self.index.find_variation("nonce", event.nonce)
        if found is not None:
            await self._on_variation_press_failed(*found, event.reason_code)
            return
        job = self.index.find("nonce", event.nonce)
        if job is None:
            press = self.index.press_for_nonce(event.nonce)
            if press is not None:
                log.warning(
                    "job %s: press of U%d failed (reason %d)",
                    press.job_id,
                    press.index,
                    event.reason_code,
                )
            return
        record = await self.ledger.get(job.job_id)
        if record is not None and record.attempts < MAX_SEND_ATTEMPTS:
            await self._requeue(job, f"interaction failed (reason {event.reason_code})")
            return
        await self.ledger.update(
            job.job_id,
            when=PRE_GRID_STATUSES,
            status=JobStatus.FAILED,
            failure_category=FailureCategory.MIDJOURNEY_ERROR,
            failure_message=(
                f"Midjourney did not accept the prompt after {MAX_SEND_ATTEMPTS} tries."
            ),
        )

    async def _on_variation_press_failed(
        self, job: TrackedJob, render: VariationRender, reason_code: int
    ) -> None:
        if render.attempts < MAX_SEND_ATTEMPTS:
            await self.variations.requeue(job, render.index, f"press failed (reason {reason_code})")
            return
        await self.variations.fail(
            job.job_id,
            render.index,
            f"Midjourney did not accept the {render.name} press after {MAX_SEND_ATTEMPTS} tries",
            FailureCategory.MIDJOURNEY_ERROR,
        )

    async def _on_modal(self, event: ModalCreated) -> None:
        if event.iframe_path is None:
            log.info("modal %s opened; MidJAu does not fill in modals", event.custom_id)
            return
        job = self.index.find("nonce", event.nonce)
        found = self.index.find_variation("nonce", event.nonce)
        reason = "Midjourney asks for a CAPTCHA; solve it in Discord, then resume the connection."
        owner = job or (found[0] if found else None)
        if owner is None:
            return
        if owner.connection_id is not None:
            await self.control.pause(owner.connection_id, reason)
        if found is not None:
            await self.variations.requeue(found[0], found[1].index, "CAPTCHA")
        elif job is not None:
            await self._requeue(job, "CAPTCHA")

    # Keeping the index in step with the rows ---------------------------------------------------

    def _on_job_changed(self, change: JobChange) -> None:
        job = change.job
        if job.status == JobStatus.QUEUED or job.status.is_final:
            self.index.remove(job.id)
            self._deletions.on_job_changed(None, job.id)
            return
        channel = self._connections.get(job.connection_id or -1, ConnectionChannel(""))
        tracked = TrackedJob.from_job(
            job, channel_id=channel.channel_id, account_id=channel.account_id
        )
        self.index.put(tracked)
        self._deletions.on_job_changed(tracked, job.id)
