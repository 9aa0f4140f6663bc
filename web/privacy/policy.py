"""The privacy policy and the terms, versioned by ``settings.web.terms_version``."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from pipeline.retention import DOWNLOAD_GRACE
from web.keys import SETTINGS_KEY
from web.privacy.consent import CONSENT_VALIDITY
from web.render import render

routes = web.RouteTableDef()


def policy_facts(request: web.Request) -> dict[str, Any]:
    """Return the numbers the policy states, read from the running settings."""
    settings = request.app[SETTINGS_KEY]
    return {
        "terms_version": settings.web.terms_version,
        "retention_days": f"{settings.output_retention_days:g}",
        "download_grace_hours": f"{DOWNLOAD_GRACE.total_seconds() / 3600:g}",
        "consent_days": CONSENT_VALIDITY.days,
        "session_days": settings.web.session_days,
        "operator_email": settings.mail.operator,
        "ga4_configured": settings.web.ga4_measurement_id is not None,
        "meta_configured": settings.web.meta_pixel_id is not None,
    }


@routes.get("/privacy")
async def handle_privacy(request: web.Request) -> web.Response:
    """Show the privacy policy."""
    return await render(request, "privacy/privacy.html", {"facts": policy_facts(request)})


@routes.get("/terms")
async def handle_terms(request: web.Request) -> web.Response:
    """Show the terms of use."""
    return await render(request, "privacy/terms.html", {"facts": policy_facts(request)})
