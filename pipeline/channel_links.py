"""Discord channel links, as Discord's "Copy Link" gives them, read into server and channel ids."""

from __future__ import annotations

import re

CHANNEL_LINK = re.compile(
    r"^https://(?:ptb\.|canary\.)?discord(?:app)?\.com/channels/([^/\s]+)/([^/\s]+)/?$"
)
CHANNEL_LINK_HELP = (
    "copy it from Discord (right-click the channel, Copy Link): "
    "https://discord.com/channels/<server id>/<channel id>"
)
# Discord ids are snowflakes: 64-bit integers, 17 to 20 digits for any id made since 2015.
SNOWFLAKE_DIGITS = range(17, 21)
SNOWFLAKE_LIMIT = 2**63
# Text of a link quoted in a message beyond which it is cut, so a huge paste stays readable.
MAX_QUOTED_LINK = 120


class ChannelLinkError(ValueError):
    """Text that is not a Discord channel link; ``str(error)`` is safe to show."""


def parse_channel_link(link: str) -> tuple[str, str]:
    """Return the (server id, channel id) of a Discord channel link.

    Raise ChannelLinkError naming the link, the part that is wrong, and how to copy a
    valid one.
    """
    text = link.strip()
    match = CHANNEL_LINK.match(text)
    if match is None:
        raise ChannelLinkError(
            f"{_quoted(text)} is not a Discord channel link; {CHANNEL_LINK_HELP}"
        )
    guild_id, channel_id = match.group(1), match.group(2)
    for part, value in (("server id", guild_id), ("channel id", channel_id)):
        if not is_snowflake(value):
            raise ChannelLinkError(
                f"{_quoted(text)} has {part} {_quoted(value)}, which is not a Discord id "
                f"(Discord ids are 17 to 20 digits); {CHANNEL_LINK_HELP}"
            )
    return guild_id, channel_id


def is_snowflake(value: str) -> bool:
    """Return whether ``value`` has the shape of a Discord id (a snowflake)."""
    return (
        value.isascii()
        and value.isdigit()
        and len(value) in SNOWFLAKE_DIGITS
        and int(value) < SNOWFLAKE_LIMIT
    )


def _quoted(text: str) -> str:
    if len(text) <= MAX_QUOTED_LINK:
        return repr(text)
    return f"{text[:MAX_QUOTED_LINK]!r}… ({len(text):,} characters)"
