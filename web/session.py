"""Session cookies: encrypted (Fernet) with a key derived from the app secret.

The whole session lives in the cookie. A login ends when the cookie is older than
``settings.web.session_days`` since it was last written, when the user's ``session_epoch``
no longer matches the one in the cookie, or when its id is among the ended sessions that
logging out stores (so a copy of a logged-out cookie fails too).
"""

from __future__ import annotations

import base64
import hashlib
import hmac

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware
from aiohttp_session import SESSION_KEY, Session, get_session, session_middleware
from aiohttp_session.cookie_storage import EncryptedCookieStorage
from cryptography.fernet import Fernet

from midjau.settings import Settings

COOKIE_NAME = "midjau_session"
# Label that separates the cookie key from every other use of the app secret.
_KEY_PURPOSE = b"midjau web session cookie v1"


def session_key(secret: bytes) -> bytes:
    """Derive the Fernet key of the session cookie from the app secret."""
    digest = hmac.new(secret, _KEY_PURPOSE, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest)


def cookie_is_secure(settings: Settings) -> bool:
    """Return whether cookies get the Secure flag: the public URL is https."""
    return (settings.web.public_url or "").lower().startswith("https://")


def session_storage(settings: Settings, secret: bytes) -> EncryptedCookieStorage:
    """Build the cookie storage: HttpOnly, SameSite=Lax, Secure over https."""
    return EncryptedCookieStorage(
        Fernet(session_key(secret)),
        cookie_name=COOKIE_NAME,
        max_age=settings.web.session_days * 86400,
        httponly=True,
        samesite="Lax",
        secure=cookie_is_secure(settings),
    )


def session_middlewares(settings: Settings, secret: bytes) -> list[Middleware]:
    """Return the middlewares that load the session and save it on the response."""
    return [session_middleware(session_storage(settings, secret)), _load_session]


@web.middleware
async def _load_session(request: web.Request, handler: Handler) -> web.StreamResponse:
    # Loaded up front so synchronous helpers (flash) can use it.
    await get_session(request)
    return await handler(request)


def loaded_session(request: web.Request) -> Session:
    """Return the request's session, already loaded by the session middleware."""
    session = request.get(SESSION_KEY)
    if session is None:
        raise RuntimeError("the session middleware did not run for this request")
    return session  # type: ignore[no-any-return]
