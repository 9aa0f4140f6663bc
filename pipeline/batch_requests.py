"""The engine's requests about batches: create, confirm, cancel and retry them, and follow them.

``Engine`` inherits these, so the bot, the web site and the CLI call them on the engine.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from pipeline.accounts import first_active_connection_id, is_restricted
from pipeline.batches import insert_batch, is_finished, list_job_ids, list_open_batch_ids
from pipeline.dispatch_choice import count_queued
from pipeline.durations import daily_cap_notice
from pipeline.progress import BatchOptions, BatchProgress, BatchResult
from pipeline.retention import DeletedFiles, delete_batch_files, image_keys_of
from pipeline.retries import (
    FinishedBatch,
    insert_retry_batch,
    list_finished_batches,
    load_finished_batch,
    retryable_jobs,
)
from storage.models import Batch, BatchOrigin, BatchStatus, Job, JobStatus, MidjourneyConnection

if TYPE_CHECKING:
    from midjau.settings import Settings
    from pipeline.completion import JobCompletion
    from pipeline.connection_runner import ConnectionRunner
    from pipeline.finishing import BatchFinisher
    from pipeline.intake import SheetIntake
    from pipeline.ledger import JobLedger
    from storage.blobs import LocalBlobStore
    from storage.db import Database

log = logging.getLogger(__name__)

NO_CONNECTION_MESSAGE = (
    "Connect a Midjourney account first: MidJAu sends prompts through your own "
    "Discord account, so it needs that connection to run a batch."
)
PROCESSING_RESTRICTED_MESSAGE = (
    "Processing is restricted for your account; lift it on the Data page to run batches."
)


class EngineError(Exception):
    """A request the engine cannot carry out; ``str(error)`` is safe to show the user."""


class NoConnectionError(EngineError):
    """The user has no active Midjourney connection to run a batch on."""


class ProcessingRestrictedError(EngineError):
    """The user restricted the processing of their data, so nothing new runs for them."""


class BatchRequests:
    """Store, queue, cancel and retry a user's batches, and report on them."""

    settings: Settings
    db: Database
    blobs: LocalBlobStore
    ledger: JobLedger
    completion: JobCompletion
    finisher: BatchFinisher
    connections: ConnectionRunner

    async def connection_for(self, user_id: int) -> int | None:
        """Return the id of the user's first active connection, or None."""
        async with self.db.sessions() as session:
            return await first_active_connection_id(session, user_id)

    async def check_processing_allowed(self, user_id: int) -> None:
        """Raise ProcessingRestrictedError when the user restricted processing."""
        async with self.db.sessions() as session:
            if await is_restricted(session, user_id):
                raise ProcessingRestrictedError(PROCESSING_RESTRICTED_MESSAGE)

    async def create_batch(
        self,
        user_id: int,
        intake: SheetIntake,
        options: BatchOptions,
        *,
        origin: BatchOrigin,
        connection_id: int | None = None,
        discord_channel_id: str | None = None,
        confirmed: bool = True,
    ) -> int:
        """Store a batch with its rows and jobs; unless ``confirmed`` is False, queue it now.

        Raise ProcessingRestrictedError while the user restricts processing, and
        NoConnectionError when the user has no active Midjourney connection.
        """
        await self.check_processing_allowed(user_id)
        connection_id = connection_id or await self.connection_for(user_id)
        if connection_id is None:
            raise NoConnectionError(NO_CONNECTION_MESSAGE)
        async with self.ledger.transaction() as session:
            batch = await insert_batch(
                session,
                user_id=user_id,
                intake=intake,
                options=options,
                origin=origin,
                connection_id=connection_id,
                discord_channel_id=discord_channel_id,
                confirmed=confirmed,
            )
            batch_id = batch.id
        log.info("batch %s created: %d rows, %d jobs", batch_id, len(intake.rows), intake.job_count)
        self._batch_queued(batch_id, connection_id)
        return batch_id

    async def confirm_batch(self, batch_id: int) -> None:
        """Queue a batch that was waiting for the user's confirmation.

        A batch whose connection was disconnected while it waited moves to the user's
        first active connection. Raise ProcessingRestrictedError while the owner restricts
        processing, and NoConnectionError when the owner has no connection left. The batch
        keeps waiting in both cases.
        """
        async with self.ledger.transaction() as session:
            batch = await session.get(Batch, batch_id)
            if batch is None:
                raise LookupError(f"batch {batch_id} not found")
            if batch.status != BatchStatus.AWAITING_CONFIRMATION:
                return
            if await is_restricted(session, batch.user_id):
                raise ProcessingRestrictedError(PROCESSING_RESTRICTED_MESSAGE)
            if batch.connection_id is None:
                await move_to_connection(session, batch)
            batch.status = BatchStatus.QUEUED
            connection_id = batch.connection_id
        log.info("batch %s confirmed", batch_id)
        self._batch_queued(batch_id, connection_id)

    async def cancel_batch(self, batch_id: int, user_id: int) -> bool:
        """Cancel a user's batch; return False when it is not theirs or already finished.

        Queued jobs, and variations not yet pressed, are cancelled at once. Jobs and
        variations Midjourney is already rendering finish, and the batch is packaged with
        whatever is done.
        """
        async with self.ledger.transaction() as session:
            batch = await session.get(Batch, batch_id)
            if batch is None or batch.user_id != user_id or batch.finished_at is not None:
                return False
            if batch.status in (BatchStatus.CANCELLED, BatchStatus.PACKAGING):
                return False
            batch.status = BatchStatus.CANCELLED
            queued = await list_job_ids(session, batch_id, [JobStatus.QUEUED])
            past_grid = await list_job_ids(session, batch_id, [JobStatus.UPSCALING])
        await self.ledger.update_many(
            queued,
            when=[JobStatus.QUEUED],
            status=JobStatus.CANCELLED,
            failure_message="The batch was cancelled before this job was sent.",
        )
        for job_id in past_grid:
            await self.completion.cancel_unsent(job_id)
        log.info("batch %s cancelled; %d queued jobs cancelled", batch_id, len(queued))
        self.finisher.mark_changed(batch_id)
        return True

    async def discard_batch(self, batch_id: int, user_id: int) -> bool:
        """Delete a user's batch that was never run, with its rows and jobs.

        Return False when it is not theirs or has been started.
        """
        async with self.ledger.transaction() as session:
            batch = await session.get(Batch, batch_id)
            if batch is None or batch.user_id != user_id:
                return False
            if batch.status != BatchStatus.AWAITING_CONFIRMATION:
                return False
            await session.execute(delete(Batch).where(Batch.id == batch_id))
        log.info("batch %s discarded before it ran", batch_id)
        return True

    async def owns_finished_batch(self, batch_id: int, user_id: int) -> bool:
        """Return whether the batch is the user's and has finished."""
        async with self.db.sessions() as session:
            batch = await session.get(Batch, batch_id)
        return batch is not None and batch.user_id == user_id and is_finished(batch)

    async def delete_batch(self, batch_id: int, user_id: int) -> DeletedFiles | None:
        """Delete a user's finished batch: its rows, jobs and prompts, images and outputs.

        Return what was deleted, or None when the batch is not theirs or has not finished.
        The files go first, so a failure leaves the batch listed rather than files that no
        row points to.
        """
        async with self.db.sessions() as session:
            batch = await session.get(Batch, batch_id)
            if batch is None or batch.user_id != user_id or not is_finished(batch):
                return None
            keys = list(await session.scalars(image_keys_of(batch_id)))
        deleted = await delete_batch_files(self.blobs, self.finisher.outputs_dir, batch_id, keys)

        async with self.ledger.transaction() as session:
            await session.execute(delete(Batch).where(Batch.id == batch_id))
        self.finisher.forget(batch_id)
        await self.db.purge_deleted()
        log.info(
            "batch %s deleted by its owner: %d images, %d output files",
            batch_id,
            deleted.images,
            deleted.outputs,
        )
        return deleted

    async def retry_failed(
        self,
        batch_id: int,
        user_id: int,
        *,
        origin: BatchOrigin | None = None,
        discord_channel_id: str | None = None,
    ) -> int | None:
        """Queue a new batch of a finished batch's failed and cancelled jobs; return its id.

        The new batch has the same owner, connection and options, and by default the same
        origin and Discord channel. Return None when the batch is not the user's, has not
        finished, or has no failed or cancelled job outside invalid rows. Raise
        ProcessingRestrictedError while the user restricts processing, and
        NoConnectionError when the batch's connection is gone and the user has no other.
        """
        async with self.ledger.transaction() as session:
            source = await load_finished_batch(session, batch_id, user_id)
            if source is None or not any(retryable_jobs(row) for row in source.rows):
                return None
            if await is_restricted(session, user_id):
                raise ProcessingRestrictedError(PROCESSING_RESTRICTED_MESSAGE)
            connection_id = source.connection_id or await first_active_connection_id(
                session, user_id
            )
            if connection_id is None:
                raise NoConnectionError(NO_CONNECTION_MESSAGE)
            retry = await insert_retry_batch(
                session,
                source,
                connection_id=connection_id,
                origin=origin or source.origin,
                discord_channel_id=discord_channel_id or source.discord_channel_id,
            )
        if retry is None:
            return None
        log.info(
            "batch %s created to retry batch %s: %d rows, %d jobs",
            retry.batch_id,
            batch_id,
            retry.rows,
            retry.jobs,
        )
        self._batch_queued(retry.batch_id, retry.connection_id)
        return retry.batch_id

    async def pace_notice(self, batch_id: int) -> str | None:
        """Return the days the batch takes when it has more jobs than its daily cap, or None."""
        async with self.db.sessions() as session:
            jobs = await session.scalar(select(func.count()).where(Job.batch_id == batch_id))
            connection_id, daily_cap = (
                await session.execute(
                    select(MidjourneyConnection.id, MidjourneyConnection.daily_cap)
                    .join(Batch, Batch.connection_id == MidjourneyConnection.id)
                    .where(Batch.id == batch_id)
                )
            ).one_or_none() or (None, None)
            queued_before = 0
            if connection_id is not None:
                queued_before = await count_queued(session, connection_id, other_than=batch_id)
        cap = daily_cap or self.settings.pacing.daily_cap
        return daily_cap_notice(jobs or 0, cap, queued_before)

    async def finished_batches(self, user_id: int, limit: int = 25) -> list[FinishedBatch]:
        """Return the user's most recently finished batches, newest first."""
        async with self.db.sessions() as session:
            return await list_finished_batches(session, user_id, limit=limit)

    async def progress(self, batch_id: int) -> BatchProgress:
        """Return a batch's job counts and time estimate; raise LookupError if unknown."""
        return await self.finisher.progress(batch_id)

    async def active_batches(self, user_id: int) -> list[BatchProgress]:
        """Return the progress of each of the user's batches that has not finished."""
        async with self.db.sessions() as session:
            batch_ids = await list_open_batch_ids(session, user_id)
        return [await self.finisher.progress(batch_id) for batch_id in batch_ids]

    async def set_progress_message(self, batch_id: int, message_id: str) -> None:
        """Remember the Discord message that shows the batch's progress."""
        async with self.ledger.transaction() as session:
            batch = await session.get(Batch, batch_id)
            if batch is None:
                raise LookupError(f"batch {batch_id} not found")
            batch.progress_message_id = message_id

    async def wait_finished(self, batch_id: int) -> BatchResult:
        """Wait until a batch is packaged and return its result."""
        return await self.finisher.wait_finished(batch_id)

    def _batch_queued(self, batch_id: int, connection_id: int | None) -> None:
        self.finisher.mark_changed(batch_id)
        self.connections.wake(connection_id)


async def move_to_connection(session: AsyncSession, batch: Batch) -> None:
    """Give a batch and its jobs the owner's first active connection.

    Raise NoConnectionError when the owner has none.
    """
    connection_id = await first_active_connection_id(session, batch.user_id)
    if connection_id is None:
        raise NoConnectionError(NO_CONNECTION_MESSAGE)
    batch.connection_id = connection_id
    await session.execute(
        update(Job)
        .where(Job.batch_id == batch.id, Job.connection_id.is_(None))
        .values(connection_id=connection_id)
    )
    log.info("batch %s moved to connection %s: its own was removed", batch.id, connection_id)
