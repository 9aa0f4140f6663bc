"""Say why Midjourney stopped a render, from its error reply."""

from __future__ import annotations

from midjourney.replies import Reply, ReplyKind
from storage.models import FailureCategory


def describe_failure(reply: Reply) -> tuple[FailureCategory, str]:
    """Return the failure category and the message to show for an error reply.

    The reply is FAILED, STOPPED or ACTION_NEEDED; soft moderation is reported as moderated.
    """
    category = reply.failure_category or FailureCategory.MIDJOURNEY_ERROR.value
    detail = " ".join(part for part in (reply.title, reply.detail) if part).strip()
    if reply.kind == ReplyKind.STOPPED:
        detail = detail or "Midjourney stopped the job."
    if reply.kind == ReplyKind.ACTION_NEEDED:
        category = FailureCategory.MODERATED.value
        detail = f"{detail} You can appeal the decision in Discord.".strip()
    return FailureCategory(category), detail or "Midjourney reported an error."
