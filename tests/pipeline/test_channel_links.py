"""Discord channel links read into server and channel ids."""

from __future__ import annotations

import pytest

from pipeline.channel_links import ChannelLinkError, parse_channel_link

GUILD = "1180000000000000001"
CHANNEL = "1180000000000000010"


@pytest.mark.parametrize(
    "link",
    [
        f"https://discord.com/channels/{GUILD}/{CHANNEL}",
        f"https://ptb.discord.com/channels/{GUILD}/{CHANNEL}/",
        f"  https://discordapp.com/channels/{GUILD}/{CHANNEL}  ",
    ],
)
def test_channel_link_gives_ids(link: str) -> None:
    assert parse_channel_link(link) == (GUILD, CHANNEL)


@pytest.mark.parametrize(
    "link",
    [
        f"https://example.com/channels/{GUILD}/{CHANNEL}",
        f"http://discord.com/channels/{GUILD}/{CHANNEL}",
        f"https://discord.com/channels/{GUILD}/{CHANNEL}/333",
    ],
)
def test_non_channel_link_is_rejected(link: str) -> None:
    with pytest.raises(ChannelLinkError, match="is not a Discord channel link"):
        parse_channel_link(link)


@pytest.mark.parametrize(
    ("link", "part"),
    [
        (f"https://discord.com/channels/1/{CHANNEL}", "server id '1'"),
        (f"https://discord.com/channels/@me/{CHANNEL}", "server id '@me'"),
        (f"https://discord.com/channels/{GUILD}/2", "channel id '2'"),
        (f"https://discord.com/channels/{GUILD}/{'9' * 20}", f"channel id '{'9' * 20}'"),
        (f"https://discord.com/channels/{GUILD}/{CHANNEL}x", "channel id"),
    ],
)
def test_link_with_an_id_that_is_not_a_snowflake_names_the_part(link: str, part: str) -> None:
    with pytest.raises(ChannelLinkError, match="is not a Discord id") as caught:
        parse_channel_link(link)

    assert part in str(caught.value)


def test_huge_link_is_quoted_short() -> None:
    link = f"https://discord.com/channels/{'1' * 5000}/{CHANNEL}"

    with pytest.raises(ChannelLinkError) as caught:
        parse_channel_link(link)

    assert "server id" in str(caught.value)
    assert len(str(caught.value)) < 600
