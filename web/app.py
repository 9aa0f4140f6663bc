"""The aiohttp web app: the site, a health endpoint and signed downloads of batch outputs."""

from __future__ import annotations

import logging
from datetime import datetime
from pathlib import Path

from aiohttp import web
from sqlalchemy import select, text

from midjau.settings import MIB, Settings
from pipeline.downloads import InvalidDownloadTokenError, verify_download
from pipeline.engine import Engine
from pipeline.retention import record_download
from storage.blobs import LocalBlobStore
from storage.db import Database
from storage.models import Batch
from web.content_types import attachment_headers
from web.csrf import csrf_middleware
from web.errors import error_middleware, quiet_malformed_requests
from web.headers import add_security_headers
from web.keys import (
    BLOBS_KEY,
    DATABASE_KEY,
    ENGINE_KEY,
    MAILER_KEY,
    SECRET_KEY,
    SETTINGS_KEY,
)
from web.mail import Mailer, SmtpMailer, setup_mail
from web.render import setup_templates
from web.routes import setup_features
from web.session import session_middlewares

__all__ = [
    "BLOBS_KEY",
    "DATABASE_KEY",
    "ENGINE_KEY",
    "MAILER_KEY",
    "SECRET_KEY",
    "SETTINGS_KEY",
    "create_app",
]

_log = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).resolve().parent / "static"


def create_app(
    settings: Settings,
    db: Database,
    secret: bytes,
    *,
    engine: Engine | None = None,
    blobs: LocalBlobStore | None = None,
    mailer: Mailer | None = None,
) -> web.Application:
    """Build the web application with its routes and shared state.

    Without ``engine`` the health endpoint reports no connection counts and pages that
    start or change batches are unavailable. Without ``blobs`` the store under the
    settings' blob folder is used, and without ``mailer`` mail goes to the SMTP server of
    ``settings.mail``.
    """
    app = web.Application(
        # An upload may be as large as the intake accepts, plus the rest of the form.
        client_max_size=settings.intake.max_upload_bytes + MIB,
        middlewares=[
            *session_middlewares(settings, secret),
            error_middleware,
            csrf_middleware,
        ],
    )
    app[SETTINGS_KEY] = settings
    app[DATABASE_KEY] = db
    app[SECRET_KEY] = secret
    if engine is not None:
        app[ENGINE_KEY] = engine
    app[BLOBS_KEY] = blobs if blobs is not None else LocalBlobStore(settings.blobs_path)
    app[MAILER_KEY] = mailer if mailer is not None else SmtpMailer(settings.mail)

    setup_templates(app)
    setup_mail(app)
    quiet_malformed_requests()
    app.on_response_prepare.append(add_security_headers)
    app.router.add_get("/health", handle_health)
    app.router.add_get("/downloads/{token}", handle_download)
    app.router.add_static("/static/", STATIC_DIR, name="static")
    setup_features(app)
    return app


async def handle_health(request: web.Request) -> web.Response:
    """Report whether the process is up, its database responds, and how many connections work.

    The endpoint is public, so connections appear only as counts by state.
    """
    try:
        async with request.app[DATABASE_KEY].engine.connect() as connection:
            await connection.execute(text("select 1"))
    except Exception:
        _log.exception("health check: the database did not respond")
        return web.json_response({"status": "error", "database": "unavailable"}, status=503)

    body: dict[str, object] = {"status": "ok", "database": "ok"}
    engine = request.app.get(ENGINE_KEY)
    if engine is None:
        return web.json_response(body)
    try:
        counts = await engine.health_summary()
    except Exception:
        _log.exception("health check: counting the connections by state failed")
        body |= {"status": "error", "connections": "unavailable"}
        return web.json_response(body, status=503)
    body["connections"] = {str(state): int(count) for state, count in counts.items()}
    return web.json_response(body)


async def _batch_created_at(database: Database, batch_id: int) -> datetime | None:
    async with database.sessions() as session:
        return await session.scalar(select(Batch.created_at).where(Batch.id == batch_id))


async def handle_download(request: web.Request) -> web.StreamResponse:
    """Serve one output file of a batch to the holder of a signed link."""
    try:
        grant = verify_download(request.app[SECRET_KEY], request.match_info["token"])
    except InvalidDownloadTokenError:
        raise web.HTTPNotFound(text="This download link is invalid or has expired.") from None
    created_at = await _batch_created_at(request.app[DATABASE_KEY], grant.batch_id)
    # A deleted batch's links die with it, and never open a later batch given the same id.
    if created_at is None or not grant.made_for(created_at):
        _log.info("download link of batch %s rejected: the batch was deleted", grant.batch_id)
        raise web.HTTPNotFound(text="This file is no longer available.")

    outputs = (request.app[SETTINGS_KEY].data_dir / "outputs" / str(grant.batch_id)).resolve()
    path = (outputs / grant.filename).resolve()
    # The name comes from a signed token, but never serve anything outside the batch folder.
    if path.parent != outputs or not path.is_file():
        raise web.HTTPNotFound(text="This file is no longer available.")

    # Retention deletes the images soon after the first download, from here or the dashboard.
    await record_download(request.app[DATABASE_KEY], grant.batch_id)
    return web.FileResponse(path, headers=attachment_headers(path))
