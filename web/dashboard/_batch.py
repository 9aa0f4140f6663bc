"""One batch's page and the owner's actions on it: cancel, retry, download, delete."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any, NoReturn

from aiohttp import web

from pipeline.batch_requests import EngineError
from pipeline.batches import is_finished
from pipeline.downloads import sign_download
from pipeline.progress import BatchProgress
from pipeline.retention import DOWNLOAD_GRACE, files_kept_until
from storage.models import Batch, BatchOrigin, BatchStatus
from web.auth import login_required
from web.dashboard._events import progress_json
from web.dashboard._queries import ROWS_PER_PAGE, count_rows, list_rows, owned_batch
from web.handlers import path_id, require_engine, require_owned, require_user
from web.keys import DATABASE_KEY, SECRET_KEY, SETTINGS_KEY
from web.render import flash, render

log = logging.getLogger(__name__)

routes = web.RouteTableDef()

# A download link made for the owner is used at once; it only has to survive the redirect.
DOWNLOAD_LINK_SECONDS = 300
_UNCANCELLABLE = frozenset(
    {BatchStatus.CANCELLED, BatchStatus.PACKAGING, BatchStatus.DONE, BatchStatus.FAILED}
)


def output_files(batch: Batch) -> list[str]:
    """Return the names of a finished batch's output files that are still on disk."""
    paths = [Path(key) for key in batch.zip_keys or ()]
    if batch.report_key:
        paths.append(Path(batch.report_key))
    return [path.name for path in paths if path.is_file()]


@routes.get("/dashboard/batches/{batch_id}", name="dashboard-batch")
@login_required
async def batch_page(request: web.Request) -> web.Response:
    """Show a batch: status, live progress, rows with reasons and thumbnails, actions."""
    user = await require_user(request)
    engine = require_engine(request)
    batch_id = path_id(request, "batch_id")
    raw_page = request.query.get("page", "1")
    page = int(raw_page) - 1 if raw_page.isdigit() and int(raw_page) > 0 else 0

    async with request.app[DATABASE_KEY].sessions() as session:
        batch = await owned_batch(session, batch_id, user.id)
        if batch is None:
            raise web.HTTPNotFound()
        rows_total = await count_rows(session, batch_id)
        rows = await list_rows(session, batch_id, page=page)
    progress = await engine.progress(batch_id)
    files = await _output_files(batch)

    context: dict[str, Any] = {
        "batch": batch,
        "progress": progress,
        "progress_data": progress_json(progress),
        "rows": rows,
        "page": page + 1,
        "pages": max(1, -(-rows_total // ROWS_PER_PAGE)),
        "files": files,
        "kept_until": files_kept_until(batch, request.app[SETTINGS_KEY].output_retention_days),
        "grace_hours": round(DOWNLOAD_GRACE.total_seconds() / 3600),
        "can_run": batch.status == BatchStatus.AWAITING_CONFIRMATION,
        "can_cancel": batch.finished_at is None and batch.status not in _UNCANCELLABLE,
        "can_retry": batch.finished_at is not None and _has_retryable(progress),
        "can_delete": is_finished(batch),
        "live": batch.finished_at is None,
        "waiting": engine.health.waiting(batch.connection_id) if batch.finished_at is None else "",
    }
    return await render(request, "dashboard/batch.html", context)


async def _output_files(batch: Batch) -> list[str]:
    if batch.finished_at is None:
        return []
    return await asyncio.to_thread(output_files, batch)


def _has_retryable(progress: BatchProgress) -> bool:
    return progress.failed + progress.cancelled > 0


@routes.post("/dashboard/batches/{batch_id}/cancel")
@login_required
async def cancel_batch(request: web.Request) -> web.Response:
    """Cancel the user's batch; jobs Midjourney is rendering may still finish."""
    user, batch = await require_owned(request, "batch_id", owned_batch)
    batch_id = batch.id

    if await require_engine(request).cancel_batch(batch_id, user.id):
        log.info("batch %s cancelled by user %s on the web", batch_id, user.id)
        flash(
            request,
            f"Batch {batch_id} is cancelled. Jobs already at Midjourney may still finish; "
            "nothing new is sent.",
            "success",
        )
    else:
        flash(request, f"Batch {batch_id} has already ended or is being cancelled.", "info")
    raise web.HTTPSeeOther(f"/dashboard/batches/{batch_id}")


@routes.post("/dashboard/batches/{batch_id}/discard")
@login_required
async def discard_batch(request: web.Request) -> web.Response:
    """Delete an uploaded sheet's batch that was never run."""
    user, batch = await require_owned(request, "batch_id", owned_batch)
    batch_id, filename = batch.id, batch.source_filename

    if await require_engine(request).discard_batch(batch_id, user.id):
        flash(request, f"The upload of {filename} is discarded; nothing was sent.", "success")
        raise web.HTTPSeeOther("/dashboard")
    flash(request, f"Batch {batch_id} has already started; cancel it here instead.", "info")
    raise web.HTTPSeeOther(f"/dashboard/batches/{batch_id}")


@routes.post("/dashboard/batches/{batch_id}/retry")
@login_required
async def retry_batch(request: web.Request) -> web.Response:
    """Run the failed and cancelled rows of a finished batch again, as a new batch."""
    user, batch = await require_owned(request, "batch_id", owned_batch)
    batch_id = batch.id

    try:
        retry_id = await require_engine(request).retry_failed(
            batch_id, user.id, origin=BatchOrigin.WEB
        )
    except EngineError as error:
        flash(request, str(error), "error")
        raise web.HTTPSeeOther(f"/dashboard/batches/{batch_id}") from None
    if retry_id is None:
        flash(
            request,
            f"Batch {batch_id} has no failed or cancelled rows to retry, or has not finished.",
            "info",
        )
        raise web.HTTPSeeOther(f"/dashboard/batches/{batch_id}")
    log.info("batch %s created on the web to retry batch %s", retry_id, batch_id)
    flash(request, f"Batch {retry_id} retries the failed rows of batch {batch_id}.", "success")
    raise web.HTTPSeeOther(f"/dashboard/batches/{retry_id}")


@routes.get("/dashboard/batches/{batch_id}/files/{filename}")
@login_required
async def download_file(request: web.Request) -> web.Response:
    """Send the owner to a short-lived signed link for one output file of the batch.

    The link's handler records the first download, as for the links the bot posts.
    """
    _, batch = await require_owned(request, "batch_id", owned_batch)
    batch_id = batch.id
    filename = request.match_info["filename"]
    names = [Path(key).name for key in [*(batch.zip_keys or ()), batch.report_key] if key]
    if batch.finished_at is None or filename not in names:
        raise web.HTTPNotFound()

    token = sign_download(
        request.app[SECRET_KEY],
        batch_id,
        filename,
        batch_created_at=batch.created_at,
        ttl_seconds=DOWNLOAD_LINK_SECONDS,
    )
    raise web.HTTPSeeOther(f"/downloads/{token}")


@routes.get("/dashboard/batches/{batch_id}/delete")
@login_required
async def confirm_delete(request: web.Request) -> web.Response:
    """Ask before deleting a finished batch, saying what goes."""
    _, batch = await require_owned(request, "batch_id", owned_batch)
    if not is_finished(batch):
        _reject_delete(request, batch)
    files = await _output_files(batch)
    return await render(request, "dashboard/delete.html", {"batch": batch, "files": files})


@routes.post("/dashboard/batches/{batch_id}/delete")
@login_required
async def delete_batch(request: web.Request) -> web.Response:
    """Delete a finished batch with its prompts, images and output files, for good."""
    user, batch = await require_owned(request, "batch_id", owned_batch)
    batch_id, filename = batch.id, batch.source_filename

    if await require_engine(request).delete_batch(batch_id, user.id) is None:
        # Most likely deleted by another request a moment ago.
        async with request.app[DATABASE_KEY].sessions() as session:
            current = await owned_batch(session, batch_id, user.id)
        if current is None:
            flash(request, f"Batch {batch_id} is already deleted.", "info")
            raise web.HTTPSeeOther("/dashboard/batches")
        _reject_delete(request, current)
    log.info("batch %s deleted by user %s on the web", batch_id, user.id)
    flash(
        request,
        f"Batch {batch_id} ({filename}) is deleted: its prompts, report lines, images and "
        "output files are gone from MidJAu.",
        "success",
    )
    raise web.HTTPSeeOther("/dashboard/batches")


def _reject_delete(request: web.Request, batch: Batch) -> NoReturn:
    if batch.status == BatchStatus.AWAITING_CONFIRMATION:
        advice = "it was never run; discard it instead"
    else:
        advice = "cancel it first, or wait until it ends"
    flash(request, f"Batch {batch.id} has not finished: {advice}.", "info")
    raise web.HTTPSeeOther(f"/dashboard/batches/{batch.id}")
