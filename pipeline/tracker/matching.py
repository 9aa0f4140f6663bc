"""Find the job a Midjourney message belongs to.

Keys are tried from the most to the least reliable: the nonce we sent, the progress
message id, the interaction id, Midjourney's job uuid, and the message a reply points at.
Only then is the prompt text compared. Midjourney rewrites it (short links for image
URLs, appended suffixes), and two jobs may share it. On a prompt tie the oldest job wins,
because Midjourney starts jobs in the order it receives them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from midjourney.messages import ChannelMessage
from midjourney.prompt import normalise_for_matching
from midjourney.replies import Reply, ReplyKind
from storage.models import Job, JobStatus

# A truncated echo (Discord caps message content at 2000 characters) still matches
# by prefix, but only when it is long enough not to match by accident.
MIN_PREFIX_LENGTH = 40

PRE_GRID_STATUSES = frozenset({JobStatus.SUBMITTED, JobStatus.WAITING, JobStatus.RUNNING})


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
        )

    @property
    def age_key(self) -> tuple[float, int]:
        """Sort key that puts the job sent first first."""
        sent = self.sent_at.timestamp() if self.sent_at else float("inf")
        return (sent, self.sequence)


@dataclass(frozen=True, slots=True)
class Match:
    """A job found for a message, and the key that found it."""

    job: TrackedJob
    key: MatchKey


@dataclass(frozen=True, slots=True)
class PressRecord:
    """An upscale button we pressed for a job."""

    job_id: str
    index: int


@dataclass(slots=True)
class JobIndex:
    """Jobs in flight, looked up by every key Midjourney may echo."""

    _jobs: dict[str, TrackedJob] = field(default_factory=dict)
    _keys: dict[tuple[str, str], str] = field(default_factory=dict)
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
        """Track a job, replacing what was known of it before."""
        self.remove(job.job_id)
        self._jobs[job.job_id] = job
        for key in _keys_of(job):
            self._keys[key] = job.job_id

    def remove(self, job_id: str) -> None:
        """Stop tracking a job and the presses made for it."""
        job = self._jobs.pop(job_id, None)
        if job is None:
            return
        for key in _keys_of(job):
            if self._keys.get(key) == job_id:
                del self._keys[key]
        for presses in (self._presses_by_nonce, self._presses_by_interaction):
            for nonce in [nonce for nonce, press in presses.items() if press.job_id == job_id]:
                del presses[nonce]

    def find(self, kind: str, value: str | None) -> TrackedJob | None:
        """Return the job whose key ``kind`` ("nonce", "interaction", …) equals ``value``."""
        if not value:
            return None
        job_id = self._keys.get((kind, value))
        return self._jobs.get(job_id) if job_id else None

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
        """Return the job a Midjourney message belongs to, trying the keys in order."""
        for key, job in self._keyed_candidates(message, reply):
            if job is not None:
                return Match(job, key)
        job = self._match_prompt(message, reply)
        return Match(job, MatchKey.PROMPT) if job else None

    def _keyed_candidates(
        self, message: ChannelMessage, reply: Reply
    ) -> Iterable[tuple[MatchKey, TrackedJob | None]]:
        yield MatchKey.NONCE, self.find("nonce", message.nonce)
        press = self.press_for_nonce(message.nonce)
        yield MatchKey.NONCE, self._jobs.get(press.job_id) if press else None
        yield MatchKey.PROGRESS_MESSAGE, self.find("progress", message.id)
        yield MatchKey.PROGRESS_MESSAGE, self.find("progress", message.reference_id)
        yield MatchKey.INTERACTION, self._find_interaction(message.interaction_id)
        yield MatchKey.JOB_UUID, self.find("uuid", reply.job_uuid)
        yield MatchKey.REFERENCE, self.find("grid", message.reference_id)
        yield MatchKey.REFERENCE, self.find("grid", message.id)

    def _find_interaction(self, interaction_id: str | None) -> TrackedJob | None:
        job = self.find("interaction", interaction_id)
        if job is not None or interaction_id is None:
            return job
        press = self._presses_by_interaction.get(interaction_id)
        return self._jobs.get(press.job_id) if press else None

    def _match_prompt(self, message: ChannelMessage, reply: Reply) -> TrackedJob | None:
        if not reply.prompt:
            return None
        echo = normalise_for_matching(reply.prompt)
        if not echo:
            return None
        candidates = [
            job
            for job in self.jobs()
            if _may_receive(job, message, reply) and _same_account(job, message, reply)
        ]
        for job in candidates:
            if job.normalised_prompt == echo:
                return job
        if len(echo) < MIN_PREFIX_LENGTH:
            return None
        for job in candidates:
            if job.normalised_prompt.startswith(echo) or echo.startswith(job.normalised_prompt):
                return job
        return None


def _keys_of(job: TrackedJob) -> list[tuple[str, str]]:
    pairs = (
        ("nonce", job.nonce),
        ("interaction", job.interaction_id),
        ("progress", job.progress_message_id),
        ("grid", job.grid_message_id),
        ("uuid", job.midjourney_job_id),
    )
    return [(kind, value) for kind, value in pairs if value]


def _may_receive(job: TrackedJob, message: ChannelMessage, reply: Reply) -> bool:
    """Return whether a message of this kind can still belong to the job, by its stage."""
    if job.channel_id and message.channel_id and job.channel_id != message.channel_id:
        return False
    if reply.kind == ReplyKind.UPSCALE:
        return job.grid_message_id is not None and reply.image_index in job.upscales_pending
    if job.status not in PRE_GRID_STATUSES:
        return False
    if reply.kind in (ReplyKind.WAITING, ReplyKind.PROGRESS, ReplyKind.QUEUED):
        return job.progress_message_id is None
    return job.grid_message_id is None


def _same_account(job: TrackedJob, message: ChannelMessage, reply: Reply) -> bool:
    # In a shared channel the mention (or the interaction's user) names whose job it is.
    user_id = reply.mentioned_user_id or message.interaction_user_id
    return not (user_id and job.account_id and user_id != job.account_id)
