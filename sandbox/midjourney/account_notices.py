"""Midjourney's account-level notices: a pending moderation message and an ended subscription.

While one of these knobs is on, Midjourney answers every /imagine with the notice instead
of running it. Pressing the notice's Acknowledged button switches pending moderation off.
"""

from __future__ import annotations

from typing import Any

from sandbox.midjourney import content
from sandbox.midjourney.knobs import MidjourneyKnobs

# Midjourney's acknowledge button is the first of the notice; its custom_id is not
# documented, so the sandbox uses one of the same family as the other buttons.
ACKNOWLEDGE_PREFIX = "MJ::Moderation::Acknowledge::"


def notice_for_imagine(knobs: MidjourneyKnobs, user_id: str) -> dict[str, Any] | None:
    """Return the embeds and components of the notice that replaces an /imagine, or None."""
    if knobs.pending_moderation:
        description = (
            "You have a pending moderation message. Please acknowledge it before using "
            "the bot again."
        )
        button = content.button(f"{ACKNOWLEDGE_PREFIX}{user_id}", label="Acknowledged")
        return {
            "embeds": [content.embed("Pending mod message", description)],
            "components": [content.row(button)],
        }
    if knobs.subscription_ended:
        description = "Your Midjourney subscription has ended. Renew it to keep creating images."
        renew = content.link_button("https://www.midjourney.com/account", "Manage account")
        return {
            "embeds": [content.embed("Subscription required", description)],
            "components": [content.row(renew)],
        }
    return None


def is_acknowledgement(custom_id: str) -> bool:
    """Return whether a pressed button acknowledges the pending moderation message."""
    return custom_id.startswith(ACKNOWLEDGE_PREFIX)
