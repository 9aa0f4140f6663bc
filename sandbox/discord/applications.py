"""How a simulated application (the Midjourney bot) plugs into the sandbox Discord.

Real Discord forwards a user's ``POST /interactions`` to the application that owns the
command or button. The sandbox does the same through this protocol, so the simulated
Midjourney only sees the interaction payloads a real application would get.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol


@dataclass(frozen=True, slots=True)
class SandboxFile:
    """A file a simulated application attaches to a message."""

    filename: str
    data: bytes
    content_type: str = "application/octet-stream"
    width: int | None = None
    height: int | None = None


class SandboxApplication(Protocol):
    """A simulated application that users' interactions are routed to."""

    application_id: str
    # The Discord user object of the application's bot (id, username, discriminator, avatar, bot).
    bot_user: dict[str, Any]

    def commands(self) -> list[dict[str, Any]]:
        """Return the application's commands as the application-command-index lists them."""
        ...

    def check_interaction(
        self, user_id: str, payload: dict[str, Any]
    ) -> tuple[int, dict[str, Any]] | None:
        """Reject a ``POST /interactions`` with (HTTP status, JSON body), or accept it with None.

        Accepting means Discord answers the user 204.
        """
        ...

    async def handle_interaction(
        self, user_id: str, session_id: str | None, payload: dict[str, Any], interaction_id: str
    ) -> None:
        """Act on an accepted interaction; runs after Discord has answered 204."""
        ...
