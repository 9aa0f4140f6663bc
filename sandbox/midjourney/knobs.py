"""Switches that shape how the simulated Midjourney behaves.

Tests and the demo change these on a running simulator (``sandbox.midjourney.knobs``);
every change applies to the next interaction or job step.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any

from midjau.settings import default_plan_slots
from midjourney.plans import QUEUE_LENGTH

# Midjourney's command id and the latest observed version of /imagine.
IMAGINE_COMMAND_ID = "938956540159881230"
IMAGINE_COMMAND_VERSION = "1237876415471554623"

# Jobs one account may keep waiting once its slots are busy.
DEFAULT_QUEUE_SIZE = QUEUE_LENGTH


@dataclass(frozen=True, slots=True)
class Rejection:
    """An HTTP response that the next ``POST /interactions`` gets instead of 204.

    Rate limits (429) are the sandbox Discord's own knob, ``SandboxDiscord.rate_limit_next``.
    """

    status: int
    body: dict[str, Any]


def unauthorized() -> Rejection:
    """Build Discord's 401 response to a revoked or invalid user token."""
    return Rejection(401, {"message": "401: Unauthorized", "code": 0})


def forbidden() -> Rejection:
    """Build Discord's 403 response to an account blocked by anti-abuse checks."""
    return Rejection(403, {"message": "Unknown Message", "code": 10008})


def captcha_required() -> Rejection:
    """Build Discord's 400 CAPTCHA challenge for a user-account request."""
    body = {
        "captcha_key": ["captcha-required"],
        "captcha_sitekey": "00000000-0000-0000-0000-000000000000",
        "captcha_service": "hcaptcha",
        "captcha_rqdata": "sandbox",
        "captcha_rqtoken": "sandbox",
    }
    return Rejection(400, body)


@dataclass(slots=True)
class MidjourneyKnobs:
    """Every switch of the simulated Midjourney, with defaults close to the real service."""

    # Multiplies every simulated duration; job_seconds is one fast job before scaling.
    time_scale: float = 0.02
    job_seconds: float = 40.0
    # Percentages at which the progress message is edited; empty or show_progress=False
    # sends none, as Midjourney sometimes does.
    progress_steps: tuple[int, ...] = (0, 15, 31, 46, 62, 78, 93)
    show_progress: bool = True
    # Progress edits from this percentage on carry the webp preview of the grid.
    preview_from_percent: int = 30

    fast_slots: int = 12
    relax_slots: int = 3
    queue_size: int = DEFAULT_QUEUE_SIZE
    # Speed mode of the account when the prompt names none: "fast", "relax" or "turbo".
    default_mode: str = "fast"

    # Prompt words answered with "Banned prompt detected" (matched as whole words, any case).
    banned_words: frozenset[str] = frozenset({"bannedword"})
    # Prompt words whose job is deleted mid-render (post-moderation) at the given percentage.
    post_moderated_words: frozenset[str] = frozenset()
    post_moderation_percent: int = 93
    # Prompt words whose job ends with "Could not complete" as a reply to the progress message.
    failing_words: frozenset[str] = frozenset()
    # Prompt words answered with an ephemeral "Action needed to continue" and an Appeal
    # button; appeal_succeeds decides whether pressing it starts the job.
    soft_moderated_words: frozenset[str] = frozenset()
    appeal_succeeds: bool = True
    # Answer the next /imagine with the CAPTCHA iframe modal instead of running it.
    captcha_on_next_imagine: bool = False
    # Fast jobs left before "Credits exhausted"; None never runs out.
    fast_jobs_left: int | None = None
    # Send error embeds (invalid parameter, banned prompt) as ephemeral messages to the user.
    ephemeral_errors: bool = False

    # Appended to every echoed prompt, parameter by parameter, unless the prompt sets it.
    suffix: str = "--v 7"
    imagine_version: str = IMAGINE_COMMAND_VERSION
    # The 2026 behaviour: the final grid replies to the waiting message. False gives the
    # 2023 shape, a final without message_reference.
    final_as_reply: bool = True

    # Long side of a rendered grid in pixels; the real service makes 2048.
    grid_long_side: int = 512
    # Answers the next interactions get instead of 204, oldest first.
    rejections: deque[Rejection] = field(default_factory=deque)
    # False gives the 2023 final grid: no interaction object, so only its prompt echo and
    # the job uuid in its file name tie it to a job.
    final_carries_interaction: bool = True
    # Cut the echoed prompt to this many characters, as Discord's 2000-character message
    # limit keeps Midjourney from echoing very long prompts whole. None echoes all of it.
    echo_limit: int | None = None
    # Prompt words whose job ends, after its progress, with "Request cancelled due to output
    # filters" as a reply to the progress message.
    filtered_words: frozenset[str] = frozenset()
    # Prompt words that get the plain-text reply "Failed to process your command".
    unprocessable_words: frozenset[str] = frozenset()
    # Parameter names (without "--") that get an "Invalid parameter" reply, as Midjourney
    # sends for parameters that the account's model version dropped.
    unsupported_parameters: frozenset[str] = frozenset()
    # Text that makes an image URL of a prompt unreadable, so it gets an "Invalid link" reply.
    invalid_link_fragments: frozenset[str] = frozenset()
    # Prompt words whose /imagine Midjourney acknowledges and then never replies to.
    swallowed_words: frozenset[str] = frozenset()
    # Prompt words whose job stops after "Waiting to start": no progress and no grid.
    stalled_words: frozenset[str] = frozenset()
    # Prompt words whose job shows its progress but never posts its grid.
    unfinished_words: frozenset[str] = frozenset()
    # Prompt words whose grid is stored in the channel with no gateway event, as when
    # Discord loses one: only channel history has it.
    undelivered_final_words: frozenset[str] = frozenset()
    # Answer every /imagine with a "Pending mod message" until switched off (or until the
    # user presses its Acknowledged button).
    pending_moderation: bool = False
    # Answer every /imagine with "Subscription required" until switched off.
    subscription_ended: bool = False

    @property
    def job_duration(self) -> float:
        """Seconds one fast job takes after scaling."""
        return self.job_seconds * self.time_scale

    def bump_command_version(self) -> str:
        """Give /imagine a new version so clients holding the old one get a 400."""
        self.imagine_version = str(int(self.imagine_version) + 1)
        return self.imagine_version

    def use_plan(self, plan: str) -> None:
        """Set the slot counts of a Midjourney plan ("basic", "standard", "pro", "mega")."""
        slots = default_plan_slots()
        if plan not in slots:
            known = ", ".join(slots)
            raise ValueError(f"unknown Midjourney plan {plan!r}; use one of {known}")
        self.fast_slots, self.relax_slots = slots[plan].fast, slots[plan].relax
