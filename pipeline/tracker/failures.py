"""Say why Midjourney stopped a render, from its error reply."""

from __future__ import annotations

from midjourney.replies import Reply, ReplyKind
from storage.models import FailureCategory

APPEALS_OFF = (
    "MidJAu did not press Appeal, because appeals are off for this connection. "
    "Turn them on with /connection settings, then retry the row."
)
NOT_APPEALED = "MidJAu did not press Appeal."


def describe_failure(reply: Reply) -> tuple[FailureCategory, str]:
    """Return the failure category and the message to show for an error reply.

    The reply is FAILED, STOPPED or ACTION_NEEDED. Soft moderation, and Midjourney's
    message that rejects an appeal, are reported as moderated.
    """
    if reply.kind == ReplyKind.ACTION_NEEDED:
        return FailureCategory.MODERATED, describe_soft_moderation(reply, NOT_APPEALED)
    if is_appeal_verdict(reply):
        text = midjourney_text(reply) or "Midjourney rejected the appeal."
        return FailureCategory.MODERATED, text

    category = reply.failure_category or FailureCategory.MIDJOURNEY_ERROR.value
    detail = midjourney_text(reply)
    if reply.kind == ReplyKind.STOPPED:
        detail = detail or "Midjourney stopped the job."
    return FailureCategory(category), detail or "Midjourney reported an error."


def describe_soft_moderation(reply: Reply, outcome: str) -> str:
    """Return the failure message for soft moderation: Midjourney's text, then ``outcome``."""
    text = midjourney_text(reply) or "Midjourney's moderation stopped the prompt."
    return f"{text} {outcome}".strip()


def is_appeal_verdict(reply: Reply) -> bool:
    """Return whether a failure reply is Midjourney's verdict on an appeal ("Appeal rejected")."""
    return reply.kind == ReplyKind.FAILED and "appeal" in reply.title.casefold()


def midjourney_text(reply: Reply) -> str:
    """Return the title and description of a reply as one text, e.g. "Appeal rejected: …"."""
    title, detail = reply.title.strip(), reply.detail.strip()
    if not title or not detail:
        return title or detail
    if title.endswith((".", "!", "?", ":")):
        return f"{title} {detail}"
    return f"{title}: {detail}"
