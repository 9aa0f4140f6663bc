"""The web's one error handler: friendly error pages, never a traceback."""

from __future__ import annotations

import logging

from aiohttp import web
from aiohttp.http_exceptions import BadHttpMessage
from aiohttp.typedefs import Handler

from web.render import render

_log = logging.getLogger(__name__)

TITLES = {
    400: "Bad request",
    403: "Not allowed",
    404: "Page not found",
    405: "Not allowed",
    413: "File too large",
    429: "Too many attempts",
    500: "Something went wrong",
}
MESSAGES = {
    400: "The request could not be understood. Go back and try again.",
    403: "You are not allowed to do this. Log in with the right account and try again.",
    404: "There is nothing here. The link may be wrong, or the item was deleted.",
    405: "This page does not accept that kind of request.",
    413: "The upload is larger than this site accepts. Send a smaller file.",
    429: "Too many attempts in a short time. Wait a few minutes, then try again.",
    500: "An error on our side stopped this page. Try again in a moment; "
    "if it keeps happening, contact support.",
}


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Turn 4xx/5xx exceptions into error pages (or JSON for JSON clients); log the 500s."""
    try:
        return await handler(request)
    except web.HTTPException as error:
        if error.status < 400 or error.content_type not in ("text/plain", ""):
            raise
        return await error_page(request, error.status, _custom_text(error), error.headers)
    except Exception:
        _log.exception("unhandled error in %s %s", request.method, request.path)
        return await error_page(request, 500, "", {})


async def error_page(
    request: web.Request, status: int, text: str, headers: object
) -> web.StreamResponse:
    """Render the error page for ``status``; ``text`` replaces the default message if set."""
    title = TITLES.get(status, "Error")
    message = text or MESSAGES.get(status, MESSAGES[500] if status >= 500 else MESSAGES[400])
    if _wants_json(request):
        response: web.StreamResponse = web.json_response(
            {"status": status, "title": title, "detail": message}, status=status
        )
    else:
        try:
            response = await render(
                request,
                "error.html",
                {"status": status, "title": title, "message": message},
                status=status,
            )
        except Exception:
            _log.exception("rendering the error page for %s %s failed", status, request.path)
            response = web.Response(text=f"{title}. {message}", status=status)
    _copy_allowed_headers(headers, response)
    return response


def _custom_text(error: web.HTTPException) -> str:
    # aiohttp's default body is "<status>: <reason>"; anything else was written for users.
    text = error.text or ""
    return "" if text.startswith(f"{error.status}:") else text


def _wants_json(request: web.Request) -> bool:
    accept = request.headers.get("Accept", "")
    return request.path.startswith("/api/") or (
        "application/json" in accept and "text/html" not in accept
    )


def _copy_allowed_headers(headers: object, response: web.StreamResponse) -> None:
    # 405 names the allowed methods and 429 may say when to retry.
    for name in ("Allow", "Retry-After"):
        value = getattr(headers, "get", lambda _name: None)(name)
        if value:
            response.headers[name] = value


class MalformedRequestFilter(logging.Filter):
    """Turn aiohttp's traceback for a malformed HTTP request into one warning line.

    Such requests (an overlong header, a broken request line) come from clients, not from
    a fault of the site, and aiohttp replies to them with a 400 itself.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        if not isinstance(error, BadHttpMessage):
            return True
        client = record.args[0] if isinstance(record.args, tuple) and record.args else "?"
        record.levelno, record.levelname = logging.WARNING, "WARNING"
        record.msg = "malformed HTTP request from %s rejected: %s %.200r"
        record.args = (client, type(error).__name__, error.message)
        record.exc_info, record.exc_text = None, None
        return True


MALFORMED_REQUEST_FILTER = MalformedRequestFilter()


def quiet_malformed_requests() -> None:
    """Log malformed HTTP requests as warnings. Adding the same filter twice keeps one."""
    logging.getLogger("aiohttp.server").addFilter(MALFORMED_REQUEST_FILTER)
