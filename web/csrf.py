"""CSRF protection: every state-changing request must carry the session's token.

The token goes in the form field ``csrf_token`` or the ``X-CSRF-Token`` header (JavaScript
reads it from ``<meta name="csrf-token">``). Handlers that must accept requests from
elsewhere (none of the site's own forms) opt out with ``@csrf_exempt``.
"""

from __future__ import annotations

import hmac
import logging
import secrets
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler

from web.session import loaded_session

_log = logging.getLogger(__name__)

FIELD_NAME = "csrf_token"
HEADER_NAME = "X-CSRF-Token"
_SESSION_FIELD = "csrf"
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})

AnyHandler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def csrf_token(request: web.Request) -> str:
    """Return the session's CSRF token, creating it on first use."""
    session = loaded_session(request)
    token = session.get(_SESSION_FIELD)
    if not isinstance(token, str) or not token:
        token = secrets.token_urlsafe(32)
        session[_SESSION_FIELD] = token
    return token


def csrf_exempt(handler: AnyHandler) -> AnyHandler:
    """Mark a handler as taking state-changing requests without a CSRF token."""
    handler.csrf_exempt = True  # type: ignore[attr-defined]
    return handler


@web.middleware
async def csrf_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Reject a POST, PUT, PATCH or DELETE whose CSRF token is missing or wrong (403)."""
    if request.method in _SAFE_METHODS or _is_exempt(request):
        return await handler(request)

    check_token(request, request.headers.get(HEADER_NAME) or await _form_token(request))
    return await handler(request)


def check_token(request: web.Request, sent: str) -> None:
    """Raise 403 unless ``sent`` is this session's CSRF token.

    For handlers marked ``csrf_exempt`` that must read the body before checking it.
    """
    expected = loaded_session(request).get(_SESSION_FIELD)
    if not (isinstance(expected, str) and expected and sent) or not hmac.compare_digest(
        sent.encode(), expected.encode()
    ):
        _log.info("rejected %s %s: missing or wrong CSRF token", request.method, request.path)
        raise web.HTTPForbidden(
            reason="Invalid form token",
            text="This form has expired or was sent from another site. "
            "Reload the page and try again.",
        )


def check_form_token(request: web.Request, form: Mapping[str, object]) -> None:
    """Raise 403 unless the header or the already read ``form`` contains the CSRF token."""
    field = form.get(FIELD_NAME)
    check_token(
        request, request.headers.get(HEADER_NAME) or (field if isinstance(field, str) else "")
    )


def _is_exempt(request: web.Request) -> bool:
    if request.match_info.http_exception is not None:
        # No such route or method: let the router return its 404 or 405.
        return True
    route_handler: Any = request.match_info.handler
    return bool(getattr(route_handler, "csrf_exempt", False))


async def _form_token(request: web.Request) -> str:
    if request.content_type not in ("application/x-www-form-urlencoded", "multipart/form-data"):
        return ""
    # Reading the body here caches it, so the handler's own request.post() reuses it.
    form = await request.post()
    value = form.get(FIELD_NAME)
    return value if isinstance(value, str) else ""
