"""The seeded Discord world of the sandbox: one guild, its channels, roles and accounts."""

from __future__ import annotations

from dataclasses import dataclass, field

from midjau.settings import SandboxSettings
from midjourney.messages import MIDJOURNEY_BOT_ID

TEXT_CHANNEL = 0
DM_CHANNEL = 1

# Permission bits granted to @everyone: view channel, send messages, embed links, attach
# files, read message history, add reactions, use external emojis, use application commands.
EVERYONE_PERMISSIONS = (
    (1 << 10) | (1 << 11) | (1 << 14) | (1 << 15) | (1 << 16) | (1 << 6) | (1 << 18) | (1 << 31)
)
# Intent bit a bot needs to read other users' message content.
MESSAGE_CONTENT_INTENT = 1 << 15
GUILD_MESSAGES_INTENT = 1 << 9
DIRECT_MESSAGES_INTENT = 1 << 12


@dataclass(slots=True)
class Account:
    """A Discord user, bot or human, with the token the sandbox accepts for it (if any)."""

    id: str
    username: str
    bot: bool = False
    token: str | None = None
    global_name: str | None = None
    avatar: str | None = None
    discriminator: str = "0"
    role_ids: list[str] = field(default_factory=list)


@dataclass(slots=True)
class Channel:
    """A guild text channel (or a DM, which has no guild)."""

    id: str
    name: str
    position: int
    guild_id: str | None
    type: int = TEXT_CHANNEL
    topic: str | None = None


@dataclass(slots=True)
class Role:
    """A guild role."""

    id: str
    name: str
    permissions: int
    position: int = 0
    managed: bool = False


@dataclass(slots=True)
class Guild:
    """The one guild of the sandbox."""

    id: str
    name: str
    owner_id: str
    channels: dict[str, Channel] = field(default_factory=dict)
    roles: dict[str, Role] = field(default_factory=dict)
    member_ids: list[str] = field(default_factory=list)
    joined_at: str = "2024-01-01T00:00:00.000000+00:00"


@dataclass(slots=True)
class World:
    """Everything seeded at start: accounts by id and the guild."""

    accounts: dict[str, Account]
    guild: Guild

    def account_for_token(self, token: str, *, bot: bool) -> Account | None:
        """Return the account whose token matches and whose kind (bot or user) fits."""
        for account in self.accounts.values():
            if account.token == token and account.bot == bot:
                return account
        return None

    def add_member(self, account: Account) -> None:
        """Add an account to the accounts and to the guild's members (once)."""
        self.accounts.setdefault(account.id, account)
        if account.id not in self.guild.member_ids:
            self.guild.member_ids.append(account.id)


def build_world(settings: SandboxSettings) -> World:
    """Seed the guild "MidJAu Sandbox" with #prompts, #general, the demo user and two bots."""
    human = Account(
        id=settings.user_id,
        username=settings.user_name,
        global_name=settings.user_name.title(),
        token=settings.user_token,
    )
    midjau_bot = Account(
        id=settings.bot_user_id,
        username=settings.bot_name,
        bot=True,
        token=settings.bot_token,
        discriminator="0001",
    )
    midjourney_bot = Account(
        id=MIDJOURNEY_BOT_ID, username="Midjourney Bot", bot=True, discriminator="9282"
    )
    guild = Guild(id=settings.guild_id, name="MidJAu Sandbox", owner_id=human.id)
    guild.roles[guild.id] = Role(id=guild.id, name="@everyone", permissions=EVERYONE_PERMISSIONS)
    guild.channels[settings.prompts_channel_id] = Channel(
        id=settings.prompts_channel_id, name="prompts", position=0, guild_id=guild.id
    )
    guild.channels[settings.general_channel_id] = Channel(
        id=settings.general_channel_id, name="general", position=1, guild_id=guild.id
    )

    world = World(accounts={}, guild=guild)
    for account in (human, midjau_bot, midjourney_bot):
        world.add_member(account)
    return world
