"""Cookie consent: the visitor's choices for analytics and marketing, stored with their time.

A visitor gets a random id in the ``midjau_visitor`` cookie the first time they choose, so
their choice is found again before they log in. A logged-in user's records also carry
their user id. Every choice is a new ``ConsentRecord``, and the newest one counts, so the
history stays for the data export.
"""

from __future__ import annotations

import logging
import re
import secrets
from datetime import timedelta
from typing import TypedDict

from aiohttp import web
from sqlalchemy import or_, select

from storage.db import Database
from storage.models import ConsentRecord, utcnow
from web.auth import current_user, safe_next
from web.keys import DATABASE_KEY, SETTINGS_KEY
from web.render import flash, render
from web.session import cookie_is_secure

_log = logging.getLogger(__name__)

VISITOR_COOKIE = "midjau_visitor"
# A choice is asked again after this long, and the visitor cookie lasts as long.
CONSENT_VALIDITY = timedelta(days=180)
_VISITOR_ID = re.compile(r"[A-Za-z0-9_-]{16,64}")

routes = web.RouteTableDef()


class ConsentChoice(TypedDict):
    """The visitor's current choices; ``decided`` is False until they chose at all."""

    analytics: bool
    marketing: bool
    decided: bool


def undecided() -> ConsentChoice:
    """Return the choice of someone who has not chosen: everything off."""
    return {"analytics": False, "marketing": False, "decided": False}


def visitor_id_of(request: web.Request) -> str | None:
    """Return the visitor id from the cookie, or None when it is missing or malformed."""
    value = request.cookies.get(VISITOR_COOKIE, "")
    return value if _VISITOR_ID.fullmatch(value) else None


async def consent_for(request: web.Request) -> ConsentChoice:
    """Return the current cookie choices of the logged-in user or of this browser's visitor."""
    user = await current_user(request)
    record = await newest_consent(
        request.app[DATABASE_KEY],
        user_id=user.id if user is not None else None,
        visitor_id=visitor_id_of(request),
    )
    if record is None or record.created_at < utcnow() - CONSENT_VALIDITY:
        return undecided()
    return {"analytics": record.analytics, "marketing": record.marketing, "decided": True}


async def newest_consent(
    db: Database, *, user_id: int | None, visitor_id: str | None
) -> ConsentRecord | None:
    """Return the newest record of the user or of the visitor, whichever is newer."""
    matches = []
    if user_id is not None:
        matches.append(ConsentRecord.user_id == user_id)
    if visitor_id is not None:
        matches.append(ConsentRecord.visitor_id == visitor_id)
    if not matches:
        return None
    async with db.sessions() as session:
        return await session.scalar(
            select(ConsentRecord)
            .where(or_(*matches))
            .order_by(ConsentRecord.created_at.desc(), ConsentRecord.id.desc())
            .limit(1)
        )


async def record_consent(
    db: Database,
    *,
    user_id: int | None,
    visitor_id: str | None,
    analytics: bool,
    marketing: bool,
) -> ConsentRecord:
    """Store a new choice; it becomes the current one."""
    async with db.sessions() as session, session.begin():
        record = ConsentRecord(
            user_id=user_id, visitor_id=visitor_id, analytics=analytics, marketing=marketing
        )
        session.add(record)
    _log.info(
        "consent %s recorded (analytics %s, marketing %s, %s)",
        record.id,
        analytics,
        marketing,
        "user" if user_id is not None else "visitor",
    )
    return record


def choice_from_form(form: dict[str, str]) -> tuple[bool, bool] | None:
    """Read (analytics, marketing) from the banner's form; None when the button is unknown."""
    button = form.get("choice", "")
    if button == "accept_all":
        return True, True
    if button == "reject_all":
        return False, False
    if button == "save":
        return form.get("analytics") == "on", form.get("marketing") == "on"
    return None


@routes.get("/consent")
async def handle_consent_page(request: web.Request) -> web.Response:
    """Show the cookie choices on a page of their own (the footer's Cookie settings)."""
    return await render(
        request,
        "privacy/consent.html",
        {"consent_page": True, "consent_next": safe_next(request.query.get("next"), "/")},
    )


@routes.post("/consent")
async def handle_consent(request: web.Request) -> web.Response:
    """Store the banner's choice; return JSON to the script, or redirect back to the page."""
    form = {key: value for key, value in (await request.post()).items() if isinstance(value, str)}
    choice = choice_from_form(form)
    if choice is None:
        raise web.HTTPBadRequest(
            text="Unknown cookie choice: press Accept all, Reject all or Save choices."
        )
    web_settings = request.app[SETTINGS_KEY].web
    # Consent is recorded only for a service the site really uses.
    analytics = choice[0] and bool(web_settings.ga4_measurement_id)
    marketing = choice[1] and bool(web_settings.meta_pixel_id)
    user = await current_user(request)
    visitor_id = visitor_id_of(request) or secrets.token_urlsafe(24)
    await record_consent(
        request.app[DATABASE_KEY],
        user_id=user.id if user is not None else None,
        visitor_id=visitor_id,
        analytics=analytics,
        marketing=marketing,
    )
    current: ConsentChoice = {"analytics": analytics, "marketing": marketing, "decided": True}

    if "application/json" in request.headers.get("Accept", ""):
        response: web.Response = web.json_response(current)
    else:
        flash(request, "Your cookie choices are saved.", "success")
        response = web.Response(status=303, headers={"Location": safe_next(form.get("next"), "/")})
    set_visitor_cookie(request, response, visitor_id)
    return response


def set_visitor_cookie(request: web.Request, response: web.StreamResponse, visitor_id: str) -> None:
    """Keep the visitor id for as long as a choice counts."""
    response.set_cookie(
        VISITOR_COOKIE,
        visitor_id,
        max_age=int(CONSENT_VALIDITY.total_seconds()),
        httponly=True,
        samesite="Lax",
        secure=cookie_is_secure(request.app[SETTINGS_KEY]),
        path="/",
    )
