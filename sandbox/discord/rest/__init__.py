"""The aiohttp application of the sandbox Discord: REST under /api/v9 and /api/v10, the
gateway at /gateway, attachments under /attachments and /media, cloud uploads under /upload."""

from __future__ import annotations

from aiohttp import web

from sandbox.discord.cdn import AttachmentUnavailableError, single_values
from sandbox.discord.rest import accounts, interactions, messages, oauth
from sandbox.discord.rest.common import (
    API_PREFIXES,
    DISCORD_KEY,
    authentication,
    discord_errors,
    discord_of,
    rate_limits,
)
from sandbox.discord.state import SandboxDiscord

# Room for uploads a little over Discord's largest limit, so the 413 is Discord's own.
CLIENT_MAX_SIZE = 600 * 1024 * 1024


def build_app(discord: SandboxDiscord) -> web.Application:
    """Build the aiohttp application that serves one SandboxDiscord."""
    app = web.Application(
        middlewares=[discord_errors, rate_limits, authentication], client_max_size=CLIENT_MAX_SIZE
    )
    app[DISCORD_KEY] = discord
    for prefix in API_PREFIXES:
        for method, path, handler in accounts.ROUTES + messages.ROUTES + interactions.ROUTES:
            app.router.add_route(method, prefix + path, handler)
    # OAuth2 also answers under a bare /api, and the authorize page at the site root.
    for prefix in ("/api", *API_PREFIXES):
        for method, path, handler in oauth.ROUTES:
            app.router.add_route(method, prefix + path, handler)
    app.router.add_get("/api/users/@me", accounts.get_current_user)
    app.router.add_get(oauth.AUTHORIZE_ROUTE, oauth.authorize)

    app.router.add_get("/gateway", discord.gateway.handle_websocket)
    app.router.add_get("/attachments/{channel_id}/{attachment_id}/{filename}", serve_attachment)
    app.router.add_get(
        "/media/attachments/{channel_id}/{attachment_id}/{filename}", serve_attachment
    )
    app.router.add_put("/upload/{upload_id}/{filename}", receive_upload)
    return app


async def serve_attachment(request: web.Request) -> web.Response:
    """Serve an attachment when its signature is valid and not expired, like the CDN."""
    path = request.rel_url.raw_path.removeprefix("/media")
    try:
        attachment = discord_of(request).cdn.open(path, single_values(request.query_string))
    except AttachmentUnavailableError as error:
        return web.Response(status=error.status, text=error.reason)
    return web.Response(body=attachment.data, content_type=attachment.content_type)


async def receive_upload(request: web.Request) -> web.Response:
    """Take the bytes of a cloud upload (``PUT upload_url``); no Discord auth is sent."""
    upload_filename = f"{request.match_info['upload_id']}/{request.match_info['filename']}"
    data = await request.read()
    if not discord_of(request).cdn.receive_upload(upload_filename, data):
        return web.Response(status=404, text="No such upload.")
    return web.Response(status=200)
