"""The user's data rights, self-served under ``/dashboard/data``.

Export, delete the account, restrict processing, withdraw consent; correcting the data
is the profile page of the settings. No route here takes an object id: each acts on the
logged-in user only.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta
from pathlib import Path
from urllib.parse import quote

from aiohttp import web

from storage.models import User, utcnow
from web.accounts.passwords import verify_password
from web.auth import log_out, login_required
from web.handlers import require_user
from web.keys import BLOBS_KEY, DATABASE_KEY, ENGINE_KEY, SETTINGS_KEY
from web.privacy.consent import VISITOR_COOKIE, record_consent, visitor_id_of
from web.privacy.erasure import erase_account
from web.privacy.export import make_export_file
from web.privacy.restriction import lift_restriction, restrict_processing
from web.ratelimit import RateLimiter
from web.render import flash, render

_log = logging.getLogger(__name__)

PAGE = "/dashboard/data"
DELETE_PAGE = f"{PAGE}/delete"
PROFILE_PAGE = "/dashboard/settings"
# Maximum age of the Discord login that confirms deleting an account without a password.
REAUTH_WINDOW = timedelta(minutes=10)
_CHUNK_BYTES = 256 * 1024
# Password tries on the delete form, per user.
_delete_attempts = RateLimiter(5, 15 * 60)

routes = web.RouteTableDef()


def _outputs_dir(request: web.Request) -> Path:
    return request.app[SETTINGS_KEY].data_dir / "outputs"


@routes.get(PAGE)
@login_required
async def handle_data_page(request: web.Request) -> web.Response:
    """Show the data rights and what each one does."""
    return await render(request, "privacy/data.html", {"profile_page": PROFILE_PAGE})


@routes.post(f"{PAGE}/export")
@login_required
async def handle_export(request: web.Request) -> web.StreamResponse:
    """Stream a ZIP of everything stored about the user."""
    user = await require_user(request)
    path = await make_export_file(
        request.app[DATABASE_KEY],
        request.app[BLOBS_KEY],
        _outputs_dir(request),
        user.id,
        visitor_id=visitor_id_of(request),
    )
    try:
        filename = f"midjau-export-{utcnow():%Y-%m-%d}.zip"
        response = web.StreamResponse(
            headers={
                "Content-Type": "application/zip",
                "Content-Disposition": f'attachment; filename="{filename}"',
                "Cache-Control": "no-store",
            }
        )
        response.content_length = (await asyncio.to_thread(path.stat)).st_size
        await response.prepare(request)
        with await asyncio.to_thread(path.open, "rb") as handle:
            while chunk := await asyncio.to_thread(handle.read, _CHUNK_BYTES):
                await response.write(chunk)
        await response.write_eof()
        return response
    finally:
        await asyncio.to_thread(path.unlink, missing_ok=True)


@routes.get(DELETE_PAGE)
@login_required
async def handle_delete_page(request: web.Request) -> web.Response:
    """Ask for the password, or a fresh Discord login, before deleting the account."""
    user = await require_user(request)
    return await render(request, "privacy/delete.html", _delete_context(user))


@routes.post(DELETE_PAGE)
@login_required
async def handle_delete(request: web.Request) -> web.Response:
    """Delete the account with every row and file, after checking it is really its owner."""
    user = await require_user(request)
    form = await request.post()
    if form.get("confirm") != "on":
        return await _delete_refused(request, user, "Tick the box to confirm the deletion.")
    if user.password_hash is not None:
        if not _delete_attempts.hit(str(user.id)):
            return await _delete_refused(
                request, user, "Too many wrong passwords. Wait 15 minutes and try again.", 429
            )
        password = form.get("password")
        if not isinstance(password, str) or not await verify_password(user.password_hash, password):
            return await _delete_refused(request, user, "The password is wrong.")
    elif not _recent_login(user):
        return await _delete_refused(
            request,
            user,
            "Confirm with Discord first: your Discord login is older than 10 minutes.",
        )

    summary = await erase_account(
        request.app[DATABASE_KEY],
        request.app[BLOBS_KEY],
        _outputs_dir(request),
        request.app.get(ENGINE_KEY),
        user.id,
        visitor_id=visitor_id_of(request),
    )
    await log_out(request)
    deleted = (
        f"{counted(summary.batches, 'batch', 'batches')}, "
        f"{counted(summary.connections, 'Discord connection', 'Discord connections')} and "
        f"{counted(summary.files, 'stored file', 'stored files')}"
    )
    response = await render(request, "privacy/deleted.html", {"deleted": deleted})
    response.del_cookie(VISITOR_COOKIE, path="/")
    return response


@routes.post(f"{DELETE_PAGE}/discord")
@login_required
async def handle_delete_reauth(request: web.Request) -> web.Response:
    """Log out and send the user through Discord's login, back to the delete page."""
    await log_out(request)
    raise web.HTTPSeeOther(f"/login/discord?next={quote(DELETE_PAGE, safe='')}")


def counted(number: int, singular: str, plural: str) -> str:
    """Return "1 batch", "2 batches", "0 batches": the number with the right noun."""
    return f"{number} {singular if number == 1 else plural}"


@routes.post(f"{PAGE}/restrict")
@login_required
async def handle_restrict(request: web.Request) -> web.Response:
    """Pause every connection and batch of the user until they lift the restriction."""
    user = await require_user(request)
    paused = await restrict_processing(
        request.app[DATABASE_KEY], request.app.get(ENGINE_KEY), user.id
    )
    flash(
        request,
        f"Processing is restricted: {counted(paused, 'connection', 'connections')} paused. "
        "MidJAu sends nothing to Midjourney for you until you lift the restriction.",
        "success",
    )
    raise web.HTTPSeeOther(PAGE)


@routes.post(f"{PAGE}/restrict/lift")
@login_required
async def handle_lift_restriction(request: web.Request) -> web.Response:
    """End the restriction and resume the connections it paused."""
    user = await require_user(request)
    resumed = await lift_restriction(
        request.app[DATABASE_KEY], request.app.get(ENGINE_KEY), user.id
    )
    flash(
        request,
        f"The restriction is lifted: {counted(resumed, 'connection', 'connections')} resumed.",
        "success",
    )
    raise web.HTTPSeeOther(PAGE)


@routes.post(f"{PAGE}/withdraw-consent")
@login_required
async def handle_withdraw_consent(request: web.Request) -> web.Response:
    """Turn analytics and marketing off, recorded like any other choice."""
    user = await require_user(request)
    await record_consent(
        request.app[DATABASE_KEY],
        user_id=user.id,
        visitor_id=visitor_id_of(request),
        analytics=False,
        marketing=False,
    )
    flash(request, "Consent withdrawn: analytics and marketing are off.", "success")
    raise web.HTTPSeeOther(PAGE)


def _recent_login(user: User) -> bool:
    return user.last_login_at is not None and utcnow() - user.last_login_at <= REAUTH_WINDOW


def _delete_context(user: User) -> dict[str, object]:
    return {
        "has_password": user.password_hash is not None,
        "fresh_login": _recent_login(user),
        "error": "",
    }


async def _delete_refused(
    request: web.Request, user: User, error: str, status: int = 400
) -> web.Response:
    _log.info("user %s: account deletion refused (%s)", user.id, error)
    context = _delete_context(user) | {"error": error}
    return await render(request, "privacy/delete.html", context, status=status)
