"""What the bot says about a Midjourney connection: pause and resume notices, status lines.

The texts are pure functions of a ``ConnectionHealth``, so they are tested without Discord.
Reasons, advice and labels come partly from Midjourney's own messages and from the user,
so every one of them is echoed with its mentions defused.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from discord.utils import format_dt

from bot.text import MESSAGE_LIMIT, echo, join_within, sentence, shorten

if TYPE_CHECKING:
    from pipeline.health import ConnectionHealth

# Room left for one connection's reason and advice in a notice, so the whole message
# fits Discord's limit even with a long link and label.
REASON_LIMIT = 600
ADVICE_LIMIT = 600
LABEL_LIMIT = 100


def connection_name(health: ConnectionHealth) -> str:
    """Name a connection by its label, or by its id when it has none."""
    label = health.label.strip()
    if not label:
        return f"connection {health.connection_id}"
    return echo(label, LABEL_LIMIT)


def render_pause_notice(health: ConnectionHealth, owner_mention: str | None = None) -> str:
    """Say that a connection is paused, why, what to do, where to look, and how to go on."""
    lines = [
        f"⏸ {_greeting(owner_mention)}Your Midjourney connection **{connection_name(health)}** "
        f"is paused: {_reason(health)}",
    ]
    if health.advice.strip():
        lines.append(f"What to do: {echo(sentence(health.advice), ADVICE_LIMIT)}")
    if health.link:
        lines.append(f"Midjourney's message: <{health.link}>")
    lines.append(
        "Nothing new is sent on this connection while it is paused, and jobs already at "
        "Midjourney keep their place."
    )
    return shorten("\n".join(lines), MESSAGE_LIMIT)


def render_resume_notice(health: ConnectionHealth) -> str:
    """Say that a connection works again and its batches go on."""
    return (
        f"▶ Your Midjourney connection **{connection_name(health)}** is resumed; its batches go on."
    )


def describe_connection(health: ConnectionHealth) -> str:
    """Describe one connection for ``/connection status``: where, plan, state, choices."""
    header = (
        f"**{connection_name(health)}** · server {health.guild_id}, channel <#{health.channel_id}>"
        f" · plan {echo(health.plan, 32)}"
    )
    lines = [header, f"- {_state(health)}"]
    if health.working and health.waiting:
        lines.append(f"- {health.waiting}")
    if not health.working and health.advice.strip():
        lines.append(f"- What to do: {echo(sentence(health.advice), ADVICE_LIMIT)}")
    if not health.working and health.link:
        lines.append(f"- Midjourney's message: <{health.link}>")
    if health.speed_override == "relax":
        lines.append("- Fast hours are used up, so jobs run in relax mode.")
    if health.learned_job_limit is not None:
        lines.append(
            f"- Midjourney accepted at most {health.learned_job_limit} jobs at once, "
            "so MidJAu keeps below that."
        )
    lines.append(f"- {describe_choices(health)}")
    return "\n".join(lines)


def render_status(connections: list[ConnectionHealth]) -> str:
    """Render the ``/connection status`` reply: every connection, within Discord's limit."""
    blocks = [describe_connection(health) for health in connections]
    return join_within(blocks, MESSAGE_LIMIT, more="…and {count} more connections")


def describe_choices(health: ConnectionHealth) -> str:
    """Say what MidJAu does when fast hours run out and on soft moderation, for this user."""
    if health.relax_when_fast_used_up:
        fast = "switch to relax mode (if the plan has it)"
    else:
        fast = "pause and tell you"
    if health.appeal_soft_moderation:
        moderation = "press Appeal and follow the outcome"
    else:
        moderation = "fail the row as moderated"
    return (
        f"When fast hours run out: {fast}. On soft moderation: {moderation}. "
        "Change them with the `relax_when_fast_used_up` and `appeal_soft_moderation` options "
        "of `/connection settings`."
    )


def _state(health: ConnectionHealth) -> str:
    if health.working:
        return "✅ working"
    since = ""
    if health.paused_at is not None:
        since = f" since {format_dt(health.paused_at, 'f')} ({format_dt(health.paused_at, 'R')})"
    return f"⏸ paused{since}: {_reason(health)}"


def _reason(health: ConnectionHealth) -> str:
    reason = health.reason.strip() or "Midjourney or Discord stopped accepting its requests"
    return echo(sentence(reason), REASON_LIMIT)


def _greeting(owner_mention: str | None) -> str:
    return f"{owner_mention} " if owner_mention else ""
