"""``Sandbox``: the offline Discord (and its simulated Midjourney) served on 127.0.0.1.

async with Sandbox(SandboxSettings()) as sandbox:
    point_discord_py_at(sandbox.api_base, sandbox.gateway_url)
    ...  # run a discord.py bot with sandbox.bot_token, act with sandbox.user()
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from types import TracebackType
from typing import Any

from aiohttp import web

from midjau.settings import SandboxSettings
from sandbox.actor import SandboxUser
from sandbox.discord.rest import build_app
from sandbox.discord.state import SandboxDiscord

_log = logging.getLogger(__name__)


class Sandbox:
    """Start and stop the sandbox server; expose its addresses, tokens and ids."""

    def __init__(
        self, settings: SandboxSettings | None = None, *, midjourney: bool = True, **overrides: Any
    ) -> None:
        """Use ``settings`` with ``overrides`` (any SandboxSettings field) applied on top.

        ``midjourney=False`` leaves the simulated Midjourney out, for tests that register
        an application of their own.
        """
        base = settings or SandboxSettings()
        self.settings = SandboxSettings.model_validate(base.model_dump() | overrides)
        self.discord = SandboxDiscord(self.settings)
        self.midjourney: Any = None
        self.base_url = ""
        self._with_midjourney = midjourney
        self._runner: web.AppRunner | None = None
        self._users: list[SandboxUser] = []

    @property
    def api_base(self) -> str:
        return f"{self.base_url}/api/v10"

    @property
    def gateway_url(self) -> str:
        return self.discord.gateway_url

    @property
    def bot_token(self) -> str:
        return self.settings.bot_token

    @property
    def user_token(self) -> str:
        return self.settings.user_token

    @property
    def guild_id(self) -> str:
        return self.settings.guild_id

    @property
    def channel_id(self) -> str:
        """The #prompts channel, where Midjourney is used."""
        return self.settings.prompts_channel_id

    @property
    def general_channel_id(self) -> str:
        return self.settings.general_channel_id

    @property
    def user_id(self) -> str:
        return self.settings.user_id

    @property
    def bot_user_id(self) -> str:
        return self.settings.bot_user_id

    async def start(self) -> None:
        """Serve REST and the gateway, then start the simulated Midjourney if it exists."""
        runner = web.AppRunner(
            build_app(self.discord), handle_signals=False, access_log=None, shutdown_timeout=2.0
        )
        await runner.setup()
        site = web.TCPSite(runner, self.settings.host, self.settings.port)
        await site.start()
        self._runner = runner
        host, port = runner.addresses[0][:2]
        self.base_url = f"http://{host}:{port}"
        self.discord.bind(self.base_url)
        _log.info("sandbox Discord listening on %s", self.base_url)

        if self._with_midjourney:
            self.midjourney = await self._start_midjourney()

    async def stop(self) -> None:
        """Stop users, the simulator, open interactions, gateway sockets, then the server."""
        for user in self._users:
            await user.close()
        if self.midjourney is not None:
            await _call_if_present(self.midjourney, "close")
        await self.discord.interactions.close()
        await self.discord.gateway.close_all()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        _log.info("sandbox Discord stopped")

    async def __aenter__(self) -> Sandbox:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.stop()

    def user(self) -> SandboxUser:
        """Return an actor for the demo user; start it with ``async with`` or ``start()``."""
        user = SandboxUser(
            api_base=self.api_base,
            gateway_url=self.gateway_url,
            token=self.user_token,
            guild_id=self.guild_id,
            channel_id=self.channel_id,
        )
        self._users.append(user)
        return user

    async def _start_midjourney(self) -> Any:
        # Imported here: the simulator package is optional and imports this module's peers.
        import sandbox.midjourney as simulator_package

        factory = getattr(simulator_package, "MidjourneySimulator", None)
        if factory is None:
            _log.info("no simulated Midjourney in sandbox.midjourney; running without it")
            return None
        simulator = factory(self.discord, self.settings)
        self.discord.register_application(simulator)
        await _call_if_present(simulator, "start")
        return simulator


async def _call_if_present(target: Any, method: str) -> None:
    # The application protocol has no lifecycle; a simulator with background work may add one.
    function = getattr(target, method, None)
    if function is None:
        return
    result = function()
    if asyncio.iscoroutine(result):
        await result


def point_discord_py_at(api_base: str, gateway_url: str) -> None:
    """Aim discord.py's REST base and default gateway at another server (the sandbox).

    discord.py has no option for either: ``Route.BASE`` is read when every request is
    built (webhooks and interaction responses included) and a plain ``Client`` dials
    ``DiscordWebSocket.DEFAULT_GATEWAY`` without asking ``/gateway``. Call this before
    ``start()``, and never call ``discord.http._set_api_version`` afterwards: it resets
    ``Route.BASE``.
    """
    import discord.gateway
    import discord.http
    import yarl

    discord.http.Route.BASE = api_base
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(gateway_url)


def announcement(sandbox: Sandbox) -> list[str]:
    """Return the lines that tell a person how to point MidJAu at a running sandbox."""
    settings = sandbox.settings
    link = f"https://discord.com/channels/{sandbox.guild_id}/{sandbox.channel_id}"
    return [
        f"Sandbox Discord at {sandbox.base_url}",
        "Point MidJAu at it with:",
        f"  MIDJAU_DISCORD__API_BASE={sandbox.api_base}",
        f"  MIDJAU_DISCORD__GATEWAY_URL={sandbox.gateway_url}",
        f"  MIDJAU_DISCORD__BOT_TOKEN={sandbox.bot_token}",
        f"  MIDJAU_WEB__DISCORD_OAUTH_BASE={sandbox.base_url}",
        f"  MIDJAU_WEB__DISCORD_CLIENT_ID={settings.oauth_client_id}",
        f"  MIDJAU_WEB__DISCORD_CLIENT_SECRET={settings.oauth_client_secret}",
        f"Guild {sandbox.guild_id}, #prompts {sandbox.channel_id}, "
        f"#general {sandbox.general_channel_id}",
        f"Connect the demo user with: MIDJAU_CONNECT_TOKEN={sandbox.user_token} midjau connect "
        f"--owner {sandbox.user_id} --guild {sandbox.guild_id} --channel {sandbox.channel_id} "
        f"--plan {settings.plan}",
        f"For the web site's connect form: token {sandbox.user_token}, channel link {link}",
    ]


async def run_forever(
    settings: SandboxSettings | None = None, *, announce: Callable[[str], None] = print
) -> None:
    """Run the sandbox until cancelled, announcing the addresses and tokens to configure."""
    async with Sandbox(settings) as sandbox:
        for line in [*announcement(sandbox), "Press Ctrl+C to stop."]:
            announce(line)
        await asyncio.Event().wait()
