"""The Discord connections page: list, connect by hand, pace, choices, resume, Disconnect.

Every handler that names a connection in its path acts only on the logged-in user's own
connection and returns 404 for any other id, so other users cannot learn which ids exist.
"""

from __future__ import annotations

import logging
from typing import Any, NoReturn

from aiohttp import web

from pipeline.connection_checks import ConnectionCheckError
from pipeline.engine import ProcessingRestrictedError
from storage.models import MidjourneyConnection, User
from web.auth import login_required
from web.handlers import require_engine, require_owned, require_user
from web.keys import DATABASE_KEY, SETTINGS_KEY
from web.render import flash, render
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
RESUME_RESTRICTED_MESSAGE = (
    "Processing is restricted for your account; lift it on the Data page to resume connections."
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
    try:
        details = read_connect_form(form)
        connection_id = await engine.add_connection(
            user.id,
            token=details.token,
            guild_id=details.guild_id,
            channel_id=details.channel_id,
            plan=details.plan,
            label=details.label,
        )
    except ConnectionFormError as error:
        return await _render_page(
            request,
            user,
            status=400,
            connect_error=(error.field_name, str(error)),
            submitted=submitted,
        )
    except ProcessingRestrictedError as error:
        return await _render_page(
            request, user, status=409, connect_error=("token", str(error)), submitted=submitted
        )
    except ConnectionCheckError as error:
        field_name = "channel_link" if error.about == "channel" else "token"
        return await _render_page(
            request, user, status=400, connect_error=(field_name, str(error)), submitted=submitted
        )

    _log.info("user %s connected connection %s from the web form", user.id, connection_id)
    _back_to_connection(
        request,
        connection_id,
        "Connected. MidJAu checked the account with Discord; its health is shown below.",
    )


@routes.post(PAGE + "/{connection_id}/pace")
@login_required
async def set_pace(request: web.Request) -> web.Response:
    """Store a connection's daily cap and minimum gap and apply them to its dispatcher."""
    user, connection = await _require_own_connection(request)
    try:
        pace = read_pace_form(await request.post())
    except ConnectionFormError as error:
        errors = {connection.id: (error.field_name, str(error))}
        return await _render_page(request, user, status=400, pace_errors=errors)

    changed = await require_engine(request).set_connection_pace(
        connection.id, user.id, daily_cap=pace.daily_cap, min_gap_seconds=pace.min_gap_seconds
    )
    _confirm_change(request, connection.id, changed, "Pace saved. It applies from the next prompt.")


@routes.post(PAGE + "/{connection_id}/choices")
@login_required
async def set_choices(request: web.Request) -> web.Response:
    """Store what the connection does when fast hours run out and on soft moderation."""
    user, connection = await _require_own_connection(request)
    form = await request.post()
    changed = await require_engine(request).set_connection_choices(
        connection.id,
        user.id,
        relax_when_fast_used_up=form.get("relax_when_fast_used_up") == "on",
        appeal_soft_moderation=form.get("appeal_soft_moderation") == "on",
    )
    _confirm_change(request, connection.id, changed, "Choices saved.")


@routes.post(PAGE + "/{connection_id}/resume")
@login_required
async def resume(request: web.Request) -> web.Response:
    """Resume a paused connection now, once its owner has dealt with the cause."""
    user, connection = await _require_own_connection(request)
    if user.restricted_at is not None:
        _back_to_connection(request, connection.id, RESUME_RESTRICTED_MESSAGE, "error")
    resumed = await require_engine(request).resume_connection(connection.id, user.id)
    _confirm_change(
        request, connection.id, resumed, "Resumed. MidJAu sends prompts on this connection again."
    )


@routes.get(PAGE + "/{connection_id}/disconnect")
@login_required
async def confirm_disconnect(request: web.Request) -> web.Response:
    """Ask before Disconnect, saying what will be deleted and what stays."""
    _, connection = await _require_own_connection(request)
    context = {"connection": view_of(connection, None), "section": "connections"}
    return await render(request, "settings/disconnect.html", context)


@routes.post(PAGE + "/{connection_id}/disconnect")
@login_required
async def disconnect(request: web.Request) -> web.Response:
    """Delete the connection and its token for good, then confirm the deletion."""
    user, connection = await _require_own_connection(request)
    engine = require_engine(request)
    label = view_of(connection, None).label

    if not await engine.remove_connection(connection.id, user.id):
        # Ownership was checked above, so another Disconnect removed it a moment ago.
        flash(request, f"{label} is already disconnected.", "info")
        raise web.HTTPSeeOther(PAGE)
    _log.info("user %s disconnected connection %s", user.id, connection.id)
    flash(
        request,
        f"{label} is disconnected. Its Discord token and settings are deleted from MidJAu "
        "for good; unfinished prompts on it were stopped. Your batches and their results "
        "stay.",
        "success",
    )
    raise web.HTTPSeeOther(PAGE)


async def _require_own_connection(request: web.Request) -> tuple[User, MidjourneyConnection]:
    return await require_owned(request, "connection_id", find_user_connection)


def _back_to_connection(
    request: web.Request, connection_id: int, message: str, kind: str = "success"
) -> NoReturn:
    flash(request, message, kind)
    raise web.HTTPSeeOther(f"{PAGE}#connection-{connection_id}")


def _confirm_change(
    request: web.Request, connection_id: int, changed: bool, message: str
) -> NoReturn:
    # The engine returns False when the connection was removed since the ownership check.
    if not changed:
        raise web.HTTPNotFound()
    _back_to_connection(request, connection_id, message)


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
