"""Every setting of MidJAu, read once from the environment (prefix ``MIDJAU_``) or a ``.env`` file.

This is the only module that reads the environment. Everything else receives a ``Settings``
object (or one of its parts) from the composition root.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path

from pydantic import BaseModel, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

MIB = 1024 * 1024


class PlanSlots(BaseModel):
    """Jobs Midjourney lets one account run at once, per speed mode."""

    fast: int = Field(ge=1, le=50)
    relax: int = Field(ge=0, le=50)


def default_plan_slots() -> dict[str, PlanSlots]:
    # Midjourney's plan table: Basic and Standard run 3 jobs at once, Pro and Mega 12 fast
    # plus 3 relaxed. Operators can lower these when an account's real limit is smaller.
    return {
        "basic": PlanSlots(fast=3, relax=0),
        "standard": PlanSlots(fast=3, relax=3),
        "pro": PlanSlots(fast=12, relax=3),
        "mega": PlanSlots(fast=12, relax=3),
    }


class DiscordSettings(BaseModel):
    """Addresses and limits of Discord (or the sandbox) for the bot and the relay."""

    bot_token: SecretStr | None = None
    api_base: str = "https://discord.com/api/v10"
    gateway_url: str = "wss://gateway.discord.gg/"
    # Seconds discord.py waits after the last GUILD_CREATE before on_ready; tests lower it.
    guild_ready_timeout: float = Field(default=2.0, ge=0)
    # Largest file the bot attaches to one message; bigger outputs are split or linked.
    upload_limit_bytes: int = Field(default=10 * MIB, ge=64 * 1024)
    # Channels where a dropped sheet starts the confirm flow; empty means every channel.
    watched_channel_ids: list[int] = Field(default_factory=list)
    # Minimum seconds between two edits of one progress message.
    progress_edit_interval: float = Field(default=5.0, ge=0)
    # Seconds the bot waits before identifying again after its gateway session was lost;
    # Discord allows one IDENTIFY per 5 s (max_concurrency 1), and discord.py waits 5 s.
    reidentify_delay: float = Field(default=5.0, ge=0)


class PacingSettings(BaseModel):
    """Pace of the relay for a connected Discord user, kept human on purpose."""

    min_gap_seconds: float = Field(default=2.0, ge=0)
    jitter_seconds: float = Field(default=1.5, ge=0)
    daily_cap: int = Field(default=1000, ge=1)
    plan_slots: dict[str, PlanSlots] = Field(default_factory=default_plan_slots)
    # Seconds an account sends nothing after Midjourney replies "Queue full".
    queue_full_backoff_seconds: float = Field(default=30.0, ge=0)
    # Seconds between checks of a paused connection: a cheap authenticated request to
    # Discord, then one queued job sent to see whether Midjourney accepts prompts again.
    resume_probe_seconds: float = Field(default=600.0, gt=0)


class TimeoutSettings(BaseModel):
    """Seconds each stage of a job may take before the tracker looks for it and gives up."""

    waiting_message: float = Field(default=120.0, gt=0)
    progress: float = Field(default=600.0, gt=0)
    # A relax-mode job may stay at "Waiting to start" much longer, because Midjourney
    # queues relax jobs behind other work.
    relax_progress: float = Field(default=3600.0, gt=0)
    final: float = Field(default=1800.0, gt=0)
    upscale: float = Field(default=300.0, gt=0)
    # Midjourney deletes the progress message when the grid arrives; a deletion counts as
    # moderation only when no grid follows within these seconds.
    deleted_progress_grace: float = Field(default=20.0, gt=0)


class IntakeSettings(BaseModel):
    """Limits on the sheets users send."""

    row_limit: int = Field(default=5000, ge=1)
    max_upload_bytes: int = Field(default=20 * MIB, ge=1024)
    permutation_cap: int = Field(default=40, ge=1)
    max_prompt_length: int = Field(default=6000, ge=1)


class SandboxSettings(BaseModel):
    """The offline Discord + Midjourney used by ``midjau demo`` and the tests."""

    host: str = "127.0.0.1"
    port: int = Field(default=0, ge=0, le=65535)
    # Multiplies every simulated Midjourney duration; 0.01 turns a 45 s render into 0.45 s.
    time_scale: float = Field(default=0.02, gt=0)
    job_seconds: float = Field(default=40.0, gt=0)
    plan: str = "pro"

    # The seeded Discord world. Ids are fixed snowflakes so runs are reproducible; the
    # tokens are credentials of the sandbox only, never of real Discord.
    guild_id: str = "1180000000000000001"
    prompts_channel_id: str = "1180000000000000010"
    general_channel_id: str = "1180000000000000011"
    user_id: str = "1180000000000000100"
    user_name: str = "demo"
    user_token: str = "sandbox-user-token"  # noqa: S105 - accepted by the sandbox only
    # The MidJAu bot; its application id equals its user id, as on Discord.
    bot_user_id: str = "1180000000000000200"
    bot_name: str = "MidJAu"
    bot_token: str = "sandbox-bot-token"  # noqa: S105 - accepted by the sandbox only
    # Seconds a signed attachment URL stays valid (Discord: 24 hours).
    attachment_ttl_seconds: float = Field(default=86400.0, gt=0)
    # Largest upload per message, also sent to bots as the interaction's attachment_size_limit.
    upload_limit_bytes: int = Field(default=10 * MIB, ge=1024)
    # Seconds an application has to respond to an interaction before it fails for the user.
    interaction_timeout_seconds: float = Field(default=3.0, gt=0)
    # Seconds an interaction token accepts followups and edits (Discord: 15 minutes).
    interaction_token_ttl_seconds: float = Field(default=900.0, gt=0)
    # Gateway heartbeat interval sent in HELLO, in milliseconds (Discord: 41250).
    heartbeat_interval_ms: int = Field(default=41250, ge=50)
    # OAuth2 client of the MidJAu application, for "Log in with Discord" against the sandbox.
    # Discord uses the application id as the client id.
    oauth_client_id: str = "1180000000000000200"
    oauth_client_secret: str = "sandbox-oauth-client-secret"  # noqa: S105 - sandbox only
    # Redirect URIs the sandbox accepts; empty accepts any, since test sites bind port 0.
    oauth_redirect_uris: list[str] = Field(default_factory=list)
    # Seconds an authorization code can be exchanged (Discord: about 10 minutes).
    oauth_code_ttl_seconds: float = Field(default=600.0, gt=0)
    # Lifetime of an access token, sent as expires_in (Discord: 604800, one week).
    oauth_token_ttl_seconds: int = Field(default=604800, gt=0)


class WebSettings(BaseModel):
    """The aiohttp site."""

    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65535)
    # Public address of the site; when set, outputs too big for Discord are sent as links,
    # mails link to it, and the session cookie is Secure when it starts with https.
    public_url: str | None = None
    # Version of the terms and privacy policy a new account accepts; stored with the account.
    terms_version: str = "2026-12"
    # Google Analytics 4 and Meta Pixel ids; without one, its script never loads.
    ga4_measurement_id: str | None = None
    meta_pixel_id: str | None = None
    # "Log in with Discord" (OAuth2); the sandbox serves the same endpoints under its base.
    discord_client_id: str | None = None
    discord_client_secret: SecretStr | None = None
    discord_oauth_base: str = "https://discord.com"
    # Days a login lasts without being used again.
    session_days: int = Field(default=14, ge=1)
    # Reverse proxies (addresses or networks such as "10.0.0.0/8") whose X-Forwarded-For
    # header names the real client; rate limits count per client, not per proxy.
    trusted_proxies: list[str] = Field(default_factory=list)

    @property
    def site_url(self) -> str:
        """Return the address users open the site at: the public one, or host and port.

        A site listening on every address (0.0.0.0, ::) is named by its loopback address.
        """
        if self.public_url:
            return self.public_url
        # Not a bind: the wildcard addresses are only translated for a link.
        wildcards = {"": "127.0.0.1", "0.0.0.0": "127.0.0.1", "::": "[::1]"}  # noqa: S104
        host = wildcards.get(self.host, self.host)
        if ":" in host and not host.startswith("["):
            host = f"[{host}]"  # an IPv6 address in a URL
        return f"http://{host}:{self.port}"

    @property
    def discord_login(self) -> bool:
        """Return whether "Log in with Discord" is set up."""
        return bool(self.discord_client_id and self.discord_client_secret)

    @field_validator("trusted_proxies")
    @classmethod
    def _valid_networks(cls, proxies: list[str]) -> list[str]:
        for proxy in proxies:
            try:
                ipaddress.ip_network(proxy, strict=False)
            except ValueError:
                raise ValueError(
                    f"trusted proxy {proxy!r} is not an IP address or network; "
                    'write it like "127.0.0.1" or "10.0.0.0/8"'
                ) from None
        return proxies


class MailSettings(BaseModel):
    """The SMTP server that sends verification, reset and support mails."""

    host: str = "127.0.0.1"
    port: int = Field(default=25, ge=1, le=65535)
    username: str | None = None
    password: SecretStr | None = None
    # use_tls: TLS from the first byte (port 465); start_tls: upgrade with STARTTLS.
    use_tls: bool = False
    start_tls: bool = False
    sender: str = "MidJAu <no-reply@midjau.local>"
    # Address that receives support tickets.
    operator: str = "operator@midjau.local"
    # Seconds to wait for the SMTP server before a send fails.
    timeout_seconds: float = Field(default=30.0, gt=0)


class Settings(BaseSettings):
    """All MidJAu settings."""

    model_config = SettingsConfigDict(
        env_prefix="MIDJAU_",
        env_nested_delimiter="__",
        env_file=".env",
        extra="ignore",
    )

    data_dir: Path = Path("data")
    database_url: str = ""
    blob_dir: Path | None = None
    # Fernet key that encrypts Discord tokens at rest; generated into data_dir when unset.
    secret_key: SecretStr | None = None
    log_level: str = "INFO"
    # Discord user token for `midjau connect`, so it never appears in a command line.
    connect_token: SecretStr | None = None
    # Days the outputs of a finished batch are kept before the scheduler deletes them.
    output_retention_days: float = Field(default=7.0, gt=0)

    discord: DiscordSettings = Field(default_factory=DiscordSettings)
    pacing: PacingSettings = Field(default_factory=PacingSettings)
    timeouts: TimeoutSettings = Field(default_factory=TimeoutSettings)
    intake: IntakeSettings = Field(default_factory=IntakeSettings)
    sandbox: SandboxSettings = Field(default_factory=SandboxSettings)
    web: WebSettings = Field(default_factory=WebSettings)
    mail: MailSettings = Field(default_factory=MailSettings)

    @model_validator(mode="after")
    def _fill_paths(self) -> Settings:
        if not self.database_url:
            self.database_url = f"sqlite+aiosqlite:///{(self.data_dir / 'midjau.db').resolve()}"
        if self.blob_dir is None:
            self.blob_dir = self.data_dir / "blobs"
        return self

    @property
    def blobs_path(self) -> Path:
        assert self.blob_dir is not None  # set by _fill_paths
        return self.blob_dir
