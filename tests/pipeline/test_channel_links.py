"""Discord channel links read into server and channel ids."""

from __future__ import annotations

import pytest

from pipeline.channel_links import ChannelLinkError, parse_channel_link


@pytest.mark.parametrize(
    "link",
    [
        "https://discord.com/channels/111/222",
        "https://ptb.discord.com/channels/111/222/",
        "  https://discordapp.com/channels/111/222  ",
    ],
)
def test_channel_link_gives_ids(link: str) -> None:
    assert parse_channel_link(link) == ("111", "222")


@pytest.mark.parametrize(
    "link",
    [
        "https://example.com/channels/111/222",
        "https://discord.com/channels/@me/222",
        "http://discord.com/channels/111/222",
        "https://discord.com/channels/111/222/333",
    ],
)
def test_non_channel_link_is_rejected(link: str) -> None:
    with pytest.raises(ChannelLinkError, match="is not a Discord channel link"):
        parse_channel_link(link)
