"""Check a Discord account and channel with Discord before MidJAu stores the connection.

The check reads ``GET /users/@me`` (the token works, and whose account it is) and
``GET /channels/{id}`` (the channel exists, is in the linked server, and the account can
see it). It goes through a relay built by the engine's relay factory, so it reaches the
same Discord as the engine: the real one, the sandbox, or a test's relay.
"""

from __future__ import annotations

import logging
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import aiohttp

from midjourney.messages import ChannelEvent
from midjourney.relay import (
    AccessBlockedError,
    CaptchaRequiredError,
    InteractionRejectedError,
    RelayError,
    TokenRejectedError,
)
from pipeline.accounts import other_connection_of_account
from pipeline.batch_requests import EngineError
from pipeline.connections import RelayConfig, RelayFactory

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from midjau.settings import DiscordSettings

log = logging.getLogger(__name__)

# The connection id of a relay built only to check an account that is not stored yet.
CHECK_CONNECTION_ID = 0

REJECTED_ACCOUNT_MESSAGE = (
    "Discord rejected the token: it is mistyped, was revoked, or the account's password "
    "changed since it was copied. Copy the token again and connect once more."
)
ACCOUNT_BLOCKED_MESSAGE = (
    "Discord refused the account (HTTP 403): it may be locked or flagged. Log in to "
    "Discord with it, deal with any warning, then connect again."
)
CAPTCHA_MESSAGE = (
    "Discord asks this account to solve a CAPTCHA. Open Discord with it, solve the "
    "CAPTCHA, then connect again."
)
UNREACHABLE_MESSAGE = "MidJAu could not reach Discord to check the account. Try again in a minute."
ACCOUNT_TAKEN_MESSAGE = (
    "This Discord account is already connected to another MidJAu account. "
    "Disconnect it there first, or connect a different Discord account."
)
ACCOUNT_IN_OTHER_CHANNEL_MESSAGE = (
    "This Discord account is already connected in channel {channel}. One account runs one "
    "Midjourney queue, so disconnect that connection first, or connect that channel again."
)


class ConnectionCheckError(EngineError):
    """A token or channel that Discord rejected; ``str(error)`` names the problem.

    ``about`` is "token" or "channel": the part of the connection the user should fix.
    """

    def __init__(self, message: str, about: str = "token") -> None:
        super().__init__(message)
        self.about = about


@dataclass(frozen=True, slots=True)
class CheckedAccount:
    """The Discord account behind a token that Discord accepted."""

    account_id: str
    username: str


async def check_connection(
    relay_factory: RelayFactory,
    discord: DiscordSettings,
    *,
    token: str,
    guild_id: str,
    channel_id: str,
) -> CheckedAccount:
    """Return the token's Discord account once Discord shows it the channel in the server.

    Raise ConnectionCheckError naming the problem: a rejected token, a channel that does
    not exist or that the account cannot see, or a channel in another server.
    """
    relay = relay_factory(
        RelayConfig(
            connection_id=CHECK_CONNECTION_ID,
            token=token,
            api_base=discord.api_base,
            gateway_url=discord.gateway_url,
            guild_id=guild_id,
            channel_id=channel_id,
            on_event=_ignore_event,
        )
    )
    user = await _read(relay.fetch_current_user(), channel_id, about="token")
    account_id = str(user.get("id") or "")
    if not account_id:
        raise ConnectionCheckError(UNREACHABLE_MESSAGE)
    channel = await _read(relay.fetch_channel(), channel_id, about="channel")
    _check_channel_server(channel, guild_id, channel_id)
    log.info("Discord account %s can see channel %s", account_id, channel_id)
    return CheckedAccount(account_id, str(user.get("username") or ""))


async def _read(
    request: Coroutine[Any, Any, dict[str, Any]], channel_id: str, *, about: str
) -> dict[str, Any]:
    """Await one read of the ``about`` part, turning Discord's rejections into a clear error.

    Discord answers 403 or 404 for a channel the account cannot see, and 403 on
    ``/users/@me`` for an account it locked.
    """
    try:
        return await request
    except TokenRejectedError:
        raise ConnectionCheckError(REJECTED_ACCOUNT_MESSAGE) from None
    except CaptchaRequiredError:
        raise ConnectionCheckError(CAPTCHA_MESSAGE) from None
    except AccessBlockedError:
        if about == "token":
            raise ConnectionCheckError(ACCOUNT_BLOCKED_MESSAGE) from None
        raise ConnectionCheckError(_unseen_channel(channel_id), "channel") from None
    except InteractionRejectedError as error:
        if about == "channel" and error.status == 404:
            raise ConnectionCheckError(_unseen_channel(channel_id), "channel") from None
        log.warning("checking the account for channel %s failed: %s", channel_id, error)
        raise ConnectionCheckError(
            f"Discord rejected the check of the account (HTTP {error.status}). "
            "Try again in a minute."
        ) from None
    except (RelayError, aiohttp.ClientError, OSError, TimeoutError) as error:
        log.warning("checking the account for channel %s failed: %r", channel_id, error)
        raise ConnectionCheckError(UNREACHABLE_MESSAGE) from None


def _check_channel_server(channel: dict[str, object], guild_id: str, channel_id: str) -> None:
    actual = str(channel.get("guild_id") or "")
    if not actual:
        raise ConnectionCheckError(
            f"Channel {channel_id} is not in a Discord server (it is a direct message). "
            "Link a channel of a server where the Midjourney bot is.",
            "channel",
        )
    if actual != guild_id:
        raise ConnectionCheckError(
            f"Channel {channel_id} is in server {actual}, not in server {guild_id} as the "
            "link says. Copy the channel's link again (right-click the channel, Copy Link).",
            "channel",
        )


def _unseen_channel(channel_id: str) -> str:
    return (
        f"Discord says channel {channel_id} does not exist or your account cannot see it. "
        "Check the link (right-click the channel, Copy Link) and that the account is a "
        "member of the server and may read the channel."
    )


async def _ignore_event(event: ChannelEvent) -> None:
    """Drop events: a checking relay opens no session, so none should come."""


async def ensure_account_is_free(
    session: AsyncSession,
    account: CheckedAccount,
    user_id: int,
    guild_id: str,
    channel_id: str,
) -> None:
    """Raise ConnectionCheckError when this Discord account is connected anywhere else.

    Connecting the user's own channel again is a replacement, not a second connection.
    """
    other = await other_connection_of_account(
        session, account.account_id, user_id, guild_id, channel_id
    )
    if other is None:
        return
    if other.user_id != user_id:
        raise ConnectionCheckError(ACCOUNT_TAKEN_MESSAGE)
    raise ConnectionCheckError(ACCOUNT_IN_OTHER_CHANNEL_MESSAGE.format(channel=other.channel_id))
