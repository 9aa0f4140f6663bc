"""The connection forms: the manual connect form and the pace form, read and checked."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

from midjourney.plans import Plan
from pipeline.channel_links import ChannelLinkError, parse_channel_link
from pipeline.connection_edits import DAILY_CAP_RANGE, MIN_GAP_RANGE
from web.handlers import form_text

PLAN_CHOICES = tuple(plan.value for plan in Plan)
MAX_LABEL_LENGTH = 100
# Discord user tokens are about 70 characters; anything far longer is a paste mistake.
MAX_TOKEN_LENGTH = 512


class ConnectionFormError(Exception):
    """A form field is missing or invalid; ``str(error)`` is safe to show."""

    def __init__(self, field_name: str, message: str) -> None:
        super().__init__(message)
        self.field_name = field_name


@dataclass(frozen=True, slots=True)
class ConnectForm:
    """A checked manual connect form; the token never appears in a repr."""

    token: str = field(repr=False)
    guild_id: str
    channel_id: str
    plan: str
    label: str


def read_connect_form(form: Mapping[str, object]) -> ConnectForm:
    """Read the connect form; raise ConnectionFormError naming the first bad field."""
    token = form_text(form, "token")
    if not token:
        raise ConnectionFormError(
            "token", "Paste the Discord token of the account that runs Midjourney."
        )
    if len(token) > MAX_TOKEN_LENGTH:
        raise ConnectionFormError(
            "token",
            f"That is too long for a Discord token: it has {len(token):,} characters, and a "
            f"token has about 70 (at most {MAX_TOKEN_LENGTH}). Copy only the token, once.",
        )
    if any(character.isspace() for character in token):
        raise ConnectionFormError(
            "token",
            "That is not a Discord token: a token is one word of letters, digits, dots, "
            "dashes and underscores. Copy it again, without spaces.",
        )

    link = form_text(form, "channel_link")
    if not link:
        raise ConnectionFormError(
            "channel_link",
            "Paste the link of the channel where Midjourney should work: "
            "https://discord.com/channels/<server id>/<channel id>",
        )
    try:
        guild_id, channel_id = parse_channel_link(link)
    except ChannelLinkError as error:
        raise ConnectionFormError("channel_link", f"The channel link {error}.") from None

    plan = form_text(form, "plan") or Plan.STANDARD.value
    if plan not in PLAN_CHOICES:
        raise ConnectionFormError(
            "plan", f"Plan '{plan}' is not a Midjourney plan. Choose {', '.join(PLAN_CHOICES)}."
        )
    label = form_text(form, "label")
    if len(label) > MAX_LABEL_LENGTH:
        raise ConnectionFormError(
            "label", f"The name is {len(label)} characters; keep it to {MAX_LABEL_LENGTH}."
        )
    return ConnectForm(token, guild_id, channel_id, plan, label)


@dataclass(frozen=True, slots=True)
class PaceForm:
    """A checked pace form; None keeps the default of the settings."""

    daily_cap: int | None
    min_gap_seconds: float | None


def read_pace_form(form: Mapping[str, object]) -> PaceForm:
    """Read the pace form; raise ConnectionFormError naming the first bad field."""
    return PaceForm(
        daily_cap=_read_daily_cap(form_text(form, "daily_cap")),
        min_gap_seconds=_read_min_gap(form_text(form, "min_gap_seconds")),
    )


def _read_daily_cap(text: str) -> int | None:
    if not text:
        return None
    low, high = DAILY_CAP_RANGE
    if not text.isdigit() or not low <= int(text) <= high:
        raise ConnectionFormError(
            "daily_cap",
            f"Daily cap '{text}' is not valid: give a whole number of prompts from {low} "
            f"to {high}, or leave it empty for the default.",
        )
    return int(text)


def _read_min_gap(text: str) -> float | None:
    if not text:
        return None
    low, high = MIN_GAP_RANGE
    try:
        seconds = float(text)
    except ValueError:
        seconds = math.nan
    if not math.isfinite(seconds) or not low <= seconds <= high:
        raise ConnectionFormError(
            "min_gap_seconds",
            f"Minimum gap '{text}' is not valid: give seconds from {low:g} to {high:g}, "
            "or leave it empty for the default.",
        )
    return seconds
