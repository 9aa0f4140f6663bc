"""The Discord connections page: list, connect by hand, pace, choices, resume, Disconnect.

Every handler that names a connection in its path acts only on the logged-in user's own
connection and returns 404 for any other id, so other users cannot learn which ids exist.
"""

from __future__ import annotations

import logging
from typing import Any

from aiohttp import web

from storage.models import User
from web.auth import login_required
from web.keys import DATABASE_KEY, SETTINGS_KEY
from web.render import flash, render
from web.settings_pages._common import path_id, require_engine, require_user
from web.settings_pages._connection_forms import (
    MAX_LABEL_LENGTH,
    PLAN_CHOICES,
    ConnectionFormError,
    read_connect_form,
    read_pace_form,
)
from web.settings_pages._connection_views import (
    find_user_connection,
    list_connection_views,
    pace_defaults,
    view_of,
)

_log = logging.getLogger(__name__)

routes = web.RouteTableDef()

PAGE = "/dashboard/settings/connections"
RESTRICTED_MESSAGE = (
    "Processing is restricted for your account, so MidJAu does not start connections. "
    "Lift the restriction on your data page first."
)


@routes.get(PAGE)
@login_required
async def connections_page(request: web.Request) -> web.Response:
    """List the user's connections with their health and pace, and the connect form."""
    return await _render_page(request, await require_user(request))


@routes.post(PAGE)
@login_required
async def connect(request: web.Request) -> web.Response:
    """Store a connection from the manual form and start it; the token is never shown again."""
    user = await require_user(request)
    engine = require_engine(request)
    form = await request.post()
    submitted = {name: str(form.get(name) or "") for name in ("channel_link", "plan", "label")}
    if user.restricted_at is not None:
        return await _render_page(
            request,
            user,
            status=409,
            connect_error=("token", RESTRICTED_MESSAGE),
            submitted=submitted,
        )
    try:
        details = read_connect_form(form)
    except ConnectionFormError as error:
        return await _render_page(
            request,
            user,
            status=400,
            connect_error=(error.field_name, str(error)),
            submitted=submitted,
        )

    connection_id = await engine.add_connection(
        user.id,
        token=details.token,
        guild_id=details.guild_id,
        channel_id=details.channel_id,
        plan=details.plan,
        label=details.label,
    )
    _log.info("user %s connected connection %s from the web form", user.id, connection_id)
    flash(
        request,
        "Connected. MidJAu checked the account with Discord; its health is shown below.",
        "success",
    )
    raise web.HTTPSeeOther(f"{PAGE}#connection-{connection_id}")


@routes.post(PAGE + "/{connection_id}/pace")
@login_required
async def set_pace(request: web.Request) -> web.Response:
    """Store a connection's daily cap and minimum gap and apply them to its dispatcher."""
    user = await require_user(request)
    engine = require_engine(request)
    connection_id = path_id(request, "connection_id")
    await _require_own_connection(request, connection_id, user.id)
    try:
        pace = read_pace_form(await request.post())
    except ConnectionFormError as error:
        errors = {connection_id: (error.field_name, str(error))}
        return await _render_page(request, user, status=400, pace_errors=errors)

    changed = await engine.set_connection_pace(
        connection_id, user.id, daily_cap=pace.daily_cap, min_gap_seconds=pace.min_gap_seconds
    )
    if not changed:
        raise web.HTTPNotFound()
    flash(request, "Pace saved. It applies from the next prompt.", "success")
    raise web.HTTPSeeOther(f"{PAGE}#connection-{connection_id}")


@routes.post(PAGE + "/{connection_id}/choices")
@login_required
async def set_choices(request: web.Request) -> web.Response:
    """Store what the connection does when fast hours run out and on soft moderation."""
    user = await require_user(request)
    engine = require_engine(request)
    connection_id = path_id(request, "connection_id")
    form = await request.post()
    changed = await engine.set_connection_choices(
        connection_id,
        user.id,
        relax_when_fast_used_up=form.get("relax_when_fast_used_up") == "on",
        appeal_soft_moderation=form.get("appeal_soft_moderation") == "on",
    )
    if not changed:
        raise web.HTTPNotFound()
    flash(request, "Choices saved.", "success")
    raise web.HTTPSeeOther(f"{PAGE}#connection-{connection_id}")


@routes.post(PAGE + "/{connection_id}/resume")
@login_required
async def resume(request: web.Request) -> web.Response:
    """Resume a paused connection now, once its owner has dealt with the cause."""
    user = await require_user(request)
    engine = require_engine(request)
    connection_id = path_id(request, "connection_id")
    await _require_own_connection(request, connection_id, user.id)
    if user.restricted_at is not None:
        flash(request, RESTRICTED_MESSAGE, "error")
        raise web.HTTPSeeOther(f"{PAGE}#connection-{connection_id}")
    if not await engine.resume_connection(connection_id, user.id):
        raise web.HTTPNotFound()
    flash(request, "Resumed. MidJAu sends prompts on this connection again.", "success")
    raise web.HTTPSeeOther(f"{PAGE}#connection-{connection_id}")


@routes.get(PAGE + "/{connection_id}/disconnect")
@login_required
async def confirm_disconnect(request: web.Request) -> web.Response:
    """Ask before Disconnect, saying what will be deleted and what stays."""
    user = await require_user(request)
    connection_id = path_id(request, "connection_id")
    async with request.app[DATABASE_KEY].sessions() as session:
        connection = await find_user_connection(session, connection_id, user.id)
    if connection is None:
        raise web.HTTPNotFound()
    context = {"connection": view_of(connection, None), "section": "connections"}
    return await render(request, "settings/disconnect.html", context)


@routes.post(PAGE + "/{connection_id}/disconnect")
@login_required
async def disconnect(request: web.Request) -> web.Response:
    """Delete the connection and its token for good, then confirm the deletion."""
    user = await require_user(request)
    engine = require_engine(request)
    connection_id = path_id(request, "connection_id")
    async with request.app[DATABASE_KEY].sessions() as session:
        connection = await find_user_connection(session, connection_id, user.id)
    if connection is None:
        raise web.HTTPNotFound()
    label = view_of(connection, None).label

    if not await engine.remove_connection(connection_id, user.id):
        raise web.HTTPNotFound()
    _log.info("user %s disconnected connection %s", user.id, connection_id)
    flash(
        request,
        f"{label} is disconnected. Its Discord token and settings are deleted from MidJAu "
        "for good; unfinished prompts on it were stopped. Your batches and their results "
        "stay.",
        "success",
    )
    raise web.HTTPSeeOther(PAGE)


async def _require_own_connection(request: web.Request, connection_id: int, user_id: int) -> None:
    async with request.app[DATABASE_KEY].sessions() as session:
        if await find_user_connection(session, connection_id, user_id) is None:
            raise web.HTTPNotFound()


async def _render_page(
    request: web.Request,
    user: User,
    *,
    status: int = 200,
    connect_error: tuple[str, str] | None = None,
    submitted: dict[str, str] | None = None,
    pace_errors: dict[int, tuple[str, str]] | None = None,
) -> web.Response:
    engine = require_engine(request)
    async with request.app[DATABASE_KEY].sessions() as session:
        connections = await list_connection_views(session, engine, user.id)
    context: dict[str, Any] = {
        "section": "connections",
        "connections": connections,
        "defaults": pace_defaults(request.app[SETTINGS_KEY]),
        "plans": PLAN_CHOICES,
        "max_label_length": MAX_LABEL_LENGTH,
        "connect_error": connect_error,
        # The token is left out on purpose: a failed form never echoes it back.
        "submitted": submitted or {"channel_link": "", "plan": "standard", "label": ""},
        "pace_errors": pace_errors or {},
        "restricted": user.restricted_at is not None,
    }
    return await render(request, "settings/connections.html", context, status=status)
