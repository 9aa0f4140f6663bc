"""Outgoing mail: the Mailer interface, an SMTP implementation, and sending in the background.

Mails go out in background tasks, so a page responds as fast for an unknown address as for
a known one, and a slow SMTP server does not hold a request open.
"""

from __future__ import annotations

import asyncio
import logging
from email.message import EmailMessage
from typing import Protocol

import aiosmtplib
from aiohttp import web

from midjau.settings import MailSettings

_log = logging.getLogger(__name__)

_PENDING_KEY = web.AppKey("pending_mails", set[asyncio.Task[None]])


class Mailer(Protocol):
    """Something that delivers a plain-text mail."""

    async def send(self, to: str, subject: str, body: str) -> None:
        """Deliver one mail; raise on failure."""
        ...


class SmtpMailer:
    """Send mail through the SMTP server of the settings (aiosmtplib)."""

    def __init__(self, settings: MailSettings) -> None:
        self.settings = settings

    def __repr__(self) -> str:
        return f"SmtpMailer({self.settings.host}:{self.settings.port})"

    async def send(self, to: str, subject: str, body: str) -> None:
        """Deliver one plain-text mail from the configured sender."""
        settings = self.settings
        message = EmailMessage()
        message["From"] = settings.sender
        message["To"] = to
        message["Subject"] = subject
        message.set_content(body)
        password = settings.password.get_secret_value() if settings.password else None
        await aiosmtplib.send(
            message,
            hostname=settings.host,
            port=settings.port,
            username=settings.username,
            password=password,
            use_tls=settings.use_tls,
            start_tls=settings.start_tls,
            timeout=settings.timeout_seconds,
        )


def mask_email(address: str) -> str:
    """Return the address with most of its local part hidden, for log lines."""
    local, _, domain = address.partition("@")
    return f"{local[:1]}***@{domain}" if domain else "***"


def send_later(app: web.Application, mailer: Mailer, to: str, subject: str, body: str) -> None:
    """Send a mail in a background task owned by the app; failures are logged, not raised."""
    pending = app[_PENDING_KEY]
    task = asyncio.create_task(_send_logged(mailer, to, subject, body), name="web-mail")
    pending.add(task)
    task.add_done_callback(pending.discard)


async def _send_logged(mailer: Mailer, to: str, subject: str, body: str) -> None:
    try:
        await mailer.send(to, subject, body)
    except Exception:
        _log.exception("sending the mail %r to %s failed", subject, mask_email(to))
    else:
        _log.info("sent the mail %r to %s", subject, mask_email(to))


def setup_mail(app: web.Application) -> None:
    """Prepare background sending; at shutdown, mails still being sent get a little time."""
    app[_PENDING_KEY] = set()
    app.on_cleanup.append(_finish_pending_mails)


async def _finish_pending_mails(app: web.Application) -> None:
    tasks: set[asyncio.Task[None]] = app[_PENDING_KEY]
    pending = set(tasks)
    if not pending:
        return
    _done, unfinished = await asyncio.wait(pending, timeout=10)
    for task in unfinished:
        task.cancel()
