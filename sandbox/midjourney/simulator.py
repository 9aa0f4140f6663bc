"""The simulated Midjourney bot, plugged into the sandbox Discord as an application.

It handles /imagine and the grid buttons (U1–U4, V1–V4, reroll) the way real Midjourney
does, within the limits of a plan: "Waiting to start" with the nonce, progress edits with
previews, the final grid as a new message, "Image #n" replies, and the error embeds.
"""

from __future__ import annotations

import asyncio
import logging
import random
import re
import uuid
from collections import deque
from typing import TYPE_CHECKING, Any

from midjourney.messages import EPHEMERAL_FLAG, MIDJOURNEY_BOT_ID
from sandbox.discord.payloads import user_payload
from sandbox.midjourney import account_notices, content, faults
from sandbox.midjourney.jobs import DiscordState, JobRunner, SimulatedJob
from sandbox.midjourney.knobs import IMAGINE_COMMAND_ID, MidjourneyKnobs
from sandbox.midjourney.moderation import Moderation, PendingAppeal
from sandbox.midjourney.prompts import InvalidPromptError, JobPrompt, parse_prompt
from sandbox.midjourney.slots import AccountSlots, Admission

if TYPE_CHECKING:
    from midjau.settings import SandboxSettings

_log = logging.getLogger(__name__)

APPLICATION_COMMAND = 2
MESSAGE_COMPONENT = 3
CUSTOM_ID_PATTERN = re.compile(
    r"^MJ::JOB::(?P<action>upsample|variation|reroll|low_variation|high_variation)"
    r"::(?P<index>\d)::(?P<uuid>[0-9a-f-]{36})(?:::SOLO)?$"
)
PROMPTS_KEPT = 1000
VARIATION_ACTIONS = {
    "variation": "Variations (Strong) by",
    "high_variation": "Variations (Strong) by",
    "low_variation": "Variations (Subtle) by",
}


class MidjourneySimulator:
    """The Midjourney bot of the sandbox; ``knobs`` switches its behaviour at run time."""

    application_id = MIDJOURNEY_BOT_ID
    # The sandbox Discord sends INTERACTION_CREATE; this bot sends SUCCESS, FAILURE or a
    # CAPTCHA modal itself, because real Midjourney's response decides which one the user sees.
    acknowledges_interactions = True

    def __init__(self, discord: DiscordState, settings: SandboxSettings) -> None:
        self.discord = discord
        self.knobs = MidjourneyKnobs(
            time_scale=settings.time_scale, job_seconds=settings.job_seconds
        )
        self.knobs.use_plan(settings.plan)
        self.bot_user: dict[str, Any] = {
            "id": MIDJOURNEY_BOT_ID,
            "username": "Midjourney Bot",
            "global_name": "Midjourney Bot",
            "discriminator": "9282",
            "avatar": None,
            "bot": True,
        }
        self.runner = JobRunner(discord, self.knobs, self.bot_user)
        self.moderation = Moderation(discord, self.knobs, self.bot_user)
        self.jobs: dict[str, SimulatedJob] = {}
        # Job uuid of an "Image #n" reply → (the grid's job, n).
        self.singles: dict[str, tuple[SimulatedJob, int]] = {}
        self._accounts: dict[str, AccountSlots[SimulatedJob]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        # Seeded so a sandbox run produces the same job ids and images every time.
        self._random = random.Random(0x5EED)  # noqa: S311 - ids and seeds of a simulation
        # Interactions (commands and presses) that reached Midjourney, rejected ones included.
        self.interactions_received = 0
        # The latest /imagine prompts Midjourney read, swallowed and rejected ones included.
        self.prompts_received: deque[str] = deque(maxlen=PROMPTS_KEPT)

    def commands(self) -> list[dict[str, Any]]:
        """Return /imagine as the application-command-index lists it."""
        option = {
            "type": 3,
            "name": "prompt",
            "description": "The prompt to imagine",
            "required": True,
        }
        imagine = {
            "id": IMAGINE_COMMAND_ID,
            "type": 1,
            "application_id": self.application_id,
            "version": self.knobs.imagine_version,
            "name": "imagine",
            "description": "Create images with Midjourney",
            "options": [option],
            "dm_permission": True,
            "contexts": [0, 1, 2],
            "integration_types": [0, 1],
        }
        return [imagine]

    def check_interaction(
        self, user_id: str, payload: dict[str, Any]
    ) -> tuple[int, dict[str, Any]] | None:
        """Reject a stale command version, an unknown message or a switched-on fault."""
        self.interactions_received += 1
        if self.knobs.rejections:
            rejection = self.knobs.rejections.popleft()
            return rejection.status, rejection.body

        kind = payload.get("type")
        data = payload.get("data") or {}
        if kind == APPLICATION_COMMAND:
            return self._check_command(data)
        if kind == MESSAGE_COMPONENT:
            message = self.discord.get_message(
                str(payload.get("channel_id")), str(payload.get("message_id"))
            )
            if message is None:
                return 404, {"message": "Unknown Message", "code": 10008}
            return None
        return 400, _form_error(
            "INTERACTION_TYPE_INVALID", "This interaction type is not supported."
        )

    def _check_command(self, data: dict[str, Any]) -> tuple[int, dict[str, Any]] | None:
        if str(data.get("id")) != IMAGINE_COMMAND_ID:
            return 404, {"message": "Unknown application command", "code": 10063}
        if str(data.get("version")) != self.knobs.imagine_version:
            message = "This command is outdated, please try again in a few minutes"
            return 400, _form_error("INTERACTION_APPLICATION_COMMAND_INVALID_VERSION", message)
        return None

    async def handle_interaction(
        self, user_id: str, session_id: str | None, payload: dict[str, Any], interaction_id: str
    ) -> None:
        """Report INTERACTION_SUCCESS or INTERACTION_FAILURE to the user, then act on it."""
        nonce = _optional_str(payload.get("nonce"))
        user = self._user_object(user_id)
        channel_id = str(payload.get("channel_id"))

        if payload.get("type") == APPLICATION_COMMAND:
            if self.knobs.captcha_on_next_imagine:
                self.knobs.captcha_on_next_imagine = False
                self.moderation.send_captcha(user_id, channel_id, interaction_id, nonce)
                return
            self._succeed(user_id, interaction_id, nonce)
            interaction = {
                "id": interaction_id,
                "type": APPLICATION_COMMAND,
                "name": "imagine",
                "user": user,
            }
            notice = account_notices.notice_for_imagine(self.knobs, user_id)
            if notice is not None:
                self.discord.post_message(
                    channel_id, self.bot_user, nonce=nonce, interaction=interaction, **notice
                )
                return
            await self.imagine(user, channel_id, _prompt_option(payload), nonce, interaction)
            return

        custom_id = str((payload.get("data") or {}).get("custom_id", ""))
        message_id = str(payload.get("message_id"))
        if not await self._press(user, channel_id, message_id, custom_id, nonce, interaction_id):
            _log.info("sandbox midjourney: unknown button %r on message %s", custom_id, message_id)
            failure = {"id": interaction_id, "nonce": nonce, "reason_code": 1}
            self.discord.dispatch_to_user(user_id, "INTERACTION_FAILURE", failure)

    async def imagine(
        self,
        user: dict[str, Any],
        channel_id: str,
        raw_prompt: str,
        nonce: str | None,
        interaction: dict[str, Any],
    ) -> None:
        """Check an /imagine prompt and start, queue or reject its job."""
        self.prompts_received.append(raw_prompt)
        fault = faults.imagine_fault(self.knobs, raw_prompt)
        if fault is not None:
            if fault:  # an empty answer: Midjourney swallowed the prompt
                self.discord.post_message(
                    channel_id, self.bot_user, nonce=nonce, interaction=interaction, **fault
                )
            return
        banned = self._banned_word(raw_prompt)
        if banned:
            self._post_error(
                user,
                channel_id,
                content.banned_prompt_embed(banned, raw_prompt),
                nonce,
                interaction,
            )
            return
        try:
            prompt = parse_prompt(
                raw_prompt, suffix=self.knobs.suffix, echo_limit=self.knobs.echo_limit
            )
        except InvalidPromptError as error:
            embed = content.invalid_parameter_embed(error.description, raw_prompt)
            self._post_error(user, channel_id, embed, nonce, interaction)
            return
        if self.moderation.is_soft_moderated(raw_prompt):
            self.moderation.hold(user, channel_id, raw_prompt, nonce, interaction)
            return
        job = self._new_job(user, channel_id, prompt, prompt.seed, nonce, interaction)
        self.submit(job)

    def submit(self, job: SimulatedJob) -> None:
        """Run ``job`` now, queue it with a "Job queued" notice, or reject it as "Queue full"."""
        if job.mode == "fast" and self.knobs.fast_jobs_left == 0:
            embed = content.credits_exhausted_embed(job.prompt.echo)
            self.runner.post(job, embeds=[embed], nonce=job.take_nonce())
            return

        admission = self._account(job.user_id).admit(job, job.mode)
        if admission is Admission.RUN:
            self._start(job)
        elif admission is Admission.QUEUED:
            job.state = "queued"
            self.runner.post(
                job, embeds=[content.queued_embed(job.prompt.echo)], nonce=job.take_nonce()
            )
        else:
            job.state = "rejected"
            self.runner.post(
                job, embeds=[content.queue_full_embed(job.prompt.echo)], nonce=job.take_nonce()
            )

    async def stop(self) -> None:
        """Cancel every running job; the sandbox calls this when it stops."""
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _press(
        self,
        user: dict[str, Any],
        channel_id: str,
        message_id: str,
        custom_id: str,
        nonce: str | None,
        interaction_id: str,
    ) -> bool:
        interaction = {"id": interaction_id, "type": MESSAGE_COMPONENT, "user": user}
        if account_notices.is_acknowledgement(custom_id):
            self._succeed(user["id"], interaction_id, nonce)
            self.knobs.pending_moderation = False
            return True
        appeal = self.moderation.take_appeal(custom_id)
        if appeal is not None:
            self._succeed(user["id"], interaction_id, nonce)
            self._settle_appeal(appeal, nonce, interaction)
            return True
        match = CUSTOM_ID_PATTERN.match(custom_id)
        if match is None:
            return False
        action, index, job_uuid = match["action"], int(match["index"]), match["uuid"]

        if job_uuid in self.singles and action in ("low_variation", "high_variation"):
            parent, single_index = self.singles[job_uuid]
            self._succeed(user["id"], interaction_id, nonce)
            self._start_variation(
                parent, single_index, action, message_id, nonce, interaction, user
            )
            return True
        source = self.jobs.get(job_uuid)
        if source is None or source.message_id != message_id or not 0 <= index <= 4:
            return False

        self._succeed(user["id"], interaction_id, nonce)
        if action == "upsample":
            single_uuid = self._new_uuid()
            self.singles[single_uuid] = (source, index)
            await self.runner.post_single(
                source, index, message_id, nonce, interaction, single_uuid
            )
        elif action == "reroll":
            job = self._new_job(user, channel_id, source.prompt, None, nonce, interaction)
            job.reference_id = message_id
            self.submit(job)
        else:
            self._start_variation(source, index, action, message_id, nonce, interaction, user)
        return True

    def _settle_appeal(
        self, appeal: PendingAppeal, nonce: str | None, interaction: dict[str, Any]
    ) -> None:
        if not self.knobs.appeal_succeeds:
            self.moderation.reject_appeal(appeal, nonce, interaction)
            return
        # An accepted appeal removes the notice and runs the job as a fresh one.
        self.discord.delete_message(appeal.channel_id, appeal.message_id)
        prompt = parse_prompt(
            appeal.raw_prompt, suffix=self.knobs.suffix, echo_limit=self.knobs.echo_limit
        )
        job = self._new_job(appeal.user, appeal.channel_id, prompt, prompt.seed, nonce, interaction)
        self.submit(job)

    def _start_variation(
        self,
        source: SimulatedJob,
        index: int,
        action: str,
        message_id: str,
        nonce: str | None,
        interaction: dict[str, Any],
        user: dict[str, Any],
    ) -> None:
        seed = (source.seed * 31 + index) % 4294967296
        job = self._new_job(user, source.channel_id, source.prompt, seed, nonce, interaction)
        job.action = VARIATION_ACTIONS[action]
        job.reference_id = message_id
        self.submit(job)

    def _start(self, job: SimulatedJob) -> None:
        if job.mode == "fast" and self.knobs.fast_jobs_left is not None:
            self.knobs.fast_jobs_left -= 1
        task = asyncio.create_task(self._run(job), name=f"sandbox-midjourney-job-{job.uuid}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run(self, job: SimulatedJob) -> None:
        try:
            await self.runner.run(job)
        except asyncio.CancelledError:
            raise
        except Exception:
            _log.exception("sandbox job %s failed", job.uuid)
        finally:
            following = self._account(job.user_id).release(job.mode)
            if following is not None:
                self._start(following)

    def _new_job(
        self,
        user: dict[str, Any],
        channel_id: str,
        prompt: JobPrompt,
        seed: int | None,
        nonce: str | None,
        interaction: dict[str, Any],
    ) -> SimulatedJob:
        job = SimulatedJob(
            uuid=self._new_uuid(),
            user=user,
            channel_id=channel_id,
            prompt=prompt,
            seed=seed if seed is not None else self._random.randrange(4294967296),
            mode=prompt.mode or self.knobs.default_mode,
            interaction=interaction,
            nonce=nonce,
        )
        self.jobs[job.uuid] = job
        return job

    def _new_uuid(self) -> str:
        return str(uuid.UUID(int=self._random.getrandbits(128), version=4))

    def _account(self, user_id: str) -> AccountSlots[SimulatedJob]:
        if user_id not in self._accounts:
            self._accounts[user_id] = AccountSlots(
                capacity=self._capacity, queue_size=lambda: self.knobs.queue_size
            )
        return self._accounts[user_id]

    def _capacity(self, pool: str) -> int:
        return self.knobs.relax_slots if pool == "relax" else self.knobs.fast_slots

    def _banned_word(self, prompt: str) -> str | None:
        words = set(re.findall(r"\w+", prompt.casefold()))
        return next(
            (word for word in sorted(self.knobs.banned_words) if word.casefold() in words), None
        )

    def _post_error(
        self,
        user: dict[str, Any],
        channel_id: str,
        embed: dict[str, Any],
        nonce: str | None,
        interaction: dict[str, Any],
    ) -> None:
        ephemeral = self.knobs.ephemeral_errors
        self.discord.post_message(
            channel_id,
            self.bot_user,
            embeds=[embed],
            nonce=nonce,
            interaction=interaction,
            flags=EPHEMERAL_FLAG if ephemeral else 0,
            ephemeral_to=str(user["id"]) if ephemeral else None,
        )

    def _succeed(self, user_id: str, interaction_id: str, nonce: str | None) -> None:
        self.discord.dispatch_to_user(
            user_id, "INTERACTION_SUCCESS", {"id": interaction_id, "nonce": nonce}
        )

    def _user_object(self, user_id: str) -> dict[str, Any]:
        # The sandbox Discord stores the user's name, which result file names contain. A
        # recording stand-in in unit tests has no accounts.
        lookup = getattr(self.discord, "account", None)
        try:
            account = lookup(user_id) if callable(lookup) else None
        except KeyError:
            account = None
        if account is not None:
            return user_payload(account)
        return {"id": user_id, "username": f"user{user_id[-4:]}", "discriminator": "0"}


def _prompt_option(payload: dict[str, Any]) -> str:
    options = (payload.get("data") or {}).get("options") or []
    return next(
        (str(option.get("value", "")) for option in options if option.get("name") == "prompt"), ""
    )


def _form_error(code: str, message: str) -> dict[str, Any]:
    errors = {"data": {"_errors": [{"code": code, "message": message}]}}
    return {"code": 50035, "message": "Invalid Form Body", "errors": errors}


def _optional_str(value: Any) -> str | None:
    return None if value is None else str(value)
