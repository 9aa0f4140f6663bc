"""A bot's answers to interactions: the callback, followups and ``@original`` edits.

These routes carry no Authorization header; the interaction token in the path is the
credential, as on Discord.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from sandbox.discord.bodies import (
    SETTABLE_FLAGS,
    Upload,
    message_changes,
    resolve_attachments,
    validate_message_body,
)
from sandbox.discord.errors import (
    already_acknowledged,
    form_error,
    unknown_interaction,
    unknown_message,
    unknown_webhook,
)
from sandbox.discord.interactions import (
    APPLICATION_COMMAND,
    MESSAGE_COMPONENT,
    PendingInteraction,
)
from sandbox.discord.messages import (
    CHAT_INPUT_COMMAND_MESSAGE,
    DEFAULT_MESSAGE,
    EPHEMERAL_FLAG,
    LOADING_FLAG,
    StoredMessage,
)

if TYPE_CHECKING:
    from sandbox.discord.state import SandboxDiscord

_log = logging.getLogger(__name__)

CHANNEL_MESSAGE, DEFERRED_CHANNEL_MESSAGE, DEFERRED_UPDATE, UPDATE_MESSAGE, MODAL = 4, 5, 6, 7, 9


class InteractionResponses:
    """Handle callbacks and webhook requests for interactions sent to gateway bots."""

    def __init__(self, discord: SandboxDiscord) -> None:
        self._discord = discord

    def callback(
        self, interaction_id: str, token: str, body: Mapping[str, Any], uploads: Sequence[Upload]
    ) -> dict[str, Any]:
        """Answer ``POST /interactions/{id}/{token}/callback`` with Discord's callback object."""
        pending = self._discord.interactions.pending.get(interaction_id)
        if pending is None or pending.token != token or pending.expired:
            raise unknown_interaction()
        if pending.acknowledged:
            raise already_acknowledged()
        response_type = body.get("type")
        data = body.get("data") or {}
        self._check_callback(pending, response_type, data, uploads)

        self._acknowledge(pending)
        message = self._perform_callback(pending, int(response_type or 0), data, uploads)

        result: dict[str, Any] = {
            "interaction": {
                "id": pending.id,
                "type": pending.type,
                "activity_instance_id": None,
                "response_message_id": message.id if message else None,
                "response_message_loading": bool(message and message.data["flags"] & LOADING_FLAG),
                "response_message_ephemeral": bool(message and message.ephemeral_to),
            },
            "resource": {"type": response_type},
        }
        if message is not None:
            result["resource"]["message"] = self._discord.render(message)
        return result

    def followup(
        self, application_id: str, token: str, body: Mapping[str, Any], uploads: Sequence[Upload]
    ) -> dict[str, Any]:
        """Send a followup; after a deferred response the first one fills the loading message."""
        pending = self._by_token(application_id, token)
        if pending.awaiting_first_followup and pending.original_message_id:
            original = self._message_of(pending, "@original")
            return self._discord.render(self._edit(pending, original, body, uploads))

        validate_message_body(body, file_count=len(uploads), editing=False)
        message = self._send(pending, body, uploads, message_type=DEFAULT_MESSAGE)
        return self._discord.render(message)

    def get_message(self, application_id: str, token: str, message_id: str) -> dict[str, Any]:
        """Return ``@original`` or a followup of the interaction."""
        pending = self._by_token(application_id, token)
        return self._discord.render(self._message_of(pending, message_id))

    def edit_message(
        self,
        application_id: str,
        token: str,
        message_id: str,
        body: Mapping[str, Any],
        uploads: Sequence[Upload],
    ) -> dict[str, Any]:
        """Edit ``@original`` or a followup; editing a loading message ends the loading state."""
        pending = self._by_token(application_id, token)
        message = self._message_of(pending, message_id)
        return self._discord.render(self._edit(pending, message, body, uploads))

    def delete_message(self, application_id: str, token: str, message_id: str) -> None:
        """Delete ``@original`` or a followup."""
        pending = self._by_token(application_id, token)
        message = self._message_of(pending, message_id)
        pending.message_ids.discard(message.id)
        self._discord.remove_message(message)

    # -- steps -----------------------------------------------------------------------------

    def _check_callback(
        self,
        pending: PendingInteraction,
        response_type: Any,
        data: Mapping[str, Any],
        uploads: Sequence[Upload],
    ) -> None:
        allowed = {CHANNEL_MESSAGE, DEFERRED_CHANNEL_MESSAGE, MODAL}
        if pending.type == MESSAGE_COMPONENT:
            allowed |= {DEFERRED_UPDATE, UPDATE_MESSAGE}
        if response_type not in allowed:
            choices = ", ".join(str(t) for t in sorted(allowed))
            raise form_error("type", "BASE_TYPE_CHOICES", f"Value must be one of {{{choices}}}.")
        if response_type == CHANNEL_MESSAGE:
            validate_message_body(data, file_count=len(uploads), editing=False)
        if response_type == UPDATE_MESSAGE:
            validate_message_body(data, file_count=len(uploads), editing=True)
        if response_type == MODAL and not data.get("custom_id"):
            raise form_error("data.custom_id", "BASE_TYPE_REQUIRED", "This field is required")

    def _acknowledge(self, pending: PendingInteraction) -> None:
        pending.acknowledged = True
        if pending.timeout is not None:
            pending.timeout.cancel()
        self._discord.interactions.notify_user(pending, "INTERACTION_SUCCESS")

    def _perform_callback(
        self,
        pending: PendingInteraction,
        response_type: int,
        data: Mapping[str, Any],
        uploads: Sequence[Upload],
    ) -> StoredMessage | None:
        message_type = (
            CHAT_INPUT_COMMAND_MESSAGE if pending.type == APPLICATION_COMMAND else DEFAULT_MESSAGE
        )
        if response_type == CHANNEL_MESSAGE:
            message = self._send(pending, data, uploads, message_type=message_type)
            pending.original_message_id = message.id
            return message
        if response_type == DEFERRED_CHANNEL_MESSAGE:
            loading = {"content": "", "flags": int(data.get("flags") or 0) | LOADING_FLAG}
            message = self._send(pending, loading, (), message_type=message_type, loading=True)
            pending.original_message_id = message.id
            pending.awaiting_first_followup = True
            return message
        if response_type in (DEFERRED_UPDATE, UPDATE_MESSAGE) and pending.source_message_id:
            # For component interactions, @original is the message that carries the button.
            source = self._discord.messages.get_any(pending.source_message_id)
            if source is None:
                raise unknown_message()
            pending.original_message_id = source.id
            if response_type == DEFERRED_UPDATE:
                return None
            changes = message_changes(
                self._discord, source.channel_id, data, uploads, source.attachments
            )
            return self._discord.update_message(source, changes)
        if response_type == MODAL:
            self._discord.interactions.notify_user(
                pending,
                "INTERACTION_MODAL_CREATE",
                channel_id=pending.channel_id,
                custom_id=data.get("custom_id"),
                title=data.get("title", ""),
                components=data.get("components", []),
                application={"id": pending.application_id},
            )
        return None

    def _send(
        self,
        pending: PendingInteraction,
        body: Mapping[str, Any],
        uploads: Sequence[Upload],
        *,
        message_type: int,
        loading: bool = False,
    ) -> StoredMessage:
        discord = self._discord
        flags = int(body.get("flags") or 0)
        attachments = resolve_attachments(
            discord, pending.channel_id, body.get("attachments"), uploads
        )
        extra: dict[str, Any] = {
            "application_id": pending.application_id,
            "webhook_id": pending.application_id,
        }
        extra |= discord.interactions.metadata_fields(
            {
                "id": pending.id,
                "type": pending.type,
                "name": pending.name,
                "user_id": pending.user.id,
            }
        )
        message = discord.create_message(
            pending.channel_id,
            discord.account(pending.application_id),
            content=str(body.get("content") or ""),
            embeds=body.get("embeds") or (),
            components=body.get("components") or (),
            attachments=attachments,
            message_type=message_type,
            flags=flags & (SETTABLE_FLAGS | (LOADING_FLAG if loading else 0)),
            ephemeral_to=pending.user.id if flags & EPHEMERAL_FLAG else None,
            extra=extra,
        )
        pending.message_ids.add(message.id)
        return message

    def _edit(
        self,
        pending: PendingInteraction,
        message: StoredMessage,
        body: Mapping[str, Any],
        uploads: Sequence[Upload],
    ) -> StoredMessage:
        changes = message_changes(
            self._discord, message.channel_id, body, uploads, message.attachments
        )
        if message.data["flags"] & LOADING_FLAG:
            changes["flags"] = message.data["flags"] & ~LOADING_FLAG
            pending.awaiting_first_followup = False
        return self._discord.update_message(message, changes)

    def _by_token(self, application_id: str, token: str) -> PendingInteraction:
        pending = self._discord.interactions.by_token.get(token)
        if pending is None or pending.application_id != application_id or not pending.acknowledged:
            raise unknown_webhook()
        return pending

    def _message_of(self, pending: PendingInteraction, message_id: str) -> StoredMessage:
        if message_id == "@original":
            message_id = pending.original_message_id or ""
        if message_id not in pending.message_ids and message_id != pending.original_message_id:
            raise unknown_message()
        message = self._discord.messages.get_any(message_id)
        if message is None:
            raise unknown_message()
        return message
