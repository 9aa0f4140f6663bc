"""The support page: a form that stores a ticket and mails the operator, and the user's tickets.

A ticket page shows only the logged-in user's own ticket, and returns 404 for any other id.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from aiohttp import web
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import SupportTicket, User
from web.accounts.mails import site_url
from web.auth import login_required
from web.handlers import form_text, require_owned, require_user
from web.keys import DATABASE_KEY, MAILER_KEY, SETTINGS_KEY
from web.mail import send_later
from web.render import flash, render
from web.settings_pages._limits import TICKETS_PER_HOUR, settings_limits

_log = logging.getLogger(__name__)

routes = web.RouteTableDef()

PAGE = "/dashboard/support"
MAX_SUBJECT_LENGTH = 200
MAX_BODY_LENGTH = 10_000
_CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f]+")


class SupportFormError(Exception):
    """A support form field is missing or invalid; ``str(error)`` is safe to show."""

    def __init__(self, field_name: str, message: str) -> None:
        super().__init__(message)
        self.field_name = field_name


@routes.get(PAGE)
@login_required
async def support_page(request: web.Request) -> web.Response:
    """Show the support form and the user's own tickets, newest first."""
    return await _render_page(request, await require_user(request))


@routes.post(PAGE)
@login_required
async def create_ticket(request: web.Request) -> web.Response:
    """Store a support ticket, mail it to the operator, and confirm it."""
    user = await require_user(request)
    form = await request.post()
    submitted = {"subject": form_text(form, "subject"), "body": form_text(form, "body")}
    try:
        subject, body = read_support_form(form)
    except SupportFormError as error:
        return await _render_page(request, user, status=400, error=error, submitted=submitted)
    if not settings_limits(request).tickets.hit(str(user.id)):
        limited = SupportFormError(
            "body",
            f"You sent {TICKETS_PER_HOUR} messages within the last hour. Wait a while, "
            "or add to one of your tickets by replying to our answer.",
        )
        return await _render_page(request, user, status=429, error=limited, submitted=submitted)

    async with request.app[DATABASE_KEY].sessions() as session, session.begin():
        ticket = SupportTicket(user_id=user.id, subject=subject, body=body)
        session.add(ticket)
        await session.flush()
        ticket_id = ticket.id
    _log.info("support ticket %s stored for user %s", ticket_id, user.id)

    _mail_operator(request, user, ticket_id, subject, body)
    flash(
        request,
        f"Thank you. Your message is ticket #{ticket_id}; we answer by mail "
        f"to {user.email or 'the address of your account'}.",
        "success",
    )
    raise web.HTTPSeeOther(f"{PAGE}/{ticket_id}")


@routes.get(PAGE + "/{ticket_id}")
@login_required
async def ticket_page(request: web.Request) -> web.Response:
    """Show one of the user's own tickets."""
    _, ticket = await require_owned(request, "ticket_id", _find_user_ticket)
    return await render(request, "settings/ticket.html", {"ticket": ticket, "section": "support"})


async def _find_user_ticket(
    session: AsyncSession, ticket_id: int, user_id: int
) -> SupportTicket | None:
    return await session.scalar(
        select(SupportTicket).where(SupportTicket.id == ticket_id, SupportTicket.user_id == user_id)
    )


def read_support_form(form: Any) -> tuple[str, str]:
    """Return the checked (subject, message); raise SupportFormError naming the bad field."""
    # A subject becomes a mail header, where a line break would start another header.
    subject = _CONTROL_CHARACTERS.sub(" ", form_text(form, "subject")).strip()
    # Browsers send a textarea's line breaks as CRLF.
    body = form_text(form, "body").replace("\r\n", "\n")
    if not subject:
        raise SupportFormError("subject", "Give your message a subject.")
    if len(subject) > MAX_SUBJECT_LENGTH:
        raise SupportFormError(
            "subject",
            f"The subject is {len(subject)} characters; keep it to {MAX_SUBJECT_LENGTH}.",
        )
    if not body:
        raise SupportFormError("body", "Write your message: what happened, and what you expected.")
    if len(body) > MAX_BODY_LENGTH:
        raise SupportFormError(
            "body",
            f"The message is {len(body)} characters; keep it to {MAX_BODY_LENGTH}, "
            "and send the rest in a second message.",
        )
    return subject, body


def _mail_operator(
    request: web.Request, user: User, ticket_id: int, subject: str, body: str
) -> None:
    mailer = request.app.get(MAILER_KEY)
    if mailer is None:
        _log.warning(
            "support ticket %s: no mailer is configured, so the operator gets no mail", ticket_id
        )
        return
    operator = request.app[SETTINGS_KEY].mail.operator
    text = (
        f"Support ticket #{ticket_id}\n"
        f"From: user {user.id}, {user.display_name or 'no name'}, "
        f"{user.email or 'no email address'}"
        f"{f', Discord user {user.discord_user_id}' if user.discord_user_id else ''}\n"
        f"Subject: {subject}\n\n"
        f"{body}\n\n"
        f"Answer the user by mail. The user sees the ticket at {site_url(request, PAGE)}.\n"
    )
    send_later(request.app, mailer, operator, f"[MidJAu support #{ticket_id}] {subject}", text)


async def _render_page(
    request: web.Request,
    user: User,
    *,
    status: int = 200,
    error: SupportFormError | None = None,
    submitted: dict[str, str] | None = None,
) -> web.Response:
    async with request.app[DATABASE_KEY].sessions() as session:
        tickets = list(
            await session.scalars(
                select(SupportTicket)
                .where(SupportTicket.user_id == user.id)
                .order_by(SupportTicket.id.desc())
            )
        )
    context: dict[str, Any] = {
        "section": "support",
        "tickets": tickets,
        "error": (error.field_name, str(error)) if error else None,
        "submitted": submitted or {"subject": "", "body": ""},
        "max_subject_length": MAX_SUBJECT_LENGTH,
        "max_body_length": MAX_BODY_LENGTH,
    }
    return await render(request, "settings/support.html", context, status=status)
