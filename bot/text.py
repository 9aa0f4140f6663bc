"""Make user-supplied text safe to echo in Discord, and fit it into Discord's limits."""

from __future__ import annotations

import re

# Discord's limits on one message's content and on one button's label.
MESSAGE_LIMIT = 2000
BUTTON_LABEL_LIMIT = 80

ZERO_WIDTH_SPACE = "\u200b"

# discord.utils.escape_mentions matches only ids of 17 to 20 digits. This pattern matches any
# run of digits after "@", so a short id typed by hand is defused as well.
_MENTION = re.compile(r"@(everyone|here|[!&]?\d+)")


def defuse_mentions(text: str) -> str:
    """Break ``@everyone``, ``@here`` and user or role mentions so they render but never ping.

    A zero-width space after the ``@`` keeps the text readable while Discord no longer
    parses it as a mention. The bot also sends with allowed mentions off; this is the
    second guard, for text a user wrote and the bot echoes.
    """
    return _MENTION.sub(f"@{ZERO_WIDTH_SPACE}\\1", text)


def shorten(text: str, limit: int = MESSAGE_LIMIT, *, placeholder: str = "…") -> str:
    """Cut ``text`` to at most ``limit`` characters, ending with ``placeholder`` when cut."""
    if limit < len(placeholder):
        raise ValueError(f"limit {limit} is shorter than the placeholder {placeholder!r}")
    if len(text) <= limit:
        return text
    return text[: limit - len(placeholder)].rstrip() + placeholder


def echo(text: str, limit: int = MESSAGE_LIMIT) -> str:
    """Prepare user-supplied text for a message: defuse its mentions, then shorten it."""
    return shorten(defuse_mentions(text), limit)


def join_within(lines: list[str], limit: int, *, more: str = "…and {count} more") -> str:
    """Join ``lines`` with newlines, dropping the tail and saying how many were left out.

    The result, including the "and N more" line, is at most ``limit`` characters. Lines are
    kept in order until the next one would not fit, so a long line is dropped, not cut.
    """
    kept: list[str] = []
    used = 0
    for index, line in enumerate(lines):
        remaining = len(lines) - index - 1
        tail = len(more.format(count=remaining)) + 1 if remaining else 0
        cost = len(line) + (1 if kept else 0)
        if used + cost + tail > limit:
            omitted = len(lines) - index
            note = more.format(count=omitted)
            if not kept:
                return shorten(note, limit)
            return "\n".join([*kept, note])
        kept.append(line)
        used += cost
    return "\n".join(kept)


def sentence(text: str) -> str:
    """Strip ``text`` and end it with a full stop unless it already ends a sentence."""
    text = text.strip()
    if not text or text[-1] in ".!?…":
        return text
    return text + "."


def plural(count: int, noun: str) -> str:
    """Return ``count`` with ``noun``, adding an s unless the count is one."""
    return f"{count:,} {noun}" if count == 1 else f"{count:,} {noun}s"
