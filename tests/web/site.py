"""The web site on loopback for tests: a real SMTP catcher, the service, an HTTP client.

``start_site`` runs the whole MidJAu service (with the sandbox Discord when asked) with its
web app on a free port of 127.0.0.1 and its mail going to an ``SmtpCatcher``. A
``WebClient`` is one browser: it keeps its cookies and sends the CSRF token of the page a
form came from, as a browser would.
"""

from __future__ import annotations

import asyncio
import email
import re
from collections.abc import AsyncIterator, Mapping
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from email import policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web
from aiosmtpd.smtp import SMTP, Envelope, Session

from midjau.service import Service
from midjau.settings import (
    DiscordSettings,
    MailSettings,
    PacingSettings,
    SandboxSettings,
    Settings,
    WebSettings,
)
from sandbox.server import Sandbox
from storage.db import Database

MAIL_TIMEOUT = 10.0
# The account most site tests sign up with: the ``browser`` fixture of tests/web/conftest.py.
OWNER_EMAIL = "owner@example.com"
PASSWORD = "correct horse battery"
_LINK = re.compile(r"https?://[^\s<>\"']+")
_CSRF_INPUT = re.compile(r'name="csrf_token"\s+value="([^"]+)"')
_CSRF_META = re.compile(r'<meta name="csrf-token" content="([^"]+)"')


class SmtpCatcher:
    """An SMTP server on 127.0.0.1 (aiosmtpd, on the test's event loop) that keeps every mail."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.port = 0
        self._server: asyncio.Server | None = None
        self._arrived = asyncio.Condition()
        self._taken: set[int] = set()

    async def __aenter__(self) -> SmtpCatcher:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            lambda: SMTP(self, hostname="smtp.test"), "127.0.0.1", 0
        )
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        """Keep the mail (aiosmtpd handler hook)."""
        content = envelope.content
        raw = content if isinstance(content, bytes) else str(content).encode()
        message = email.message_from_bytes(raw, policy=policy.default)
        assert isinstance(message, EmailMessage)
        async with self._arrived:
            self.messages.append(message)
            self._arrived.notify_all()
        return "250 Message accepted for delivery"

    async def wait_for(
        self,
        to: str,
        contains: str = "",
        timeout: float = MAIL_TIMEOUT,  # noqa: ASYNC109 - the contract's signature
    ) -> EmailMessage:
        """Return the first mail to ``to`` containing ``contains`` that no call returned yet."""
        async with asyncio.timeout(timeout), self._arrived:
            while True:
                for index, message in enumerate(self.messages):
                    if index not in self._taken and _matches(message, to, contains):
                        self._taken.add(index)
                        return message
                await self._arrived.wait()

    def sent_to(self, to: str) -> list[EmailMessage]:
        """Return every mail sent to ``to`` so far."""
        return [message for message in self.messages if _matches(message, to, "")]


def _matches(message: EmailMessage, to: str, contains: str) -> bool:
    if to.lower() not in str(message["To"]).lower():
        return False
    return contains in str(message["Subject"]) or contains in body_of(message)


def body_of(message: EmailMessage) -> str:
    """Return the plain-text body of a mail."""
    part = message.get_body(("plain",))
    return "" if part is None else str(part.get_content())  # type: ignore[attr-defined]


def link_in(message: EmailMessage) -> str:
    """Return the first http(s) link in the mail's body."""
    found = _LINK.search(body_of(message))
    if found is None:
        raise AssertionError(f"no link in the mail {message['Subject']!r}: {body_of(message)!r}")
    return found.group(0)


@dataclass(frozen=True, slots=True)
class Site:
    """The running site and what it runs on."""

    base_url: str
    service: Service
    sandbox: Sandbox | None
    smtp: SmtpCatcher
    db: Database

    @property
    def settings(self) -> Settings:
        return self.service.settings


@asynccontextmanager
async def serve_app(app: web.Application) -> AsyncIterator[str]:
    """Serve ``app`` on a free port of 127.0.0.1 and yield its base URL."""
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    try:
        yield f"http://{host}:{port}"
    finally:
        await runner.cleanup()


@asynccontextmanager
async def start_site(
    tmp_path: Path,
    *,
    with_sandbox: bool = True,
    with_bot: bool = True,
    sandbox: SandboxSettings | None = None,
    **settings_overrides: Any,
) -> AsyncIterator[Site]:
    """Start the SMTP catcher, the sandbox (when asked) and the service with its web app.

    ``settings_overrides`` are top-level Settings fields; ``web``, ``mail``, ``discord``
    and ``pacing`` may be dicts that update those sections. The Discord bot runs only with
    the sandbox, and only when ``with_bot`` is true.
    """
    async with AsyncExitStack() as stack:
        smtp = await stack.enter_async_context(SmtpCatcher())
        running: Sandbox | None = None
        if with_sandbox:
            running = await stack.enter_async_context(
                Sandbox(sandbox or SandboxSettings(time_scale=0.005))
            )
        settings = site_settings(
            tmp_path / "data", smtp, running, with_bot=with_bot, **settings_overrides
        )
        service = await stack.enter_async_context(Service(settings, with_web=True))
        assert service.web_url is not None
        yield Site(service.web_url, service, running, smtp, service.db)


def site_settings(
    data_dir: Path,
    smtp: SmtpCatcher,
    sandbox: Sandbox | None,
    *,
    with_bot: bool = True,
    **overrides: Any,
) -> Settings:
    """Return settings for a test site: loopback web on a free port, mail to ``smtp``."""
    base = Settings(data_dir=data_dir, _env_file=None)  # type: ignore[call-arg]
    web = {"host": "127.0.0.1", "port": 0}
    discord: dict[str, Any] = {}
    update: dict[str, Any] = {
        "database_url": f"sqlite+aiosqlite:///{data_dir / 'midjau.db'}",
        "blob_dir": data_dir / "blobs",
    }
    if sandbox is not None:
        web |= {
            "discord_oauth_base": sandbox.base_url,
            "discord_client_id": sandbox.settings.oauth_client_id,
            "discord_client_secret": sandbox.settings.oauth_client_secret,
        }
        discord = {
            "api_base": sandbox.api_base,
            "gateway_url": sandbox.gateway_url,
            "guild_ready_timeout": 0.05,
            "progress_edit_interval": 0.2,
        }
        if with_bot:
            discord["bot_token"] = sandbox.bot_token
        update["sandbox"] = sandbox.settings
    update["web"] = _section(WebSettings, base.web, web | overrides.pop("web", {}))
    update["mail"] = _section(
        MailSettings,
        base.mail,
        {"host": "127.0.0.1", "port": smtp.port, "timeout_seconds": 5.0}
        | overrides.pop("mail", {}),
    )
    update["discord"] = _section(
        DiscordSettings, base.discord, discord | overrides.pop("discord", {})
    )
    update["pacing"] = _section(
        PacingSettings,
        base.pacing,
        {"min_gap_seconds": 0.0, "jitter_seconds": 0.0} | overrides.pop("pacing", {}),
    )
    return base.model_copy(update=update | overrides)


def _section(model: type[Any], current: Any, changes: Mapping[str, Any]) -> Any:
    return model.model_validate(current.model_dump() | dict(changes))


class WebClient:
    """One browser on the site: an HTTP session that keeps the site's cookies."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url.rstrip("/")
        # unsafe=True: keep cookies of an IP address host such as 127.0.0.1.
        self.http = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
        # Location header of the last response that was not followed.
        self.last_location: str | None = None

    async def __aenter__(self) -> WebClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def close(self) -> None:
        await self.http.close()

    def url(self, path: str) -> str:
        return path if path.startswith("http") else f"{self.base_url}{path}"

    def cookie(self, name: str) -> str | None:
        """Return the value of one of the site's cookies in this browser."""
        for morsel in self.http.cookie_jar:
            if morsel.key == name:
                return morsel.value
        return None

    async def get(self, path: str, *, allow_redirects: bool = True) -> tuple[int, str]:
        """GET a page; return its status and body."""
        async with self.http.get(self.url(path), allow_redirects=allow_redirects) as response:
            return response.status, await response.text()

    async def csrf_token(self, path: str) -> str:
        """Read the CSRF token from the page at ``path``."""
        status, html = await self.get(path)
        found = _CSRF_INPUT.search(html) or _CSRF_META.search(html)
        if found is None:
            raise AssertionError(f"no CSRF token on {path} (status {status})")
        return found.group(1)

    async def post_form(
        self,
        path: str,
        data: Mapping[str, str],
        *,
        from_page: str | None = None,
        files: Mapping[str, tuple[str, bytes, str]] | None = None,
        allow_redirects: bool = True,
    ) -> tuple[int, str, str]:
        """Submit a form as from ``from_page`` (default ``path``); return status, body, final URL.

        ``files`` maps field names to (filename, content, content type) and makes the
        request multipart.
        """
        token = await self.csrf_token(from_page or path)
        fields = {**data, "csrf_token": token}
        body: Any = fields
        if files:
            body = aiohttp.FormData()
            for name, value in fields.items():
                body.add_field(name, value)
            for name, (filename, content, content_type) in files.items():
                body.add_field(name, content, filename=filename, content_type=content_type)
        async with self.http.post(
            self.url(path), data=body, allow_redirects=allow_redirects
        ) as response:
            self.last_location = response.headers.get("Location")
            return response.status, await response.text(), str(response.url)

    async def sign_up(self, email_address: str, password: str) -> tuple[int, str, str]:
        """Fill in the sign-up form with both confirmations ticked."""
        return await self.post_form(
            "/signup",
            {
                "email": email_address,
                "password": password,
                "age_confirmed": "on",
                "terms_accepted": "on",
            },
        )

    async def log_in(self, email_address: str, password: str) -> tuple[int, str, str]:
        """Fill in the login form."""
        return await self.post_form("/login", {"email": email_address, "password": password})

    async def sign_up_and_log_in(self, site: Site, email_address: str, password: str) -> None:
        """Sign up, open the link of the verification mail, and log in."""
        status, html, _ = await self.sign_up(email_address, password)
        if status != 200:
            raise AssertionError(f"sign-up of {email_address} failed ({status}): {html[:500]}")
        mail = await site.smtp.wait_for(email_address, "/verify/")
        status, html = await self.get(link_in(mail))
        if status != 200:
            raise AssertionError(f"verification failed ({status}): {html[:500]}")
        status, html, _ = await self.post_form(
            "/login", {"email": email_address, "password": password}, allow_redirects=False
        )
        if status != 303:
            raise AssertionError(f"login of {email_address} failed ({status}): {html[:500]}")
