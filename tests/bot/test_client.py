import discord
import pytest
import yarl

from bot.client import bot_intents, point_discord_py_at
from midjau.settings import DiscordSettings


@pytest.fixture
def restore_discord_addresses():
    base = discord.http.Route.BASE
    gateway = discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY
    yield
    discord.http.Route.BASE = base
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = gateway


def test_default_settings_leave_discord_py_alone(restore_discord_addresses: None) -> None:
    discord.http.Route.BASE = "http://127.0.0.1:1/api/v10"
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL("ws://127.0.0.1:1/gateway")

    point_discord_py_at(DiscordSettings())

    assert discord.http.Route.BASE == "http://127.0.0.1:1/api/v10"
    assert str(discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY) == "ws://127.0.0.1:1/gateway"


def test_other_addresses_are_applied(restore_discord_addresses: None) -> None:
    settings = DiscordSettings(
        api_base="http://127.0.0.1:4321/api/v10/", gateway_url="ws://127.0.0.1:4321/gateway"
    )

    point_discord_py_at(settings)

    assert discord.http.Route.BASE == "http://127.0.0.1:4321/api/v10"
    assert str(discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY) == "ws://127.0.0.1:4321/gateway"


def test_intents_read_messages_without_members() -> None:
    intents = bot_intents()

    assert intents.message_content
    assert intents.guilds
    assert intents.guild_messages
    assert not intents.members
    assert not intents.presences
