"""Classify the Midjourney bot's messages: waiting, progress, results, queue notices, errors.

Midjourney changes its wording without notice, so every test here is a case-insensitive
prefix or substring match, and unknown shapes come back as ``ReplyKind.OTHER`` instead of
raising. Content follows ``**<prompt>** - <action> <@user> <extras> (<NN>%) (<mode>)``.
Errors and notices are embeds with a title, a description and often a footer holding
``/imagine <prompt>``.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from enum import StrEnum

from midjourney.embeds import classify_embed
from midjourney.job_ids import job_uuid_from_custom_id, job_uuid_from_text, job_uuid_from_url
from midjourney.messages import Attachment, Button, ChannelMessage, Embed

__all__ = [
    "Reply",
    "ReplyKind",
    "classify",
    "job_uuid_from_url",
    "upscale_custom_id",
    "variation_custom_id",
]

_log = logging.getLogger(__name__)

_PROMPT = re.compile(r"\*\*(?P<prompt>.*?)\*\*(?=\s*(?:-|$|\n|\())", re.DOTALL)
_MENTION = re.compile(r"<@!?(\d+)>")
_PERCENT = re.compile(r"\((\d{1,3})\s*%\)")
_MODE = re.compile(r"\((fast|relaxed|relax|turbo)(?:\s*,\s*stealth)?\)", re.IGNORECASE)
_IMAGE_NUMBER = re.compile(r"\bImage\s*#\s*(\d+)", re.IGNORECASE)
_UPSCALING_PLACEHOLDER = re.compile(r"^\s*Upscaling\s+image\s*#\s*(\d+)", re.IGNORECASE)
_VARIATION_PLACEHOLDER = re.compile(
    r"^\s*Making\s+variations\s+for\s+image\s*#\s*(\d+)", re.IGNORECASE
)
_VIDEO_PLACEHOLDER = re.compile(r"^\s*Creating\s+video\b", re.IGNORECASE)
_TRANSIENT = re.compile(r"^\s*(Animating|Displaying)\.*\s*$", re.IGNORECASE)
_VIDEO_FLAG = re.compile(r"(?<!\S)--video\b", re.IGNORECASE)
_IMAGE_EXTENSIONS = (".png", ".webp", ".jpg", ".jpeg", ".gif", ".mp4")
_MODES = {"fast": "fast", "relaxed": "relax", "relax": "relax", "turbo": "turbo"}
# The action part between " - " and the mention, as Midjourney words it for each job kind.
_ACTIONS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"\bUpscal(?:ed|ing)\b", re.IGNORECASE), "upscale"),
    (re.compile(r"\bVariations?\b", re.IGNORECASE), "variation"),
    (re.compile(r"\bRemix\b", re.IGNORECASE), "remix"),
    (re.compile(r"\bZoom\s+Out\b", re.IGNORECASE), "zoom"),
    (re.compile(r"\bPan\s+(?:Left|Right|Up|Down)\b", re.IGNORECASE), "pan"),
)


class ReplyKind(StrEnum):
    """The meaning of a Midjourney bot message for the job it belongs to."""

    WAITING = "waiting"
    PROGRESS = "progress"
    GRID = "grid"  # a finished job with a grid (imagine, variation, reroll, zoom, pan…)
    UPSCALE = "upscale"  # one image: "Image #n" or "Upscaled (…) by"
    VARIATION_PLACEHOLDER = "variation-placeholder"
    UPSCALE_PLACEHOLDER = "upscale-placeholder"
    QUEUED = "queued"  # "Job queued": not an error, the job runs later
    QUEUE_FULL = "queue-full"
    FAILED = "failed"
    ACTION_NEEDED = "action-needed"  # soft moderation; an Appeal button may rescue it
    ACCOUNT_BLOCKED = "account-blocked"
    CREDITS_EXHAUSTED = "credits-exhausted"
    STOPPED = "stopped"
    INFO = "info"
    OTHER = "other"


@dataclass(frozen=True, slots=True)
class Reply:
    """A Midjourney bot message, read.

    ``mode`` is "fast", "relax" or "turbo". ``action`` is "imagine", "variation", "remix",
    "reroll", "upscale", "zoom", "pan" or "video" when the message names the action.
    ``failure_category`` holds a ``storage.models.FailureCategory`` value for FAILED.
    """

    kind: ReplyKind
    prompt: str | None = None
    percent: int | None = None
    mode: str | None = None
    job_uuid: str | None = None
    image_index: int | None = None
    action: str | None = None
    image: Attachment | None = None
    failure_category: str | None = None
    title: str = ""
    detail: str = ""
    buttons: tuple[Button, ...] = ()
    mentioned_user_id: str | None = None
    stealth: bool = False


def classify(message: ChannelMessage) -> Reply:
    """Read one Midjourney bot message into a Reply; unknown shapes become OTHER."""
    job_uuid = _job_uuid(message)
    mentioned = _mentioned_user(message)
    embed = _first_titled_embed(message.embeds)
    if embed is not None:
        reply = _embed_reply(message, embed, job_uuid, mentioned)
    else:
        reply = _content_reply(message, job_uuid, mentioned)
    if reply.kind is ReplyKind.OTHER:
        _log.debug("message %s from Midjourney has an unknown shape", message.id)
    return reply


def upscale_custom_id(buttons: Sequence[Button], index: int) -> str | None:
    """Return the custom_id of the U``index`` button, or None when the message has none."""
    return _numbered_custom_id(buttons, "upsample", "U", index)


def variation_custom_id(buttons: Sequence[Button], index: int) -> str | None:
    """Return the custom_id of the V``index`` button, or None when the message has none."""
    return _numbered_custom_id(buttons, "variation", "V", index)


def reroll_custom_id(buttons: Sequence[Button]) -> str | None:
    """Return the custom_id of the 🔄 (reroll) button, or None."""
    for button in buttons:
        if button.custom_id and "::reroll::" in button.custom_id.casefold():
            return button.custom_id
    return None


def _numbered_custom_id(buttons: Sequence[Button], job: str, letter: str, index: int) -> str | None:
    pattern = re.compile(rf"^MJ::JOB::{job}::{index}::", re.IGNORECASE)
    for button in buttons:
        if button.custom_id and pattern.match(button.custom_id):
            return button.custom_id
    # Fall back on the label, because custom_id formats change between model versions.
    for button in buttons:
        if button.custom_id and button.label.strip().upper() == f"{letter}{index}":
            return button.custom_id
    return None


def _embed_reply(
    message: ChannelMessage, embed: Embed, job_uuid: str | None, mentioned: str | None
) -> Reply:
    verdict = classify_embed(embed, message.buttons)
    return Reply(
        kind=ReplyKind(verdict.kind),
        prompt=_footer_prompt(embed.footer) or _content_prompt(message.content),
        job_uuid=job_uuid,
        failure_category=verdict.failure_category,
        title=embed.title,
        detail=embed.description or message.content,
        buttons=message.buttons,
        mentioned_user_id=mentioned,
        image=None,
    )


def _content_reply(message: ChannelMessage, job_uuid: str | None, mentioned: str | None) -> Reply:
    content = message.content
    prompt = _content_prompt(content)
    base = Reply(
        kind=ReplyKind.OTHER,
        prompt=prompt,
        job_uuid=job_uuid,
        detail=content,
        buttons=message.buttons,
        mentioned_user_id=mentioned,
    )
    placeholder = _placeholder_reply(base, content)
    if placeholder is not None:
        return placeholder
    if content.lstrip().casefold().startswith("failed"):
        return _replace(base, kind=ReplyKind.FAILED, failure_category="midjourney-error")
    if prompt is None:
        return base
    return _job_reply(base, message, _after_prompt(content))


def _placeholder_reply(base: Reply, content: str) -> Reply | None:
    upscaling = _UPSCALING_PLACEHOLDER.match(content)
    if upscaling:
        return _replace(
            base,
            kind=ReplyKind.UPSCALE_PLACEHOLDER,
            image_index=int(upscaling[1]),
            action="upscale",
        )
    variations = _VARIATION_PLACEHOLDER.match(content)
    if variations:
        return _replace(
            base,
            kind=ReplyKind.VARIATION_PLACEHOLDER,
            image_index=int(variations[1]),
            action="variation",
        )
    if _VIDEO_PLACEHOLDER.match(content):
        return _replace(base, kind=ReplyKind.VARIATION_PLACEHOLDER, action="video")
    if _TRANSIENT.match(content):
        return _replace(base, kind=ReplyKind.OTHER, action="video")
    return None


def _job_reply(base: Reply, message: ChannelMessage, tail: str) -> Reply:
    """Read the part after ``**prompt**``: action, status group and mode."""
    action = _action(tail, base.prompt or "")
    mode_match = _MODE.search(tail)
    mode = _MODES[mode_match[1].casefold()] if mode_match else None
    stealth = bool(mode_match and "stealth" in mode_match[0].casefold())
    base = _replace(base, action=action, mode=mode, stealth=stealth)
    folded = tail.casefold()

    if "(waiting to start)" in folded:
        return _replace(base, kind=ReplyKind.WAITING)
    if "(stopped)" in folded:
        return _replace(base, kind=ReplyKind.STOPPED)
    percent = _PERCENT.search(tail)
    if percent:
        return _replace(base, kind=ReplyKind.PROGRESS, percent=min(int(percent[1]), 100))
    if "(paused)" in folded:
        # A paused job has not failed and keeps its slot, so it reads as progress.
        return _replace(base, kind=ReplyKind.PROGRESS)
    image_number = _IMAGE_NUMBER.search(tail)
    if image_number:
        return _replace(
            base,
            kind=ReplyKind.UPSCALE,
            image_index=int(image_number[1]),
            action="upscale",
            image=_result_file(message),
        )
    if action == "upscale":
        return _replace(base, kind=ReplyKind.UPSCALE, image=_result_file(message))
    if mode is not None or message.attachments:
        return _replace(base, kind=ReplyKind.GRID, image=_result_file(message))
    return base


def _action(tail: str, prompt: str) -> str:
    before_mention = _MENTION.split(tail, maxsplit=1)[0]
    for pattern, name in _ACTIONS:
        if pattern.search(before_mention):
            return name
    if _VIDEO_FLAG.search(prompt):
        return "video"
    return "imagine"


def _content_prompt(content: str) -> str | None:
    match = _PROMPT.search(content)
    return match["prompt"].strip() if match else None


def _after_prompt(content: str) -> str:
    match = _PROMPT.search(content)
    return content[match.end() :] if match else content


def _footer_prompt(footer: str) -> str | None:
    text = footer.strip()
    if not text.casefold().startswith("/imagine"):
        return None
    text = text[len("/imagine") :].strip()
    text = re.sub(r"^prompt\s*:\s*", "", text, flags=re.IGNORECASE)
    return text or None


def _first_titled_embed(embeds: Sequence[Embed]) -> Embed | None:
    return next((embed for embed in embeds if embed.title.strip()), None)


def _mentioned_user(message: ChannelMessage) -> str | None:
    match = _MENTION.search(message.content)
    return match[1] if match else message.interaction_user_id


def _result_file(message: ChannelMessage) -> Attachment | None:
    for attachment in message.attachments:
        name = attachment.filename.casefold()
        if name.endswith(_IMAGE_EXTENSIONS) and "_grid_0." not in name:
            return attachment
    return None


def _job_uuid(message: ChannelMessage) -> str | None:
    for attachment in message.attachments:
        found = job_uuid_from_url(attachment.filename) or job_uuid_from_url(attachment.url)
        if found:
            return found
    for embed in message.embeds:
        found = job_uuid_from_url(embed.image_url) if embed.image_url else None
        if found:
            return found
    for button in message.buttons:
        found = job_uuid_from_custom_id(button.custom_id or "") or (
            job_uuid_from_url(button.url) if button.url else None
        )
        if found:
            return found
    # 2025-2026 finals link the job page: [(Open on website for full quality)](<…/jobs/<uuid>>).
    return job_uuid_from_text(message.content)


def _replace(reply: Reply, **changes: object) -> Reply:
    return replace(reply, **changes)  # type: ignore[arg-type]
