"""Pause causes of a connection, in plain English, and the advice for its owner.

A pause reason is stored as the text that caused it: Midjourney's embed title and
description, or the relay's message for a Discord error. The cause is read back from that
text, so a pause recorded by an older process is explained the same way.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

MIDJOURNEY_ACCOUNT_PAGE = "https://www.midjourney.com/account"
# The stored reason of a connection paused because its owner restricted processing.
RESTRICTED_REASON = "Processing restricted by the account owner"


class PauseCause(StrEnum):
    """The cause that paused a connection."""

    PENDING_MODERATION = "pending-moderation"
    CAPTCHA = "captcha"
    SUBSCRIPTION = "subscription"
    TERMS = "terms"
    TOKEN_REJECTED = "token-rejected"  # noqa: S105 - a cause's name, not a credential
    ACCESS_BLOCKED = "access-blocked"
    FAST_HOURS_USED_UP = "fast-hours-used-up"
    # The account's Discord session did not open, e.g. Discord returned "Unknown Guild".
    SESSION_FAILED = "session-failed"
    # The owner restricted the processing of their data; only lifting it resumes.
    RESTRICTED = "restricted"
    OTHER = "other"

    @property
    def needs_trial(self) -> bool:
        """Whether only a sent job shows the account works again.

        A rejected token, or a session that did not start, is fixed once Discord opens
        the session. Every other cause is decided by Discord or Midjourney when a prompt
        is sent.
        """
        return self not in (PauseCause.TOKEN_REJECTED, PauseCause.SESSION_FAILED)

    @property
    def is_probed(self) -> bool:
        """Whether a probe checks the account and resumes it once it works again."""
        return self is not PauseCause.RESTRICTED


# Fragments of the casefolded reason, checked in order; the first match wins. Midjourney's
# titles come from its embeds, the Discord ones from midjourney.relay's error messages.
_CAUSE_FRAGMENTS: tuple[tuple[str, PauseCause], ...] = (
    (RESTRICTED_REASON.casefold(), PauseCause.RESTRICTED),
    ("discord session did not start", PauseCause.SESSION_FAILED),
    ("pending mod", PauseCause.PENDING_MODERATION),
    ("captcha", PauseCause.CAPTCHA),
    ("verify you are human", PauseCause.CAPTCHA),
    ("action required", PauseCause.CAPTCHA),
    ("subscription", PauseCause.SUBSCRIPTION),
    ("plan cancel", PauseCause.SUBSCRIPTION),
    ("tos not accepted", PauseCause.TERMS),
    ("credits exhausted", PauseCause.FAST_HOURS_USED_UP),
    ("fast hours", PauseCause.FAST_HOURS_USED_UP),
    ("token", PauseCause.TOKEN_REJECTED),
    ("http 401", PauseCause.TOKEN_REJECTED),
    ("discord blocked", PauseCause.ACCESS_BLOCKED),
    ("http 403", PauseCause.ACCESS_BLOCKED),
)


@dataclass(frozen=True, slots=True)
class PauseDescription:
    """A pause explained to the connection's owner."""

    cause: PauseCause
    reason: str
    advice: str
    # Whether the stored link (Midjourney's message) belongs in the notice.
    shows_link: bool


_DESCRIPTIONS: dict[PauseCause, tuple[str, str, bool]] = {
    PauseCause.PENDING_MODERATION: (
        "Midjourney sent a pending moderation message and accepts no more prompts from "
        "this account until it is acknowledged.",
        "Open Midjourney's message, read it and press its Acknowledge button.",
        True,
    ),
    PauseCause.CAPTCHA: (
        "Discord or Midjourney asks the connected account to solve a CAPTCHA.",
        "Open Discord with this account, run one /imagine by hand in the channel and solve "
        "the CAPTCHA.",
        False,
    ),
    PauseCause.SUBSCRIPTION: (
        "Midjourney says the account's subscription has ended or is paused.",
        f"Renew or resume the Midjourney subscription at {MIDJOURNEY_ACCOUNT_PAGE}.",
        True,
    ),
    PauseCause.TERMS: (
        "Midjourney asks the account to accept its terms of service.",
        "Open Midjourney's message and press Accept ToS.",
        True,
    ),
    PauseCause.TOKEN_REJECTED: (
        "Discord rejected the connected account's token (HTTP 401): it was revoked, or "
        "the account's password was changed.",
        "Connect the account again with the MidJAu browser extension.",
        False,
    ),
    PauseCause.ACCESS_BLOCKED: (
        "Discord refused the connected account's request (HTTP 403): the account may be "
        "locked or flagged, or may not use the channel.",
        "Log in to Discord with this account, deal with any warning or lock, and check "
        "that it can post in the channel.",
        False,
    ),
    PauseCause.FAST_HOURS_USED_UP: (
        "Midjourney says the account's fast hours are used up.",
        f"Buy more fast hours at {MIDJOURNEY_ACCOUNT_PAGE}, or let MidJAu go on in relax "
        "mode with /connection settings (plans with relax mode only).",
        False,
    ),
    PauseCause.SESSION_FAILED: (
        "The connected account's Discord session did not start: Discord refused the "
        "server or channel of the connection, or could not be reached",
        "Check the channel link, and connect again with the channel's own link (right-click "
        "the channel, Copy Link) if it is wrong.",
        False,
    ),
    PauseCause.RESTRICTED: (
        "You restricted the processing of your data, so MidJAu sends nothing from this account.",
        "Lift the restriction on the Your data page of the MidJAu dashboard to go on.",
        False,
    ),
    PauseCause.OTHER: (
        "Midjourney or Discord stopped the connected account",
        "Check the account in Discord.",
        True,
    ),
}


def classify_pause(reason: str) -> PauseCause:
    """Return the cause of a pause from its stored reason; unknown text is OTHER."""
    text = reason.casefold()
    for fragment, cause in _CAUSE_FRAGMENTS:
        if fragment in text:
            return cause
    return PauseCause.OTHER


def describe_pause(reason: str, probe_seconds: float) -> PauseDescription:
    """Explain a stored pause reason: what happened and what the owner should do."""
    cause = classify_pause(reason)
    text, advice, shows_link = _DESCRIPTIONS[cause]
    if cause in (PauseCause.OTHER, PauseCause.SESSION_FAILED):
        text = f"{text}: {reason.strip() or 'no reason given'}."
    if not cause.is_probed:
        return PauseDescription(cause, text, advice, shows_link)
    advice = (
        f"{advice} MidJAu checks the account every {_duration(probe_seconds)} and goes on "
        "by itself once it works again; press Resume to go on at once."
    )
    return PauseDescription(cause, text, advice, shows_link)


def message_link(guild_id: str, channel_id: str, message_id: str) -> str:
    """Return the Discord link that opens a message."""
    return f"https://discord.com/channels/{guild_id}/{channel_id}/{message_id}"


def with_guild(link: str, guild_id: str) -> str:
    """Fill in the guild of a message link built without one (``/channels//…``)."""
    return link.replace("/channels//", f"/channels/{guild_id}/", 1) if link else ""


def _duration(seconds: float) -> str:
    if seconds >= 120:
        return f"{round(seconds / 60)} minutes"
    return f"{seconds:g} seconds"
