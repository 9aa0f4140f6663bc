"""The life of one simulated Midjourney job, from "Waiting to start" to the final grid."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from sandbox.discord.applications import SandboxFile
from sandbox.midjourney import content, render
from sandbox.midjourney.knobs import MidjourneyKnobs
from sandbox.midjourney.prompts import JobPrompt, filename_slug

if TYPE_CHECKING:
    from collections.abc import Sequence

_log = logging.getLogger(__name__)

# How much longer than a fast job the other speed modes take.
MODE_DURATION_FACTORS = {"fast": 1.0, "turbo": 0.25, "relax": 2.0}


class DiscordState(Protocol):
    """The parts of the sandbox Discord state the simulated Midjourney uses."""

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
    ) -> dict[str, Any]: ...

    def edit_message(self, channel_id: str, message_id: str, **changes: Any) -> dict[str, Any]: ...

    def delete_message(self, channel_id: str, message_id: str) -> None: ...

    def dispatch_to_user(self, user_id: str, event: str, data: dict[str, Any]) -> None: ...

    def get_message(self, channel_id: str, message_id: str) -> dict[str, Any] | None: ...


@dataclass(slots=True)
class SimulatedJob:
    """One grid job (imagine, reroll or variation) of the simulated Midjourney."""

    uuid: str
    user: dict[str, Any]
    channel_id: str
    prompt: JobPrompt
    seed: int
    mode: str
    # Interaction metadata the job's messages carry (id, type, name, user).
    interaction: dict[str, Any]
    nonce: str | None
    # "Variations (Strong) by" and the like; empty for imagine and reroll.
    action: str = ""
    # The message the waiting message replies to (the grid a button was pressed on).
    reference_id: str | None = None
    message_id: str | None = None
    index: int | None = None
    # created, queued, running, done, failed, deleted (by moderation) or rejected.
    state: str = "created"

    @property
    def user_id(self) -> str:
        """Id of the user who started the job."""
        return str(self.user["id"])

    def take_nonce(self) -> str | None:
        """Return the nonce once: only the first message for an interaction carries it."""
        nonce, self.nonce = self.nonce, None
        return nonce


class JobRunner:
    """Posts and edits the messages of jobs in the sandbox Discord."""

    def __init__(
        self, discord: DiscordState, knobs: MidjourneyKnobs, bot_user: dict[str, Any]
    ) -> None:
        self.discord = discord
        self.knobs = knobs
        self.bot_user = bot_user

    async def run(self, job: SimulatedJob) -> None:
        """Run ``job``: waiting message, progress edits, then the final grid as a new message."""
        job.state = "running"
        waiting = self.post(
            job,
            content=content.job_content(
                job.prompt.echo, job.user_id, "Waiting to start", action=job.action
            ),
            nonce=job.take_nonce(),
            reference_id=job.reference_id,
        )
        if self._matches(job, self.knobs.stalled_words):
            job.state = "stalled"
            return
        if not await self._show_progress(job, waiting["id"]):
            return

        if self._matches(job, self.knobs.unfinished_words):
            job.state = "unfinished"
            return
        if self._matches(job, self.knobs.filtered_words):
            self.post(
                job,
                embeds=[content.output_filter_embed(job.prompt.echo)],
                reference_id=waiting["id"],
            )
            job.state = "failed"
            return
        if self._matches(job, self.knobs.failing_words):
            self.post(
                job,
                embeds=[content.could_not_complete_embed(job.prompt.echo)],
                reference_id=waiting["id"],
            )
            job.state = "failed"
            return

        grid = await render.render_grid(
            job.prompt.echo, job.seed, job.prompt.aspect, self.knobs.grid_long_side
        )
        self.discord.delete_message(job.channel_id, waiting["id"])
        final = self.post(
            job,
            content=content.final_content(
                job.prompt.echo, job.user_id, job.uuid, job.mode, action=job.action
            ),
            files=[self._png(job, grid)],
            components=content.grid_components(job.uuid),
            reference_id=waiting["id"] if self.knobs.final_as_reply else None,
            interaction=job.interaction if self.knobs.final_carries_interaction else None,
            publish=not self._matches(job, self.knobs.undelivered_final_words),
        )
        job.message_id = str(final["id"])
        job.state = "done"
        _log.debug("sandbox job %s finished as message %s", job.uuid, job.message_id)

    async def _show_progress(self, job: SimulatedJob, message_id: str) -> bool:
        """Wait out the job while editing progress; return False if moderation deleted it."""
        steps = self.knobs.progress_steps if self.knobs.show_progress else ()
        duration = self.knobs.job_duration * MODE_DURATION_FACTORS[job.mode]
        pause = duration / (len(steps) + 1)
        moderated = self._matches(job, self.knobs.post_moderated_words)

        for percent in steps:
            await asyncio.sleep(pause)
            if moderated and percent >= self.knobs.post_moderation_percent:
                self.discord.delete_message(job.channel_id, message_id)
                job.state = "deleted"
                return False
            await self._edit_progress(job, message_id, percent)

        await asyncio.sleep(pause)
        if moderated:
            self.discord.delete_message(job.channel_id, message_id)
            job.state = "deleted"
            return False
        return True

    async def _edit_progress(self, job: SimulatedJob, message_id: str, percent: int) -> None:
        changes: dict[str, Any] = {
            "content": content.progress_content(
                job.prompt.echo, job.user_id, percent, job.mode, action=job.action
            )
        }
        if percent >= self.knobs.preview_from_percent:
            preview = await render.render_preview(
                job.prompt.echo, job.seed, job.prompt.aspect, self.knobs.grid_long_side, percent
            )
            changes["files"] = [
                SandboxFile(
                    f"{job.uuid}_grid_0.webp",
                    preview.data,
                    preview.content_type,
                    preview.width,
                    preview.height,
                )
            ]
        self.discord.edit_message(job.channel_id, message_id, **changes)

    async def post_single(
        self,
        job: SimulatedJob,
        index: int,
        grid_message_id: str,
        nonce: str | None,
        interaction: dict[str, Any],
        single_uuid: str,
    ) -> dict[str, Any]:
        """Post "Image #index" of ``job`` as a reply to its grid."""
        image = await render.render_single(
            job.prompt.echo, job.seed, job.prompt.aspect, self.knobs.grid_long_side, index
        )
        return self.discord.post_message(
            job.channel_id,
            self.bot_user,
            content=content.single_content(job.prompt.echo, job.user_id, index),
            files=[self._png(job, image, single_uuid)],
            components=content.single_components(single_uuid, index),
            nonce=nonce,
            reference_id=grid_message_id,
            interaction=interaction,
        )

    def post(self, job: SimulatedJob, **fields: Any) -> dict[str, Any]:
        """Post a message of ``job`` in its channel, with its interaction metadata unless given."""
        fields.setdefault("interaction", job.interaction)
        return self.discord.post_message(job.channel_id, self.bot_user, **fields)

    def _png(
        self, job: SimulatedJob, image: render.RenderedImage, uuid: str | None = None
    ) -> SandboxFile:
        username = str(job.user.get("username") or "user")
        filename = f"{username}_{filename_slug(job.prompt.text)}_{uuid or job.uuid}.png"
        return SandboxFile(filename, image.data, image.content_type, image.width, image.height)

    @staticmethod
    def _matches(job: SimulatedJob, words: frozenset[str]) -> bool:
        found = set(job.prompt.text.casefold().split())
        return any(word.casefold() in found for word in words)
