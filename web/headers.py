"""Security headers on every response, with a CSP that admits analytics only after consent."""

from __future__ import annotations

from urllib.parse import urlsplit

from aiohttp import web

from web.keys import SETTINGS_KEY
from web.render import CONSENT_REQUEST_KEY, NONCE_REQUEST_KEY

# Hosts that the GA4 and Meta Pixel scripts load from and send data to.
# NOTE: taken from the snippets these services publish, not checked against live traffic.
ANALYTICS_HOSTS = (
    "https://www.googletagmanager.com",
    "https://*.google-analytics.com",
    "https://*.analytics.google.com",
)
MARKETING_HOSTS = ("https://connect.facebook.net", "https://www.facebook.com")

STATIC_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
}


async def add_security_headers(request: web.Request, response: web.StreamResponse) -> None:
    """Add the CSP, nosniff, referrer and framing headers (``on_response_prepare`` signal).

    A signal rather than a middleware, so streamed responses (files, server-sent events)
    and error pages get them too.
    """
    for name, value in STATIC_HEADERS.items():
        response.headers.setdefault(name, value)
    response.headers.setdefault("Content-Security-Policy", content_security_policy(request))


def content_security_policy(request: web.Request) -> str:
    """Build the CSP: this site only, plus the measurement hosts the visitor opted in to."""
    consent = request.get(CONSENT_REQUEST_KEY) or {}
    web_settings = request.app[SETTINGS_KEY].web
    hosts: list[str] = []
    if consent.get("analytics") and web_settings.ga4_measurement_id:
        hosts += ANALYTICS_HOSTS
    if consent.get("marketing") and web_settings.meta_pixel_id:
        hosts += MARKETING_HOSTS
    extra = "".join(f" {host}" for host in hosts)
    nonce = request.get(NONCE_REQUEST_KEY)
    script = f"'self'{extra}" + (f" 'nonce-{nonce}'" if nonce else "")
    return "; ".join(
        (
            "default-src 'self'",
            f"script-src {script}",
            "style-src 'self'",
            f"img-src 'self' data:{extra}",
            f"connect-src 'self'{extra}",
            "frame-ancestors 'none'",
            "base-uri 'self'",
            f"form-action 'self' {_oauth_origin(request)}".rstrip(),
            "object-src 'none'",
        )
    )


def _oauth_origin(request: web.Request) -> str:
    # A form may redirect to Discord's authorize page ("Log in with Discord").
    parts = urlsplit(request.app[SETTINGS_KEY].web.discord_oauth_base)
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme and parts.netloc else ""
