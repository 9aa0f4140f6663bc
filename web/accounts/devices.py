"""Device cookies: a browser that logged in to an address before gets its own login limit.

A stranger who guesses passwords for an address from many IP addresses reaches the
per-email limit and locks the address out of password login. A browser that logged in to
that address with its password carries a signed cookie for it, and its failed logins are
counted per cookie instead, so the stranger cannot lock the owner's own browser out.
"Log out everywhere" and a new password end every device cookie of the account.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from aiohttp import web

from storage.models import User
from web.keys import SECRET_KEY, SETTINGS_KEY
from web.session import cookie_is_secure

DEVICE_COOKIE = "midjau_device"
DEVICE_COOKIE_DAYS = 365
# Label that separates the device cookie's key from every other use of the app secret.
_KEY_PURPOSE = b"midjau device cookie v1"


def known_device(request: web.Request, user: User | None) -> str | None:
    """Return the id of this browser's device cookie when it is valid for ``user``."""
    device, _, signature = request.cookies.get(DEVICE_COOKIE, "").partition(".")
    if not (device and signature and user is not None and user.email):
        return None
    expected = _sign(request.app[SECRET_KEY], device, user)
    return device if hmac.compare_digest(signature, expected) else None


def issue_device_cookie(request: web.Request, response: web.StreamResponse, user: User) -> None:
    """Give the browser a new device cookie for ``user``, sent back to the login page only."""
    device = secrets.token_urlsafe(12)
    response.set_cookie(
        DEVICE_COOKIE,
        f"{device}.{_sign(request.app[SECRET_KEY], device, user)}",
        max_age=DEVICE_COOKIE_DAYS * 86400,
        path="/login",
        httponly=True,
        samesite="Lax",
        secure=cookie_is_secure(request.app[SETTINGS_KEY]),
    )


def _sign(secret: bytes, device: str, user: User) -> str:
    # The session epoch is signed too, so "Log out everywhere" and a new password end
    # every device cookie of the account along with its sessions.
    key = hmac.new(secret, _KEY_PURPOSE, hashlib.sha256).digest()
    message = f"{device}\n{user.email}\n{user.session_epoch}".encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()
