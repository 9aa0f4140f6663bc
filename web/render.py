"""Page rendering with the context every template gets, and flash messages."""

from __future__ import annotations

import importlib
import logging
import secrets
from typing import Any

import aiohttp_jinja2
import jinja2
from aiohttp import web
from markupsafe import Markup

from midjau.settings import Settings
from web.auth import current_user
from web.csrf import FIELD_NAME, csrf_token
from web.keys import SETTINGS_KEY
from web.session import loaded_session

_log = logging.getLogger(__name__)

_FLASH_FIELD = "flash"
# Request keys read by the security-header middleware.
CONSENT_REQUEST_KEY = web.RequestKey("midjau_consent", dict[str, bool])
NONCE_REQUEST_KEY = web.RequestKey("midjau_csp_nonce", str)

NO_CONSENT: dict[str, bool] = {"analytics": False, "marketing": False, "decided": False}


def setup_templates(app: web.Application) -> None:
    """Load templates from the package's templates folder, autoescaped."""
    aiohttp_jinja2.setup(
        app,
        loader=jinja2.PackageLoader("web", "templates"),
        autoescape=jinja2.select_autoescape(("html",), default=True),
    )


def flash(request: web.Request, text: str, kind: str = "info") -> None:
    """Queue a message for the next page this browser renders (kind: info, success, error)."""
    session = loaded_session(request)
    messages = list(session.get(_FLASH_FIELD, []))
    messages.append({"text": text, "kind": kind})
    session[_FLASH_FIELD] = messages[-5:]


def csp_nonce(request: web.Request) -> str:
    """Return this response's nonce that lets an inline script run under the CSP."""
    if NONCE_REQUEST_KEY not in request:
        request[NONCE_REQUEST_KEY] = secrets.token_urlsafe(16)
    return str(request[NONCE_REQUEST_KEY])


def public_settings(settings: Settings) -> dict[str, Any]:
    """Return the settings that templates may show; no secret is among them."""
    web_settings = settings.web
    return {
        "terms_version": web_settings.terms_version,
        "ga4_measurement_id": web_settings.ga4_measurement_id,
        "meta_pixel_id": web_settings.meta_pixel_id,
        "discord_login": web_settings.discord_login,
        "public_url": web_settings.public_url,
        "operator_email": settings.mail.operator,
    }


async def render(
    request: web.Request, template: str, context: dict[str, Any], *, status: int = 200
) -> web.Response:
    """Render ``template`` with the base context and ``context`` (which wins on a clash)."""
    token = csrf_token(request)
    base: dict[str, Any] = {
        "request": request,
        "user": await current_user(request),
        "csrf_token": lambda: token,
        "csrf_field": lambda: Markup('<input type="hidden" name="{}" value="{}">').format(
            FIELD_NAME, token
        ),
        "csp_nonce": csp_nonce(request),
        "settings": public_settings(request.app[SETTINGS_KEY]),
        "consent": await visitor_consent(request),
        "flash": _take_flash(request),
    }
    response = aiohttp_jinja2.render_template(template, request, base | context, status=status)
    response.headers.setdefault("Cache-Control", "no-store")
    return response


async def visitor_consent(request: web.Request) -> dict[str, bool]:
    """Return the visitor's cookie choices from ``web.privacy.consent_for`` when it exists."""
    if CONSENT_REQUEST_KEY in request:
        known: dict[str, bool] = request[CONSENT_REQUEST_KEY]
        return dict(known)
    consent = dict(NO_CONSENT)
    try:
        privacy = importlib.import_module("web.privacy")
    except ModuleNotFoundError as error:
        if error.name != "web.privacy":
            raise
    else:
        consent |= await privacy.consent_for(request)
    request[CONSENT_REQUEST_KEY] = consent
    return consent


def _take_flash(request: web.Request) -> list[dict[str, str]]:
    session = loaded_session(request)
    messages = session.get(_FLASH_FIELD)
    if not messages:
        return []
    del session[_FLASH_FIELD]
    return list(messages)
