"""The interface the pipeline needs from a relay that acts as one connected Discord account.

``midjourney.relay.Relay`` is the real one. Tests pass their own through the engine's
relay factory, and mypy checks both against this interface.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Protocol

from midjourney.messages import ChannelMessage


class AccountRelay(Protocol):
    """A relay that sends a user's interactions to Midjourney and reads the user's channel."""

    # Called after the gateway opened a new session, so missed replies are read back.
    on_reidentified: Callable[[], Awaitable[None]] | None

    @property
    def user_id(self) -> str | None:
        """Id of the connected Discord user, once known."""
        ...

    async def start(self) -> None:
        """Open the connection to Discord."""
        ...

    async def close(self) -> None:
        """Close the connection to Discord."""
        ...

    async def imagine(self, prompt: str, *, nonce: str | None = None) -> str:
        """Send /imagine with ``prompt`` and return the nonce Discord accepted."""
        ...

    async def press(
        self, message_id: str, custom_id: str, *, message_flags: int = 0, nonce: str | None = None
    ) -> str:
        """Press a button on a Midjourney message and return the nonce Discord accepted."""
        ...

    async def refresh_attachment_urls(self, urls: Sequence[str]) -> dict[str, str]:
        """Return fresh signed links for expired attachment links, keyed by the old link."""
        ...

    async def fetch_history(
        self, *, limit: int = 50, before: str | None = None, after: str | None = None
    ) -> list[ChannelMessage]:
        """Return up to ``limit`` messages of the channel, newest first."""
        ...

    async def fetch_current_user(self) -> dict[str, Any]:
        """Return the connected user's Discord profile."""
        ...

    async def fetch_channel(self) -> dict[str, Any]:
        """Return the Discord channel the relay sends to."""
        ...
