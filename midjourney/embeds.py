"""Classify Midjourney's embeds: queue notices, errors, moderation and account states.

Titles are matched case-insensitively by prefix or substring, because Midjourney rewords
them (e.g. "Banned prompt" and "Banned prompt detected") without notice.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from midjourney.messages import Button, Embed

# Discord's pure red, which Midjourney uses for errors.
ERROR_COLOR = 0xFF0000


@dataclass(frozen=True, slots=True)
class EmbedVerdict:
    """The meaning of an embed: a ReplyKind value and, for failures, a FailureCategory value."""

    kind: str
    failure_category: str | None = None


_QUEUED = EmbedVerdict("queued")
_QUEUE_FULL = EmbedVerdict("queue-full")
_INVALID = EmbedVerdict("failed", "invalid")
_MODERATED = EmbedVerdict("failed", "moderated")
_FILTERED = EmbedVerdict("failed", "filtered")
_MIDJOURNEY_ERROR = EmbedVerdict("failed", "midjourney-error")
_ACTION_NEEDED = EmbedVerdict("action-needed")
_ACCOUNT_BLOCKED = EmbedVerdict("account-blocked")
_CREDITS_EXHAUSTED = EmbedVerdict("credits-exhausted")
_INFO = EmbedVerdict("info")
_OTHER = EmbedVerdict("other")

# Title fragments, checked in order; the first that the casefolded title contains wins.
_TITLE_RULES: tuple[tuple[str, EmbedVerdict], ...] = (
    ("job queued", _QUEUED),
    ("queue full", _QUEUE_FULL),
    ("action needed", _ACTION_NEEDED),
    ("appeal rejected", _MODERATED),
    ("appeal denied", _MODERATED),
    ("pending mod", _ACCOUNT_BLOCKED),
    ("captcha", _ACCOUNT_BLOCKED),
    ("action required", _ACCOUNT_BLOCKED),
    ("subscription required", _ACCOUNT_BLOCKED),
    ("subscription paused", _ACCOUNT_BLOCKED),
    ("plan cancel", _ACCOUNT_BLOCKED),
    ("tos not accepted", _ACCOUNT_BLOCKED),
    ("credits exhausted", _CREDITS_EXHAUSTED),
    ("fast hours", _CREDITS_EXHAUSTED),
    ("your info", _INFO),
    ("banned", _MODERATED),
    ("output filter", _FILTERED),
    ("invalid", _INVALID),
    ("empty prompt", _INVALID),
    ("duplicate images", _INVALID),
    ("job action restricted", _INVALID),
    ("could not complete", _MIDJOURNEY_ERROR),
    ("failed", _MIDJOURNEY_ERROR),
    ("error", _MIDJOURNEY_ERROR),
    ("denied", _MIDJOURNEY_ERROR),
)
_BLOCKED_WORD = re.compile(r"\bblocked\b")
# The 2024 wording of the soft-moderation prompt, seen without the usual title.
_SOFT_MODERATION = ("ai moderator", "community standards")
_HUMAN_CHECK = ("verify you are human", "are you human", "prove you are human")


def classify_embed(embed: Embed, buttons: Sequence[Button]) -> EmbedVerdict:
    """Return what a titled Midjourney embed means; unknown non-red embeds are OTHER."""
    title = embed.title.casefold()
    description = embed.description.casefold()

    if _has_custom_id(buttons, "mj::captcha") or any(text in description for text in _HUMAN_CHECK):
        return _ACCOUNT_BLOCKED
    for fragment, verdict in _TITLE_RULES:
        if fragment in title:
            return verdict
    if _BLOCKED_WORD.search(title):
        return _ACCOUNT_BLOCKED
    if _has_custom_id(buttons, "mj::prompts::appeal"):
        return _ACTION_NEEDED
    if all(text in description for text in _SOFT_MODERATION):
        return _ACTION_NEEDED
    if "could not complete" in description:
        return _MIDJOURNEY_ERROR
    if embed.color == ERROR_COLOR:
        return _MIDJOURNEY_ERROR
    return _OTHER


def _has_custom_id(buttons: Sequence[Button], prefix: str) -> bool:
    return any(
        button.custom_id and button.custom_id.casefold().startswith(prefix) for button in buttons
    )
