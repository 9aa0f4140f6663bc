"""Privacy and consent: the policy and terms pages, the cookie banner, and data rights.

``consent_for(request)`` gives the page renderer the visitor's cookie choices; the
security headers read them from the request to admit the analytics hosts.
"""

from __future__ import annotations

from aiohttp import web

from web.privacy import consent, data_rights, policy
from web.privacy.consent import ConsentChoice, consent_for

__all__ = ["ConsentChoice", "consent_for", "setup"]


def setup(app: web.Application) -> None:
    """Add the privacy, terms, consent and data-rights routes."""
    app.router.add_routes(policy.routes)
    app.router.add_routes(consent.routes)
    app.router.add_routes(data_rights.routes)
