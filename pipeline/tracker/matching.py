"""Find the job a Midjourney message belongs to, and which of its renders.

A job renders its grid, and then one more grid for each variation (V1–V4) pressed on it.
Keys are tried from the most to the least reliable: the nonce we sent, the progress
message id, the interaction id, Midjourney's job uuid, and the message a reply points at.
Each key is looked up among jobs first, then among variations. Only then is the prompt
text compared. Midjourney rewrites it (short links for image URLs, appended suffixes),
and two renders may share it. On a prompt tie the oldest render wins, because Midjourney
starts jobs in the order it receives them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from midjourney.messages import ChannelMessage
from midjourney.prompt import normalise_for_matching
from midjourney.replies import Reply, ReplyKind
from pipeline.variations import PRE_GRID_VARIATION_STATUSES, VariationRender, renders_of
from storage.models import Job, JobStatus

# A truncated echo (Discord caps message content at 2000 characters) still matches
# by prefix, but only when it is long enough not to match by accident.
MIN_PREFIX_LENGTH = 40

PRE_GRID_STATUSES = frozenset({JobStatus.SUBMITTED, JobStatus.WAITING, JobStatus.RUNNING})
# Actions whose messages belong to a variation render, never to a job's own render.
VARIATION_ACTIONS = frozenset({"variation", "remix"})
# Messages of a render before its grid: the first reply and the progress edits.
START_KINDS = frozenset(
    {ReplyKind.WAITING, ReplyKind.PROGRESS, ReplyKind.QUEUED, ReplyKind.VARIATION_PLACEHOLDER}
)


class MatchKey(StrEnum):
    """The key that tied a message to its job."""

    NONCE = "nonce"
    PROGRESS_MESSAGE = "progress-message"
    INTERACTION = "interaction"
    JOB_UUID = "job-uuid"
    REFERENCE = "message-reference"
    PROMPT = "prompt"


@dataclass(slots=True)
class TrackedJob:
    """The tracker's in-memory copy of a job that Midjourney is working on."""

    job_id: str
    batch_id: int
    connection_id: int | None
    status: JobStatus
    prompt: str
    normalised_prompt: str
    sent_at: datetime | None
    sequence: int
    channel_id: str = ""
    account_id: str = ""
    nonce: str | None = None
    interaction_id: str | None = None
    progress_message_id: str | None = None
    grid_message_id: str | None = None
    midjourney_job_id: str | None = None
    upscales_pending: tuple[int, ...] = ()
    variations: tuple[VariationRender, ...] = ()

    @classmethod
    def from_job(cls, job: Job, *, channel_id: str = "", account_id: str = "") -> TrackedJob:
        """Copy the matching keys of a job row."""
        return cls(
            job_id=job.id,
            batch_id=job.batch_id,
            connection_id=job.connection_id,
            status=job.status,
            prompt=job.prompt,
            normalised_prompt=normalise_for_matching(job.prompt),
            sent_at=job.sent_at,
            sequence=job.sequence,
            channel_id=channel_id,
            account_id=account_id,
            nonce=job.nonce,
            interaction_id=job.interaction_id,
            progress_message_id=job.progress_message_id,
            grid_message_id=job.grid_message_id,
            midjourney_job_id=job.midjourney_job_id,
            upscales_pending=tuple(job.upscales_pending or ()),
            variations=tuple(renders_of(job).values()),
        )

    def variation(self, index: int) -> VariationRender | None:
        """Return the render of variation V``index``."""
        return next((render for render in self.variations if render.index == index), None)

    @property
    def age_key(self) -> tuple[float, int]:
        """Sort key that puts the job sent first first."""
        sent = self.sent_at.timestamp() if self.sent_at else float("inf")
        return (sent, self.sequence)


@dataclass(frozen=True, slots=True)
class Match:
    """A job found for a message, the key that found it, and the variation it concerns.

    ``variation`` is the index n of the V<n> render the message belongs to, or None
    when it belongs to the job's own render (or is one of its upscales).
    """

    job: TrackedJob
    key: MatchKey
    variation: int | None = None


# A job and, when the message concerns one of its variations, that variation's index.
Target = tuple[TrackedJob, int | None]


@dataclass(frozen=True, slots=True)
class PressRecord:
    """An upscale button we pressed for a job."""

    job_id: str
    index: int


@dataclass(slots=True)
class JobIndex:
    """Jobs in flight and their variations, looked up by every key Midjourney may echo."""

    _jobs: dict[str, TrackedJob] = field(default_factory=dict)
    _keys: dict[tuple[str, str], str] = field(default_factory=dict)
    _variation_keys: dict[tuple[str, str], tuple[str, int]] = field(default_factory=dict)
    _presses_by_nonce: dict[str, PressRecord] = field(default_factory=dict)
    _presses_by_interaction: dict[str, PressRecord] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self._jobs)

    def __contains__(self, job_id: object) -> bool:
        return job_id in self._jobs

    def get(self, job_id: str) -> TrackedJob | None:
        """Return the tracked job with this id."""
        return self._jobs.get(job_id)

    def jobs(self) -> list[TrackedJob]:
        """Return every tracked job, oldest first."""
        return sorted(self._jobs.values(), key=lambda job: job.age_key)

    def put(self, job: TrackedJob) -> None:
        """Track a job, replacing what was known of it and of its variations before."""
        self.remove(job.job_id, keep_presses=True)
        self._jobs[job.job_id] = job
        for key in _keys_of(job):
            self._keys[key] = job.job_id
        for render in job.variations:
            for key in _keys_of_render(render):
                self._variation_keys[key] = (job.job_id, render.index)

    def remove(self, job_id: str, *, keep_presses: bool = False) -> None:
        """Stop tracking a job, its variations and (unless kept) the presses made for it."""
        job = self._jobs.pop(job_id, None)
        if job is None:
            return
        for key in _keys_of(job):
            if self._keys.get(key) == job_id:
                del self._keys[key]
        for render in job.variations:
            for key in _keys_of_render(render):
                if self._variation_keys.get(key) == (job_id, render.index):
                    del self._variation_keys[key]
        if keep_presses:
            return
        for presses in (self._presses_by_nonce, self._presses_by_interaction):
            for nonce in [nonce for nonce, press in presses.items() if press.job_id == job_id]:
                del presses[nonce]

    def find(self, kind: str, value: str | None) -> TrackedJob | None:
        """Return the job whose key ``kind`` ("nonce", "interaction", …) equals ``value``."""
        if not value:
            return None
        job_id = self._keys.get((kind, value))
        return self._jobs.get(job_id) if job_id else None

    def find_variation(
        self, kind: str, value: str | None
    ) -> tuple[TrackedJob, VariationRender] | None:
        """Return the job and variation whose key ``kind`` equals ``value``."""
        if not value:
            return None
        found = self._variation_keys.get((kind, value))
        job = self._jobs.get(found[0]) if found else None
        render = job.variation(found[1]) if job and found else None
        return (job, render) if job and render else None

    def add_press(self, nonce: str, job_id: str, index: int) -> None:
        """Remember the nonce of an upscale press, to match its interaction events."""
        self._presses_by_nonce[nonce] = PressRecord(job_id, index)

    def press_for_nonce(self, nonce: str | None) -> PressRecord | None:
        """Return the press sent with ``nonce``."""
        return self._presses_by_nonce.get(nonce) if nonce else None

    def record_press_interaction(self, press: PressRecord, interaction_id: str) -> None:
        """Remember the interaction id Discord gave a press."""
        self._presses_by_interaction[interaction_id] = press

    def match(self, message: ChannelMessage, reply: Reply) -> Match | None:
        """Return the job (and variation) a Midjourney message belongs to, trying keys in order."""
        for key, target in self._keyed_candidates(message, reply):
            if target is not None:
                return Match(target[0], key, target[1])
        target = self._match_prompt(message, reply)
        return Match(target[0], MatchKey.PROMPT, target[1]) if target else None

    def _keyed_candidates(
        self, message: ChannelMessage, reply: Reply
    ) -> Iterable[tuple[MatchKey, Target | None]]:
        yield MatchKey.NONCE, self._target("nonce", message.nonce)
        press = self.press_for_nonce(message.nonce)
        yield MatchKey.NONCE, _own(self._jobs.get(press.job_id) if press else None)
        yield MatchKey.PROGRESS_MESSAGE, self._target("progress", message.id)
        yield MatchKey.PROGRESS_MESSAGE, self._target("progress", message.reference_id)
        yield MatchKey.INTERACTION, self._find_interaction(message.interaction_id)
        yield MatchKey.JOB_UUID, self._target("uuid", reply.job_uuid)
        yield MatchKey.REFERENCE, self._reply_to_grid(message, reply)
        yield MatchKey.REFERENCE, self._target("grid", message.id)

    def _target(self, kind: str, value: str | None) -> Target | None:
        job = self.find(kind, value)
        if job is not None:
            return job, None
        found = self.find_variation(kind, value)
        return (found[0], found[1].index) if found else None

    def _find_interaction(self, interaction_id: str | None) -> Target | None:
        target = self._target("interaction", interaction_id)
        if target is not None or interaction_id is None:
            return target
        press = self._presses_by_interaction.get(interaction_id)
        return _own(self._jobs.get(press.job_id) if press else None)

    def _reply_to_grid(self, message: ChannelMessage, reply: Reply) -> Target | None:
        """Return the job whose grid the message replies to, and the variation it starts.

        Upscales reply to the grid, and so does the first message of a variation pressed
        on it. A variation named by its placeholder ("Making variations for image #2")
        gets that message; otherwise the oldest pressed variation still waiting for one.
        """
        target = self._target("grid", message.reference_id)
        if target is None or target[1] is not None or reply.kind == ReplyKind.UPSCALE:
            return target
        job = target[0]
        waiting = [
            render
            for render in sorted(job.variations, key=_render_age)
            if _render_may_receive(render, reply)
        ]
        named = [render for render in waiting if render.index == reply.image_index]
        chosen = named or waiting
        return job, chosen[0].index if chosen else None

    def _match_prompt(self, message: ChannelMessage, reply: Reply) -> Target | None:
        if not reply.prompt:
            return None
        echo = normalise_for_matching(reply.prompt)
        if not echo:
            return None
        candidates = [
            (target, job.normalised_prompt)
            for target, job, _age in self._prompt_candidates(message, reply)
        ]
        for target, prompt in candidates:
            if prompt == echo:
                return target
        if len(echo) < MIN_PREFIX_LENGTH:
            return None
        for target, prompt in candidates:
            if prompt.startswith(echo) or echo.startswith(prompt):
                return target
        return None

    def _prompt_candidates(
        self, message: ChannelMessage, reply: Reply
    ) -> list[tuple[Target, TrackedJob, tuple[float, int]]]:
        """Return the renders that may receive the message, oldest first."""
        for_variation = _is_variation_message(reply)
        candidates: list[tuple[Target, TrackedJob, tuple[float, int]]] = []
        for job in self._jobs.values():
            if not _same_channel(job, message) or not _same_account(job, message, reply):
                continue
            if for_variation is not True and _may_receive(job, reply):
                candidates.append(((job, None), job, job.age_key))
            if for_variation is False:
                continue
            for render in job.variations:
                if _render_may_receive(render, reply):
                    age = (_render_age(render)[0], job.sequence)
                    candidates.append(((job, render.index), job, age))
        return sorted(candidates, key=lambda candidate: candidate[2])


def _own(job: TrackedJob | None) -> Target | None:
    return (job, None) if job is not None else None


def _keys_of(job: TrackedJob) -> list[tuple[str, str]]:
    pairs = (
        ("nonce", job.nonce),
        ("interaction", job.interaction_id),
        ("progress", job.progress_message_id),
        ("grid", job.grid_message_id),
        ("uuid", job.midjourney_job_id),
    )
    return [(kind, value) for kind, value in pairs if value]


def _keys_of_render(render: VariationRender) -> list[tuple[str, str]]:
    pairs = (
        ("nonce", render.nonce),
        ("interaction", render.interaction_id),
        ("progress", render.progress_message_id),
        ("grid", render.grid_message_id),
        ("uuid", render.midjourney_job_id),
    )
    return [(kind, value) for kind, value in pairs if value]


def _render_age(render: VariationRender) -> tuple[float, int]:
    sent = render.sent_at.timestamp() if render.sent_at else float("inf")
    return (sent, render.index)


def _is_variation_message(reply: Reply) -> bool | None:
    """Return True for a variation's message, False for an imagine's, None when unknown.

    Error embeds name no action, so they may belong to either kind of render.
    """
    if reply.kind == ReplyKind.VARIATION_PLACEHOLDER or reply.action in VARIATION_ACTIONS:
        return True
    if reply.action is None:
        return None
    return False


def _may_receive(job: TrackedJob, reply: Reply) -> bool:
    """Return whether a message of this kind can still belong to the job, by its stage."""
    if reply.kind == ReplyKind.UPSCALE:
        return job.grid_message_id is not None and reply.image_index in job.upscales_pending
    if job.status not in PRE_GRID_STATUSES:
        return False
    if reply.kind in START_KINDS:
        return job.progress_message_id is None
    return job.grid_message_id is None


def _render_may_receive(render: VariationRender, reply: Reply) -> bool:
    """Return whether a message of this kind can still belong to a variation, by its stage."""
    if reply.kind == ReplyKind.UPSCALE or render.status not in PRE_GRID_VARIATION_STATUSES:
        return False
    if reply.kind in START_KINDS:
        return render.progress_message_id is None
    return True


def _same_channel(job: TrackedJob, message: ChannelMessage) -> bool:
    return not (job.channel_id and message.channel_id and job.channel_id != message.channel_id)


def _same_account(job: TrackedJob, message: ChannelMessage, reply: Reply) -> bool:
    # In a shared channel the mention (or the interaction's user) names whose job it is.
    user_id = reply.mentioned_user_id or message.interaction_user_id
    return not (user_id and job.account_id and user_id != job.account_id)
