"""Midjourney bot messages as Discord's gateway delivers them, for the engine's tests."""

from __future__ import annotations

import itertools
import time
import uuid
from typing import Any

from midjourney.messages import MIDJOURNEY_BOT_ID, ChannelMessage
from midjourney.snowflake import DISCORD_EPOCH_MS

USER_ID = "402193844750254081"
CHANNEL_ID = "1187765412345678901"
GUILD_ID = "1187765400000000000"
RED = 16711680

_increment = itertools.count()


def next_id() -> str:
    """Return a fresh message or attachment snowflake made now, as Discord would."""
    milliseconds = int(time.time() * 1000) - DISCORD_EPOCH_MS
    return str((milliseconds << 22) | (next(_increment) & 0x3FFFFF))


def new_job_uuid() -> str:
    """Return a Midjourney job uuid."""
    return str(uuid.uuid4())


def message_payload(message_id: str | None = None, **fields: Any) -> dict[str, Any]:
    """Return a MESSAGE_CREATE/UPDATE body from the Midjourney bot with ``fields`` set."""
    message: dict[str, Any] = {
        "id": message_id or next_id(),
        "type": 0,
        "channel_id": CHANNEL_ID,
        "guild_id": GUILD_ID,
        "author": {
            "id": MIDJOURNEY_BOT_ID,
            "username": "Midjourney Bot",
            "discriminator": "9282",
            "bot": True,
        },
        "content": "",
        "attachments": [],
        "embeds": [],
        "components": [],
        "flags": 0,
        "timestamp": "2026-06-14T10:21:33.512000+00:00",
    }
    message.update(fields)
    return message


def attachment(filename: str, url: str, *, width: int = 64, height: int = 64) -> dict[str, Any]:
    """Return an attachment object."""
    return {
        "id": next_id(),
        "filename": filename,
        "size": 4096,
        "url": url,
        "proxy_url": url.replace("cdn.discordapp.com", "media.discordapp.net"),
        "width": width,
        "height": height,
        "content_type": "image/png",
    }


VARIATIONS = "Variations (Strong) by"


def _lead(action: str) -> str:
    return f"{action} " if action else ""


def waiting(
    prompt: str,
    *,
    nonce: str | None,
    message_id: str | None = None,
    interaction_id: str | None = None,
    action: str = "",
    reference_id: str | None = None,
) -> ChannelMessage:
    """Return the "Waiting to start" message that carries the request's nonce.

    ``action`` is the part before the mention ("Variations (Strong) by"); a variation's
    waiting message replies to the grid its button was pressed on (``reference_id``).
    """
    fields: dict[str, Any] = {
        "type": 20,
        "content": f"**{prompt}** - {_lead(action)}<@{USER_ID}> (Waiting to start)",
        "nonce": nonce,
    }
    if reference_id:
        fields["message_reference"] = {"message_id": reference_id, "channel_id": CHANNEL_ID}
    if interaction_id:
        fields["interaction_metadata"] = {
            "id": interaction_id,
            "type": 2,
            "name": "imagine",
            "user": {"id": USER_ID},
        }
    return ChannelMessage.from_payload(message_payload(message_id, **fields))


def progress(
    prompt: str,
    message_id: str,
    percent: int,
    job_uuid: str,
    base_url: str = "https://cdn.discordapp.com",
    *,
    action: str = "",
) -> ChannelMessage:
    """Return an edit of the progress message with a preview naming the job uuid."""
    preview = attachment(
        f"{job_uuid}_grid_0.webp",
        f"{base_url}/ephemeral-attachments/{CHANNEL_ID}/1/{job_uuid}_grid_0.webp",
        width=512,
        height=512,
    )
    return ChannelMessage.from_payload(
        message_payload(
            message_id,
            content=f"**{prompt}** - {_lead(action)}<@{USER_ID}> ({percent}%) (fast)",
            attachments=[preview],
        )
    )


def grid(
    prompt: str,
    job_uuid: str,
    url: str,
    *,
    message_id: str | None = None,
    reference_id: str | None = None,
    width: int = 64,
    height: int = 64,
    action: str = "",
) -> ChannelMessage:
    """Return a final grid message with U1-U4, reroll and V1-V4 buttons."""
    buttons = [
        {
            "type": 2,
            "style": 2,
            "label": f"U{i}",
            "custom_id": f"MJ::JOB::upsample::{i}::{job_uuid}",
        }
        for i in range(1, 5)
    ]
    buttons.append(
        {
            "type": 2,
            "style": 2,
            "emoji": {"name": "🔄"},
            "custom_id": f"MJ::JOB::reroll::0::{job_uuid}::SOLO",
        }
    )
    variations = [
        {
            "type": 2,
            "style": 2,
            "label": f"V{i}",
            "custom_id": f"MJ::JOB::variation::{i}::{job_uuid}",
        }
        for i in range(1, 5)
    ]
    fields: dict[str, Any] = {
        "content": f"**{prompt}** - {_lead(action)}<@{USER_ID}> (fast)",
        "attachments": [attachment(f"demo_{job_uuid}.png", url, width=width, height=height)],
        "components": [{"type": 1, "components": buttons}, {"type": 1, "components": variations}],
    }
    if reference_id:
        fields["message_reference"] = {"message_id": reference_id, "channel_id": CHANNEL_ID}
    return ChannelMessage.from_payload(message_payload(message_id, **fields))


def upscale(
    prompt: str, index: int, grid_message_id: str, url: str, job_uuid: str | None = None
) -> ChannelMessage:
    """Return an "Image #n" reply to a grid."""
    job_uuid = job_uuid or new_job_uuid()
    return ChannelMessage.from_payload(
        message_payload(
            content=f"**{prompt}** - Image #{index} <@{USER_ID}>",
            attachments=[attachment(f"demo_{job_uuid}.png", url)],
            message_reference={"message_id": grid_message_id, "channel_id": CHANNEL_ID},
            components=[
                {
                    "type": 1,
                    "components": [
                        {
                            "type": 2,
                            "style": 2,
                            "label": "Vary (Subtle)",
                            "custom_id": f"MJ::JOB::low_variation::1::{job_uuid}::SOLO",
                        },
                    ],
                }
            ],
        )
    )


def embed_reply(
    title: str,
    description: str,
    prompt: str,
    *,
    nonce: str | None,
    color: int = RED,
    reference_id: str | None = None,
) -> ChannelMessage:
    """Return an embed reply (errors, "Job queued", "Queue full") carrying the nonce.

    Errors that end a render mid-way reply to its progress message (``reference_id``).
    """
    reference: dict[str, Any] = (
        {"message_reference": {"message_id": reference_id, "channel_id": CHANNEL_ID}}
        if reference_id
        else {}
    )
    return ChannelMessage.from_payload(
        message_payload(
            **reference,
            nonce=nonce,
            embeds=[
                {
                    "type": "rich",
                    "title": title,
                    "description": description,
                    "color": color,
                    "footer": {"text": f"/imagine {prompt}"},
                }
            ],
        )
    )
