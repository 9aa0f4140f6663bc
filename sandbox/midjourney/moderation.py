"""Soft moderation with an Appeal button, and the CAPTCHA modal, of the simulated Midjourney.

A soft-moderated prompt gets an ephemeral "Action needed to continue" embed instead of a
job. Pressing Appeal either starts the job (the notice is deleted and the job's messages
carry the Appeal click's nonce) or posts an ephemeral "Appeal rejected".
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

from midjourney.messages import EPHEMERAL_FLAG
from sandbox.midjourney import content
from sandbox.midjourney.jobs import DiscordState
from sandbox.midjourney.knobs import MidjourneyKnobs

APPEAL_PREFIX = "MJ::Prompts::Appeal::"
CAPTCHA_TITLE = "Action required to continue"


@dataclass(frozen=True, slots=True)
class PendingAppeal:
    """A soft-moderated /imagine waiting for the user to press Appeal."""

    user: dict[str, Any]
    channel_id: str
    raw_prompt: str
    message_id: str


class Moderation:
    """Holds soft-moderated prompts until their appeal is pressed."""

    def __init__(
        self, discord: DiscordState, knobs: MidjourneyKnobs, bot_user: dict[str, Any]
    ) -> None:
        self.discord = discord
        self.knobs = knobs
        self.bot_user = bot_user
        self.pending: dict[str, PendingAppeal] = {}
        # Ids of the notices whose Appeal button was pressed, in order, for tests to read.
        self.pressed: list[str] = []

    def is_soft_moderated(self, raw_prompt: str) -> bool:
        """Return whether ``raw_prompt`` contains a word of ``knobs.soft_moderated_words``."""
        words = set(raw_prompt.casefold().split())
        return any(word.casefold() in words for word in self.knobs.soft_moderated_words)

    def hold(
        self,
        user: dict[str, Any],
        channel_id: str,
        raw_prompt: str,
        nonce: str | None,
        interaction: dict[str, Any],
    ) -> None:
        """Post the ephemeral "Action needed to continue" notice with its Appeal button."""
        token = secrets.token_hex(4)
        description = (
            "Our AI moderators feel your prompt might be against our community standards. "
            "If you think this is a mistake, press Appeal to ask for a second check."
        )
        message = self.discord.post_message(
            channel_id,
            self.bot_user,
            embeds=[
                content.embed(
                    "Action needed to continue", description, footer=f"/imagine {raw_prompt}"
                )
            ],
            components=[content.row(content.button(f"{APPEAL_PREFIX}{token}", label="Appeal"))],
            nonce=nonce,
            interaction=interaction,
            flags=EPHEMERAL_FLAG,
            ephemeral_to=str(user["id"]),
        )
        self.pending[token] = PendingAppeal(user, channel_id, raw_prompt, str(message["id"]))

    def take_appeal(self, custom_id: str) -> PendingAppeal | None:
        """Return and forget the held prompt an Appeal button belongs to."""
        if not custom_id.startswith(APPEAL_PREFIX):
            return None
        appeal = self.pending.pop(custom_id.removeprefix(APPEAL_PREFIX), None)
        if appeal is not None:
            self.pressed.append(appeal.message_id)
        return appeal

    def reject_appeal(
        self, appeal: PendingAppeal, nonce: str | None, interaction: dict[str, Any]
    ) -> None:
        """Reply to a failed appeal with an ephemeral "Appeal rejected" embed."""
        description = (
            "After a second check, your prompt was found to be against our community standards."
        )
        self.discord.post_message(
            appeal.channel_id,
            self.bot_user,
            embeds=[
                content.embed(
                    "Appeal rejected", description, footer=f"/imagine {appeal.raw_prompt}"
                )
            ],
            nonce=nonce,
            interaction=interaction,
            flags=EPHEMERAL_FLAG,
            ephemeral_to=str(appeal.user["id"]),
        )

    def send_captcha(
        self, user_id: str, channel_id: str, interaction_id: str, nonce: str | None
    ) -> None:
        """Dispatch the CAPTCHA iframe modal that stops the account until a human solves it."""
        token = secrets.token_hex(8)
        modal = {
            "id": interaction_id,
            "nonce": nonce,
            "channel_id": channel_id,
            "custom_id": f"MJ::iframe::{token}",
            "title": CAPTCHA_TITLE,
            "iframe_path": f"/captcha/embedded/{token}",
            "application": {"id": self.bot_user["id"]},
        }
        self.discord.dispatch_to_user(user_id, "INTERACTION_IFRAME_MODAL_CREATE", modal)
