"""Replay recorded Midjourney traffic into a running sandbox, to check it against the tracker.

A recording is a JSON-lines file. Each line is one gateway event as real Discord sent it:

    {"at": 1.5, "event": "MESSAGE_CREATE", "data": {... Discord's message object ...}}

``at`` is seconds since the recording started. Events play in order, keeping the recorded
gaps (times ``time_scale``). An optional first line ``{"ids": {"guild": …, "channel": …,
"user": …, "bot": …}}`` names the recorded ids. Missing ones come from the first
``guild_id``, ``channel_id``, bot author and interaction user (or mention) of the recording.

Ids are rewritten onto the sandbox: the recorded guild, channel, user and bot become the
sandbox's (``<@user>`` mentions in text too); each recorded message id becomes the id the
sandbox gives the replayed message, so ``message_reference``, edits and deletions follow it.
Attachments become placeholder images of the recorded size and type, served by the sandbox
CDN, so downloads work.

Tying the recording to the jobs a test sends: a recorded ``INTERACTION_CREATE`` is a wait
point. The replay waits there for the next interaction the product really sends
(``POST /interactions``, accepted by the stub application this module registers in place of
the simulated Midjourney), then maps the recorded interaction id and nonce to the real ones.
Every later ``nonce``, ``interaction_metadata.id`` and ``INTERACTION_SUCCESS`` of the
recording then carries the real values, and ``Replay.nonces`` tells a test which recorded
nonce became which sent one. The recording's own ``INTERACTION_CREATE`` is not re-sent:
the sandbox already sent it for the real interaction.
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image

from midjourney.messages import MIDJOURNEY_BOT_ID
from sandbox.discord.applications import SandboxFile
from sandbox.midjourney.knobs import IMAGINE_COMMAND_ID, IMAGINE_COMMAND_VERSION
from sandbox.server import Sandbox

_log = logging.getLogger(__name__)

RECORDINGS = Path(__file__).parent / "recordings"
MESSAGE_EVENTS = ("MESSAGE_CREATE", "MESSAGE_UPDATE", "MESSAGE_DELETE")
EPHEMERAL_FLAG = 1 << 6
MENTION = re.compile(r"<@!?(\d+)>")
IMAGE_FORMATS = {"webp": "WEBP", "jpg": "JPEG", "jpeg": "JPEG", "gif": "GIF"}


class RecordingError(ValueError):
    """A recording that cannot be replayed; the message names the file and line."""


@dataclass(frozen=True, slots=True)
class RecordedEvent:
    """One line of a recording."""

    at: float
    event: str
    data: dict[str, Any]
    line: int


@dataclass(frozen=True, slots=True)
class Recording:
    """The events of a recording and the recorded ids of guild, channel, user and bot."""

    source: str
    events: list[RecordedEvent]
    ids: dict[str, str]


@dataclass(frozen=True, slots=True)
class ReceivedInteraction:
    """An interaction the product sent to the stub application."""

    id: str
    nonce: str | None
    payload: dict[str, Any]


def load_recording(path: Path | str) -> Recording:
    """Read a recording file; a bare name looks in the recordings shipped with the sandbox."""
    path = Path(path)
    if not path.exists() and (RECORDINGS / path).exists():
        path = RECORDINGS / path
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise RecordingError(f"{path}: cannot read the recording ({error.strerror})") from None
    return parse_recording(text, str(path))


def parse_recording(text: str, source: str = "<recording>") -> Recording:
    """Parse JSON lines into a recording, with a clear error for the first bad line."""
    events: list[RecordedEvent] = []
    ids: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            entry = json.loads(line)
        except json.JSONDecodeError as error:
            raise RecordingError(f"{source}, line {number}: not JSON ({error.msg})") from None
        if not isinstance(entry, dict):
            raise RecordingError(f"{source}, line {number}: expected a JSON object")
        if "ids" in entry and not events:
            ids = {str(key): str(value) for key, value in dict(entry["ids"]).items()}
            continue
        events.append(_parse_event(entry, source, number))
    if not events:
        raise RecordingError(f"{source}: the recording has no events")
    return Recording(source, events, _infer_ids(events) | ids)


def _parse_event(entry: Mapping[str, Any], source: str, number: int) -> RecordedEvent:
    where = f"{source}, line {number}"
    event, data, at = entry.get("event"), entry.get("data"), entry.get("at")
    if not isinstance(event, str) or not (
        event in MESSAGE_EVENTS or event.startswith("INTERACTION_")
    ):
        raise RecordingError(
            f"{where}: event {event!r} is not MESSAGE_CREATE, MESSAGE_UPDATE, "
            "MESSAGE_DELETE or INTERACTION_*"
        )
    if not isinstance(data, dict):
        raise RecordingError(f"{where}: 'data' must be the event's JSON object")
    if not isinstance(at, int | float) or at < 0:
        raise RecordingError(f"{where}: 'at' must be seconds since the start, e.g. 1.5")
    if event in MESSAGE_EVENTS and "id" not in data:
        raise RecordingError(f"{where}: a {event} needs the message 'id'")
    return RecordedEvent(float(at), event, data, number)


def _infer_ids(events: Iterable[RecordedEvent]) -> dict[str, str]:
    found: dict[str, str] = {}
    for event in events:
        data = event.data
        if data.get("guild_id"):
            found.setdefault("guild", str(data["guild_id"]))
        if data.get("channel_id"):
            found.setdefault("channel", str(data["channel_id"]))
        author = data.get("author") or {}
        if event.event == "MESSAGE_CREATE" and author.get("bot"):
            found.setdefault("bot", str(author["id"]))
        metadata = data.get("interaction_metadata") or data.get("interaction") or {}
        user = metadata.get("user") or {}
        if user.get("id"):
            found.setdefault("user", str(user["id"]))
        mentioned = MENTION.search(str(data.get("content") or ""))
        if mentioned:
            found.setdefault("user", mentioned.group(1))
    return found


class ReplayApplication:
    """A stand-in Midjourney that accepts /imagine and button presses and sends no reply.

    The replay sends the replies instead, from the recording.
    """

    application_id = MIDJOURNEY_BOT_ID
    # INTERACTION_SUCCESS comes from the recording, like every other answer.
    acknowledges_interactions = True

    def __init__(self) -> None:
        self.bot_user: dict[str, Any] = {
            "id": MIDJOURNEY_BOT_ID,
            "username": "Midjourney Bot",
            "discriminator": "9282",
            "avatar": None,
            "bot": True,
        }
        self.received: asyncio.Queue[ReceivedInteraction] = asyncio.Queue()

    def commands(self) -> list[dict[str, Any]]:
        """Return /imagine as Midjourney's command index lists it."""
        prompt = {"type": 3, "name": "prompt", "description": "The prompt", "required": True}
        return [
            {
                "id": IMAGINE_COMMAND_ID,
                "type": 1,
                "application_id": self.application_id,
                "version": IMAGINE_COMMAND_VERSION,
                "name": "imagine",
                "description": "Create images with Midjourney",
                "options": [prompt],
            }
        ]

    def check_interaction(
        self, user_id: str, payload: dict[str, Any]
    ) -> tuple[int, dict[str, Any]] | None:
        """Accept every interaction: the recording decides what follows."""
        return None

    async def handle_interaction(
        self, user_id: str, session_id: str | None, payload: dict[str, Any], interaction_id: str
    ) -> None:
        """Hand the interaction to the replay waiting for it."""
        nonce = payload.get("nonce")
        await self.received.put(
            ReceivedInteraction(interaction_id, None if nonce is None else str(nonce), payload)
        )


class Replay:
    """Play recordings into a sandbox started with ``midjourney=False``."""

    def __init__(
        self,
        sandbox: Sandbox,
        *,
        time_scale: float = 1.0,
        interaction_timeout: float = 30.0,
    ) -> None:
        """Register the stub Midjourney; do it before the product reads the command index."""
        if MIDJOURNEY_BOT_ID in sandbox.discord.applications:
            raise RuntimeError(
                "a Midjourney application already answers in this sandbox; "
                "start it with Sandbox(..., midjourney=False) to replay a recording"
            )
        self.sandbox = sandbox
        self.time_scale = time_scale
        self.interaction_timeout = interaction_timeout
        self.application = ReplayApplication()
        sandbox.discord.register_application(self.application)
        # Recorded nonce → nonce the product sent; recorded id → sandbox id.
        self.nonces: dict[str, str] = {}
        self.message_ids: dict[str, str] = {}
        self.interaction_ids: dict[str, str] = {}
        self._ids: dict[str, str] = {}

    async def play(self, recording: Recording) -> None:
        """Play every event of ``recording`` in order, waiting where it says."""
        self._ids = self._account_ids(recording.ids)
        loop = asyncio.get_running_loop()
        started, offset = loop.time(), 0.0
        for event in recording.events:
            delay = started + (event.at - offset) * self.time_scale - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            try:
                if event.event == "INTERACTION_CREATE":
                    await self._await_interaction(event)
                    started, offset = loop.time(), event.at
                else:
                    await self._apply(event)
            except RecordingError:
                raise
            except Exception as error:
                raise RecordingError(
                    f"{recording.source}, line {event.line}: {event.event} failed: {error}"
                ) from error
        _log.info("replayed %d events of %s", len(recording.events), recording.source)

    def _account_ids(self, recorded: Mapping[str, str]) -> dict[str, str]:
        sandbox = self.sandbox
        ours = {
            "guild": sandbox.guild_id,
            "channel": sandbox.channel_id,
            "user": sandbox.user_id,
            "bot": MIDJOURNEY_BOT_ID,
        }
        return {recorded[role]: ours[role] for role in ours if role in recorded}

    async def _await_interaction(self, event: RecordedEvent) -> None:
        try:
            received = await asyncio.wait_for(
                self.application.received.get(), self.interaction_timeout
            )
        except TimeoutError:
            raise RecordingError(
                f"line {event.line}: the recording expects an interaction here, but none "
                f"arrived within {self.interaction_timeout:g} s; send the prompt first"
            ) from None
        if event.data.get("id"):
            self.interaction_ids[str(event.data["id"])] = received.id
        recorded_nonce = event.data.get("nonce")
        if recorded_nonce is not None and received.nonce is not None:
            self.nonces[str(recorded_nonce)] = received.nonce
        _log.info("replay: interaction %s stands for line %d", received.id, event.line)

    async def _apply(self, event: RecordedEvent) -> None:
        data = event.data
        discord = self.sandbox.discord
        if event.event == "MESSAGE_CREATE":
            await self._create(data)
        elif event.event == "MESSAGE_UPDATE":
            changes = await self._changes(data)
            discord.edit_message(self._channel(data), self._message_id(data["id"]), **changes)
        elif event.event == "MESSAGE_DELETE":
            discord.delete_message(self._channel(data), self._message_id(data["id"]))
        else:
            discord.dispatch_to_user(self.sandbox.user_id, event.event, self._interaction(data))

    async def _create(self, data: Mapping[str, Any]) -> None:
        flags = int(data.get("flags") or 0)
        reference = (data.get("message_reference") or {}).get("message_id")
        author = self._ids.get(str((data.get("author") or {}).get("id")), MIDJOURNEY_BOT_ID)
        message = self.sandbox.discord.post_message(
            self._channel(data),
            author,
            content=self._text(str(data.get("content") or "")),
            embeds=self._rewrite(data.get("embeds") or []),
            components=data.get("components") or [],
            files=await placeholder_files(data.get("attachments") or []),
            nonce=self._nonce(data.get("nonce")),
            reference_id=self._message_id(reference) if reference else None,
            interaction=self._metadata(data),
            flags=flags & ~EPHEMERAL_FLAG,
            ephemeral_to=self.sandbox.user_id if flags & EPHEMERAL_FLAG else None,
        )
        self.message_ids[str(data["id"])] = str(message["id"])

    async def _changes(self, data: Mapping[str, Any]) -> dict[str, Any]:
        changes: dict[str, Any] = {}
        if "content" in data:
            changes["content"] = self._text(str(data["content"] or ""))
        if "embeds" in data:
            changes["embeds"] = self._rewrite(data["embeds"] or [])
        if "components" in data:
            changes["components"] = data["components"] or []
        if "flags" in data:
            changes["flags"] = data["flags"]
        if "attachments" in data:
            files = await placeholder_files(data["attachments"] or [])
            changes["files" if files else "attachments"] = files
        return changes

    def _metadata(self, data: Mapping[str, Any]) -> dict[str, Any] | None:
        metadata = data.get("interaction_metadata") or data.get("interaction")
        if not metadata or not metadata.get("id"):
            return None
        return {
            "id": self._interaction_id(str(metadata["id"])),
            "name": metadata.get("name", "imagine"),
            "type": metadata.get("type", 2),
            "user_id": self.sandbox.user_id,
        }

    def _interaction(self, data: Mapping[str, Any]) -> dict[str, Any]:
        rewritten = self._rewrite(dict(data))
        if data.get("id"):
            rewritten["id"] = self._interaction_id(str(data["id"]))
        if "nonce" in data:
            rewritten["nonce"] = self._nonce(data["nonce"])
        return rewritten

    def _interaction_id(self, recorded: str) -> str:
        if recorded not in self.interaction_ids:
            self.interaction_ids[recorded] = self.sandbox.discord.snowflakes.next_id()
        return self.interaction_ids[recorded]

    def _nonce(self, recorded: Any) -> str | None:
        if recorded is None:
            return None
        return self.nonces.get(str(recorded), str(recorded))

    def _message_id(self, recorded: Any) -> str:
        known = self.message_ids.get(str(recorded))
        if known is None:
            raise RecordingError(f"message {recorded} was never created in this recording")
        return known

    def _channel(self, data: Mapping[str, Any]) -> str:
        recorded = str(data.get("channel_id") or "")
        return self._ids.get(recorded, self.sandbox.channel_id)

    def _text(self, text: str) -> str:
        def replace(match: re.Match[str]) -> str:
            return f"<@{self._ids.get(match.group(1), match.group(1))}>"

        return MENTION.sub(replace, text)

    def _rewrite(self, value: Any) -> Any:
        """Rewrite mentions in every string and the account ids of a JSON value."""
        if isinstance(value, str):
            return self._ids.get(value, self._text(value))
        if isinstance(value, list):
            return [self._rewrite(item) for item in value]
        if isinstance(value, dict):
            return {key: self._rewrite(item) for key, item in value.items()}
        return value


async def placeholder_files(attachments: Iterable[Mapping[str, Any]]) -> list[SandboxFile]:
    """Return placeholder images with the recorded names, sizes and types."""
    return await asyncio.to_thread(
        lambda: [_placeholder_file(attachment) for attachment in attachments]
    )


def _placeholder_file(attachment: Mapping[str, Any]) -> SandboxFile:
    filename = str(attachment.get("filename") or "image.png")
    width = int(attachment.get("width") or 512)
    height = int(attachment.get("height") or 512)
    extension = filename.rsplit(".", 1)[-1].lower()
    image_format = IMAGE_FORMATS.get(extension, "PNG")
    buffer = io.BytesIO()
    # A colour from the name, so two placeholders of one recording differ.
    shade = sum(filename.encode()) % 200
    Image.new("RGB", (width, height), (shade, 120, 200 - shade)).save(buffer, image_format)
    return SandboxFile(
        filename,
        buffer.getvalue(),
        content_type=f"image/{image_format.lower()}",
        width=width,
        height=height,
    )
