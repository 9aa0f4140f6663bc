"""Send queued jobs to Midjourney for one connected account, within its plan's slots.

What goes next is chosen in ``pipeline.dispatch_choice``. Upscale presses hold no slot.
Each job (and each variation) is committed as SUBMITTED with its nonce before the prompt is
sent or the button pressed: after a crash it is found in flight and looked up, never sent
again blindly.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Coroutine
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import aiohttp

from midjourney.relay import (
    AccessBlockedError,
    CaptchaRequiredError,
    InteractionRejectedError,
    RateLimitedError,
    RelayError,
    TokenRejectedError,
)
from midjourney.snowflake import new_nonce
from pipeline.batches import prompt_in_mode
from pipeline.completion import JobCompletion
from pipeline.dispatch_choice import SlotLimits, choose_work, count_sent_since
from pipeline.ledger import JobLedger
from pipeline.pacing import Pacer
from pipeline.tracker.tracker import MAX_SEND_ATTEMPTS, REQUEUE
from pipeline.variations import (
    VARIATION_REQUEUE,
    QueuedVariation,
    VariationStatus,
    change_render,
    renders_of,
)
from storage.models import (
    Batch,
    BatchStatus,
    FailureCategory,
    Job,
    JobStatus,
    utcnow,
)

if TYPE_CHECKING:
    from pipeline.relays import AccountRelay

log = logging.getLogger(__name__)

# Seconds before the loop looks again when nothing woke it: a missed wake-up costs no more.
IDLE_RECHECK_SECONDS = 30.0
# Seconds to wait after a send whose outcome is unknown (a network error mid-request).
UNKNOWN_OUTCOME_BACKOFF_SECONDS = 5.0

PauseHandler = Callable[[str], Awaitable[None]]
# Undoes a claim that Discord rejected: (reason, whether the rejected send counts as an attempt).
RollBack = Callable[[str, bool], Awaitable[None]]


class Dispatcher:
    """Keep one account's slots filled with queued jobs, one paced interaction at a time."""

    def __init__(
        self,
        *,
        connection_id: int,
        relay: AccountRelay,
        ledger: JobLedger,
        pacer: Pacer,
        limits: SlotLimits,
        daily_cap: int,
        queue_full_backoff: float = 30.0,
        on_pause: PauseHandler | None = None,
        completion: JobCompletion | None = None,
    ) -> None:
        self.connection_id = connection_id
        self.relay = relay
        self.ledger = ledger
        self.pacer = pacer
        self.limits = limits
        self.daily_cap = daily_cap
        self.queue_full_backoff = queue_full_backoff
        self.on_pause = on_pause
        self.completion = completion or JobCompletion(ledger)
        self._wake = asyncio.Event()
        self._resume_at = 0.0
        self._last_batch_id = 0
        self._paused = False
        # "relax" once the account's fast hours ran out and its owner chose to go on in relax
        # mode, so every job claimed from then on is sent in that mode.
        self.speed_override = ""
        self._hold_reason = ""

    def wake(self) -> None:
        """Look for work now: a slot was freed or jobs were queued."""
        self._wake.set()

    def back_off(self, seconds: float | None = None, reason: str = "") -> None:
        """Send nothing for ``seconds`` (default: the queue-full back-off)."""
        seconds = self.queue_full_backoff if seconds is None else seconds
        loop = asyncio.get_running_loop()
        if loop.time() + seconds > self._resume_at:
            self._resume_at = loop.time() + seconds
            self._hold_reason = reason
        log.info(
            "connection %s: pausing sends for %.1f s (%s)", self.connection_id, seconds, reason
        )
        self.wake()

    def hold_seconds(self) -> float:
        """Return the seconds left before sends go on: 0 when they go on now or it is paused."""
        if self._paused:
            return 0.0
        return max(0.0, self._resume_at - asyncio.get_running_loop().time())

    def holding(self) -> tuple[datetime, str] | None:
        """Return until when and why sends wait (a back-off or the daily cap), or None.

        None also while the dispatcher is paused: then the connection's pause is the reason.
        """
        left = self.hold_seconds()
        if left <= 0:
            return None
        return utcnow() + timedelta(seconds=left), self._hold_reason

    async def run(self) -> None:
        """Send jobs until cancelled or until the account needs its owner's attention."""
        log.info("dispatcher of connection %s started", self.connection_id)
        while not self._paused:
            self._wake.clear()
            delay = self._resume_at - asyncio.get_running_loop().time()
            if delay > 0:
                await self._wait_for_wake(delay)  # a pause ends a back-off's wait
                continue
            if await self.send_next() or self._paused:
                continue
            await self._wait_for_wake(IDLE_RECHECK_SECONDS)
        # Paused by a fault, by its owner, or because the connection is stopping.
        log.info("dispatcher of connection %s stopped", self.connection_id)

    async def _wait_for_wake(self, seconds: float) -> None:
        # Not wait_for: before Python 3.12 it can swallow a cancel that arrives with a
        # wake-up (CPython gh-86296), and then the loop never stops.
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await self._wake.wait()

    async def _wait_out_gap(self) -> None:
        # A pause ends this wait, unlike the one inside the pacer's turn. The loop looks for
        # work after every send, so clearing a wake-up here loses nothing.
        while True:
            self._wake.clear()
            gap = self.pacer.seconds_to_next_turn()
            if self._paused or gap <= 0:
                return
            await self._wait_for_wake(gap)

    async def send_next(self) -> bool:
        """Send the next job or variation if a slot is free; return whether one was taken."""
        if self._paused or await self._daily_cap_reached():
            return False
        work = await self._next_work()
        if work is None:
            return False

        await self._wait_out_gap()
        if self._paused:
            return False
        async with self.pacer.turn(ignore_hold=True):
            if self._paused:
                return False
            if self._resume_at > asyncio.get_running_loop().time():
                return True  # a back-off began while choosing; the loop waits it out
            nonce = new_nonce()
            if isinstance(work, QueuedVariation):
                await self._press_variation(work, nonce)
                return True
            claimed = await self._claim(work.id, nonce)
            if claimed is None:
                return True  # it changed since it was chosen; choose again
            await self._mark_batch_running(claimed.batch_id)
            await self._send(claimed, nonce)
        return True

    # Choosing -------------------------------------------------------------------------------

    async def _next_work(self) -> Job | QueuedVariation | None:
        async with self.ledger.db.sessions() as session:
            work = await choose_work(session, self.connection_id, self.limits, self._last_batch_id)
        if isinstance(work, Job):
            self._last_batch_id = work.batch_id
        return work

    async def _daily_cap_reached(self) -> bool:
        # NOTE: the cap counts prompts sent (Job.sent_at); variation presses are not counted,
        # although each one is a render too.
        since = utcnow() - timedelta(days=1)
        async with self.ledger.db.sessions() as session:
            sent_today, oldest = await count_sent_since(session, self.connection_id, since)
        if sent_today < self.daily_cap:
            return False
        # Try again when the oldest of today's prompts falls out of the 24-hour window.
        wait = 60.0
        if oldest is not None:
            wait = max(1.0, (oldest - since).total_seconds())
        prompts = "prompt" if self.daily_cap == 1 else "prompts"
        self.back_off(wait, f"daily cap of {self.daily_cap} {prompts} reached")
        return True

    async def _claim(self, job_id: str, nonce: str) -> Job | None:
        def submitted(job: Job) -> dict[str, Any]:
            return {
                "status": JobStatus.SUBMITTED,
                "nonce": nonce,
                "attempts": (job.attempts or 0) + 1,
                "sent_at": utcnow(),
                "connection_id": self.connection_id,
            } | speed_changes(job, self.speed_override)

        return await self.ledger.modify(job_id, submitted, when=[JobStatus.QUEUED])

    async def _mark_batch_running(self, batch_id: int) -> None:
        async with self.ledger.transaction() as session:
            batch = await session.get(Batch, batch_id)
            if batch is not None and batch.status == BatchStatus.QUEUED:
                batch.status = BatchStatus.RUNNING
                batch.started_at = batch.started_at or utcnow()

    async def _send(self, job: Job, nonce: str) -> None:
        sent = await self._deliver(
            self.relay.imagine(job.prompt, nonce=nonce),
            lambda reason, counted: self._roll_back(job, reason, counted),
            f"job {job.id}",
        )
        if sent:
            log.debug("connection %s: sent job %s with nonce %s", self.connection_id, job.id, nonce)

    async def _deliver(
        self, request: Coroutine[Any, Any, object], roll_back: RollBack, what: str
    ) -> bool:
        """Await one interaction; undo its claim when Discord rejected it outright.

        Return whether Discord accepted the request.
        """
        try:
            await request
        except (TokenRejectedError, AccessBlockedError, CaptchaRequiredError) as error:
            # Paused first, so the roll-back re-queues the job even after its last attempt,
            # because Discord rejected the account, not the prompt.
            await self._pause(error.user_message)
            await roll_back(error.user_message, True)
        except RateLimitedError as error:
            # Discord rejected the request for its rate limit, before it reached Midjourney,
            # so the attempt is not counted. Sending again at once would meet the same limit.
            await roll_back(error.user_message, False)
            self.back_off(max(error.retry_after, self.queue_full_backoff), "rate limited")
        except InteractionRejectedError as error:
            await roll_back(error.user_message, True)
        except RelayError as error:
            await roll_back(error.user_message, True)
            self.back_off(self.queue_full_backoff, "relay error")
        except (aiohttp.ClientError, TimeoutError, OSError) as error:
            # The request may have reached Discord, so the claim stays submitted; the
            # timeout sweep looks for its reply before anything is sent again.
            log.warning(
                "connection %s: sending %s had an unknown outcome (%s); it stays submitted",
                self.connection_id,
                what,
                type(error).__name__,
            )
            self.back_off(UNKNOWN_OUTCOME_BACKOFF_SECONDS, "unknown send outcome")
        else:
            return True
        return False

    async def _roll_back(self, job: Job, reason: str, counted: bool) -> None:
        # Discord rejected the request outright, so Midjourney never saw the prompt.
        if not counted or job.attempts < MAX_SEND_ATTEMPTS or self._paused:
            attempts = job.attempts if counted else job.attempts - 1
            await self.ledger.update(
                job.id, when=[JobStatus.SUBMITTED], **REQUEUE | {"attempts": attempts}
            )
            log.warning("job %s rejected by Discord, back in the queue: %s", job.id, reason)
            return
        await self.ledger.update(
            job.id,
            when=[JobStatus.SUBMITTED],
            status=JobStatus.FAILED,
            failure_category=FailureCategory.MIDJOURNEY_ERROR,
            failure_message=f"Discord rejected the prompt {job.attempts} times: {reason}",
        )
        log.warning("job %s failed: rejected %d times: %s", job.id, job.attempts, reason)

    # Variations -----------------------------------------------------------------------------

    async def _press_variation(self, work: QueuedVariation, nonce: str) -> None:
        index = work.render.index

        def submitted(row: Job) -> dict[str, Any] | None:
            render = renders_of(row).get(index)
            if render is None:
                return None
            return change_render(
                row,
                index,
                [VariationStatus.QUEUED],
                status=VariationStatus.SUBMITTED,
                nonce=nonce,
                attempts=render.attempts + 1,
                sent_at=utcnow(),
            )

        claimed = await self.ledger.modify(work.job_id, submitted, when=[JobStatus.UPSCALING])
        if claimed is None:
            return  # it changed since it was chosen
        attempts = renders_of(claimed)[index].attempts
        pressed = await self._deliver(
            self.relay.press(work.grid_message_id, work.render.custom_id, nonce=nonce),
            lambda reason, counted: self._roll_back_variation(work, attempts, reason, counted),
            f"V{index} of job {work.job_id}",
        )
        if pressed:
            log.debug(
                "connection %s: pressed V%d of job %s", self.connection_id, index, work.job_id
            )

    async def _roll_back_variation(
        self, work: QueuedVariation, attempts: int, reason: str, counted: bool
    ) -> None:
        index = work.render.index
        if not counted or attempts < MAX_SEND_ATTEMPTS or self._paused:
            kept = attempts if counted else attempts - 1
            await self.ledger.modify(
                work.job_id,
                lambda row: change_render(
                    row,
                    index,
                    [VariationStatus.SUBMITTED],
                    **VARIATION_REQUEUE | {"attempts": kept},
                ),
                when=[JobStatus.UPSCALING],
            )
            log.warning(
                "job %s: V%d press rejected, back in the queue: %s", work.job_id, index, reason
            )
            return
        await self.completion.drop(
            work.job_id,
            f"Discord rejected the press {attempts} times: {reason}",
            variations=[index],
            when=[VariationStatus.SUBMITTED],
        )
        await self.completion.finish_if_complete(work.job_id)

    async def _pause(self, reason: str) -> None:
        self.pause()
        log.warning("connection %s paused: %s", self.connection_id, reason)
        if self.on_pause is not None:
            await self.on_pause(reason)

    def pause(self) -> None:
        """Stop sending and hold the pacer, so presses wait too; the loop ends at its next turn."""
        self._paused = True
        self.pacer.hold()
        self.wake()

    @property
    def paused(self) -> bool:
        """Whether sending is stopped until ``resume``."""
        return self._paused

    def resume(self) -> None:
        """Allow sends and presses again; start ``run`` anew if its loop has ended."""
        self._paused = False
        self.pacer.release()
        self.wake()

    async def send_trial(self) -> bool:
        """Send one job or variation while paused, to learn whether the account works again.

        The dispatcher stays paused; return whether something was sent.
        """
        if not self._paused:
            return False
        self._paused = False
        try:
            return await self.send_next()
        finally:
            self._paused = True


def speed_changes(job: Job, mode: str) -> dict[str, Any]:
    """Return the changes that send ``job`` in speed ``mode``; none when it already runs so."""
    if not mode or job.mode == mode:
        return {}
    return {"mode": mode, "prompt": prompt_in_mode(job.prompt, mode)}
