"""A stand-in for the sandbox Discord state that records what the simulator does with it."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sandbox.discord.applications import SandboxFile


@dataclass
class RecordedEvent:
    """One call the simulator made: create, update, delete, or a user dispatch by name."""

    kind: str
    data: dict[str, Any]


@dataclass
class RecordingDiscord:
    """Keep messages in memory and log every call, in order."""

    messages: dict[str, dict[str, Any]] = field(default_factory=dict)
    events: list[RecordedEvent] = field(default_factory=list)
    files: dict[str, SandboxFile] = field(default_factory=dict)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1_000_000))

    def post_message(
        self,
        channel_id: str,
        author: dict[str, Any],
        *,
        content: str = "",
        embeds: Sequence[dict[str, Any]] = (),
        components: Sequence[dict[str, Any]] = (),
        files: Sequence[SandboxFile] = (),
        nonce: str | None = None,
        reference_id: str | None = None,
        interaction: dict[str, Any] | None = None,
        flags: int = 0,
        ephemeral_to: str | None = None,
        publish: bool = True,
    ) -> dict[str, Any]:
        message: dict[str, Any] = {
            "id": str(next(self._ids)),
            "channel_id": channel_id,
            "author": author,
            "content": content,
            "embeds": list(embeds),
            "components": list(components),
            "attachments": [self._attachment(file) for file in files],
            "nonce": nonce,
            "message_reference": {"message_id": reference_id} if reference_id else None,
            "interaction_metadata": interaction,
            "flags": flags,
            "ephemeral_to": ephemeral_to,
        }
        self.messages[message["id"]] = message
        # An unpublished message is stored with no gateway event, so it is logged apart.
        self.events.append(RecordedEvent("create" if publish else "store", dict(message)))
        return message

    def edit_message(self, channel_id: str, message_id: str, **changes: Any) -> dict[str, Any]:
        message = self.messages[message_id]
        files = changes.pop("files", None)
        message.update(changes)
        if files is not None:
            message["attachments"] = [self._attachment(file) for file in files]
        self.events.append(RecordedEvent("update", dict(message)))
        return message

    def delete_message(self, channel_id: str, message_id: str) -> None:
        del self.messages[message_id]
        self.events.append(RecordedEvent("delete", {"id": message_id, "channel_id": channel_id}))

    def dispatch_to_user(self, user_id: str, event: str, data: dict[str, Any]) -> None:
        self.events.append(RecordedEvent(event, dict(data, user_id=user_id)))

    def get_message(self, channel_id: str, message_id: str) -> dict[str, Any] | None:
        return self.messages.get(message_id)

    def of_kind(self, kind: str) -> list[dict[str, Any]]:
        """Return the data of every recorded event of ``kind``, oldest first."""
        return [event.data for event in self.events if event.kind == kind]

    def _attachment(self, file: SandboxFile) -> dict[str, Any]:
        attachment_id = str(next(self._ids))
        self.files[attachment_id] = file
        return {
            "id": attachment_id,
            "filename": file.filename,
            "width": file.width,
            "height": file.height,
            "content_type": file.content_type,
        }
