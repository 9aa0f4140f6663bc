"""The dashboard's front page: the user's batches, and uploading a sheet to run.

An upload is read and checked by the same intake as the bot's. When any row can run,
the batch is stored at once and waits for confirmation. So the checked rows stay on the
server between the check and the Run button, and the browser never sends them again.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from aiohttp import web
from aiohttp.web_request import FileField

from pipeline.batch_requests import PROCESSING_RESTRICTED_MESSAGE, EngineError
from pipeline.intake import IntakeError, SheetIntake
from storage.models import BatchOrigin, BatchStatus, User
from web.auth import login_required
from web.csrf import check_form_token, csrf_exempt
from web.dashboard._forms import (
    MODE_CHOICES,
    UPSCALE_CHOICES,
    UploadChoices,
    UploadFormError,
    check_sheet_file,
    read_choices,
)
from web.dashboard._queries import (
    BATCHES_PER_PAGE,
    list_batches,
    list_connection_choices,
    owned_batch,
)
from web.handlers import require_engine, require_owned, require_user
from web.keys import DATABASE_KEY, SETTINGS_KEY
from web.render import flash, render

log = logging.getLogger(__name__)

routes = web.RouteTableDef()

# Problems listed on the check page. The page counts the ones left out of a longer list.
MAX_PROBLEMS_SHOWN = 1000
SETTINGS_CONNECTIONS_PATH = "/dashboard/settings/connections"


@routes.get("/dashboard", name="dashboard")
@login_required
async def dashboard_page(request: web.Request) -> web.Response:
    """Show the user's batches, newest first, and the upload form."""
    user = await require_user(request)
    return await _render_dashboard(request, user, UploadChoices())


@routes.get("/dashboard/batches")
@login_required
async def batches_page(request: web.Request) -> web.Response:
    """Show the same list as the dashboard; ``?before=ID`` pages back to older batches."""
    user = await require_user(request)
    raw_before = request.query.get("before", "")
    before = int(raw_before) if raw_before.isdigit() else None
    return await _render_dashboard(request, user, UploadChoices(), before=before)


def _too_large_message(max_bytes: int) -> str:
    mib = 1024 * 1024
    return (
        f"The file is larger than the limit of {max_bytes / mib:.1f} MiB. Remove unused sheets, "
        "images or formatting, or split the rows over several files."
    )


async def _render_dashboard(
    request: web.Request,
    user: User,
    choices: UploadChoices,
    *,
    form_error: str = "",
    status: int = 200,
    before: int | None = None,
) -> web.Response:
    async with request.app[DATABASE_KEY].sessions() as session:
        batches = await list_batches(session, user.id, before=before)
        connections = await list_connection_choices(session, user.id)
    context: dict[str, Any] = {
        "batches": batches,
        "older_than": batches[-1].batch_id if len(batches) >= BATCHES_PER_PAGE else None,
        "connections": connections,
        "choices": choices,
        "upscale_choices": list(UPSCALE_CHOICES),
        "mode_choices": MODE_CHOICES,
        "form_error": form_error,
        "restricted": user.restricted_at is not None,
        "connections_path": SETTINGS_CONNECTIONS_PATH,
        "max_upload_mib": request.app[SETTINGS_KEY].intake.max_upload_bytes / (1024 * 1024),
    }
    return await render(request, "dashboard/index.html", context, status=status)


@routes.post("/dashboard/upload")
@csrf_exempt  # checked below, once the body is read: an oversized one gets this page's message
@login_required
async def upload_sheet(request: web.Request) -> web.Response:
    """Check an uploaded sheet row by row; store its valid rows as a batch waiting to run."""
    user = await require_user(request)
    engine = require_engine(request)
    try:
        form = await request.post()
    except web.HTTPRequestEntityTooLarge:
        # aiohttp stops reading past client_max_size, before the file name is known. Nothing
        # changes on this path, so the unread CSRF token does not matter.
        max_bytes = request.app[SETTINGS_KEY].intake.max_upload_bytes
        return await _render_dashboard(
            request, user, UploadChoices(), form_error=_too_large_message(max_bytes), status=413
        )
    check_form_token(request, form)
    # The engine rejects the batch too, but only after reading the sheet. A restricted
    # dashboard has no connection to choose, so this check comes before the form's checks.
    if user.restricted_at is not None:
        return await _render_dashboard(
            request, user, UploadChoices(), form_error=PROCESSING_RESTRICTED_MESSAGE, status=400
        )
    try:
        choices = read_choices(form)
    except UploadFormError as error:
        return await _render_dashboard(
            request, user, UploadChoices(), form_error=str(error), status=400
        )

    async def reject(message: str) -> web.Response:
        return await _render_dashboard(request, user, choices, form_error=message, status=400)

    if not await _owns_connection(request, user, choices.connection_id):
        return await reject("Choose one of your own Discord connections.")
    field = form.get("sheet")
    if not isinstance(field, FileField):
        return await reject("Choose a sheet to upload: an .xlsx, .xlsm or .csv file.")
    data = await asyncio.to_thread(field.file.read)
    try:
        check_sheet_file(
            field.filename, len(data), request.app[SETTINGS_KEY].intake.max_upload_bytes
        )
        intake = await engine.read_sheet(data, field.filename)
    except (UploadFormError, IntakeError) as error:
        return await reject(str(error))

    batch_id = None
    pace_notice = None
    if intake.accepted_rows:
        try:
            batch_id = await engine.create_batch(
                user.id,
                intake,
                choices.options(),
                origin=BatchOrigin.WEB,
                connection_id=choices.connection_id,
                confirmed=False,
            )
        except EngineError as error:
            return await reject(str(error))
        log.info(
            "batch %s from %r by user %s: %d rows, %d jobs, awaiting confirmation",
            batch_id,
            intake.filename,
            user.id,
            len(intake.accepted_rows),
            intake.job_count,
        )
        pace_notice = await engine.pace_notice(batch_id)
    return await _render_check(request, intake, batch_id, pace_notice)


async def _owns_connection(request: web.Request, user: User, connection_id: int | None) -> bool:
    if connection_id is None:
        return False
    async with request.app[DATABASE_KEY].sessions() as session:
        connections = await list_connection_choices(session, user.id)
    return any(choice.connection_id == connection_id for choice in connections)


async def _render_check(
    request: web.Request, intake: SheetIntake, batch_id: int | None, pace_notice: str | None
) -> web.Response:
    problems = intake.problems
    context: dict[str, Any] = {
        "intake": intake,
        "batch_id": batch_id,
        "pace_notice": pace_notice,
        "accepted": len(intake.accepted_rows),
        "jobs": intake.job_count,
        "invalid": sum(1 for row in intake.rows if row.status == "invalid"),
        "skipped": sum(1 for row in intake.rows if row.status == "skipped"),
        "problems": problems[:MAX_PROBLEMS_SHOWN],
        "problems_left_out": max(0, len(problems) - MAX_PROBLEMS_SHOWN),
    }
    # Nothing can run, so the page is the response to a form that failed validation.
    status = 200 if batch_id is not None else 422
    return await render(request, "dashboard/check.html", context, status=status)


@routes.post("/dashboard/batches/{batch_id}/run")
@login_required
async def run_batch(request: web.Request) -> web.Response:
    """Start a checked batch that waits for the user's confirmation."""
    user, batch = await require_owned(request, "batch_id", owned_batch)
    batch_id = batch.id
    if batch.status != BatchStatus.AWAITING_CONFIRMATION:
        flash(request, f"Batch {batch_id} has already started or ended.", "info")
        raise web.HTTPSeeOther(f"/dashboard/batches/{batch_id}")

    try:
        await require_engine(request).confirm_batch(batch_id)
    except EngineError as error:
        flash(request, str(error), "error")
        raise web.HTTPSeeOther(f"/dashboard/batches/{batch_id}") from None
    log.info("batch %s confirmed by user %s on the web", batch_id, user.id)
    flash(request, f"Batch {batch_id} started.", "success")
    raise web.HTTPSeeOther(f"/dashboard/batches/{batch_id}")
