"""Discord channel links, as Discord's "Copy Link" gives them, read into server and channel ids."""

from __future__ import annotations

import re

CHANNEL_LINK = re.compile(
    r"^https://(?:ptb\.|canary\.)?discord(?:app)?\.com/channels/(\d+)/(\d+)/?$"
)
CHANNEL_LINK_HELP = (
    "copy it from Discord (right-click the channel, Copy Link): "
    "https://discord.com/channels/<server id>/<channel id>"
)


class ChannelLinkError(ValueError):
    """Text that is not a Discord channel link; ``str(error)`` is safe to show."""


def parse_channel_link(link: str) -> tuple[str, str]:
    """Return the (server id, channel id) of a Discord channel link.

    Raise ChannelLinkError naming the link and how to copy a valid one.
    """
    match = CHANNEL_LINK.match(link.strip())
    if match is None:
        raise ChannelLinkError(
            f"{link.strip()!r} is not a Discord channel link; {CHANNEL_LINK_HELP}"
        )
    return match.group(1), match.group(2)
