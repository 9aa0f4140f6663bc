"""The running parts of one connected Midjourney account: its relay, pacer and dispatcher."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import aiohttp

from midjourney.messages import ChannelEvent, ChannelMessage
from midjourney.snowflake import snowflake_at
from pipeline.completion import JobCompletion
from pipeline.dispatch_choice import SlotLimits
from pipeline.dispatcher import Dispatcher, PauseHandler
from pipeline.ledger import JobLedger
from pipeline.pacing import Pacer
from storage.models import MidjourneyConnection

if TYPE_CHECKING:
    from midjau.settings import Settings
    from pipeline.relays import AccountRelay

log = logging.getLogger(__name__)

# Pages of 100 messages read when looking for replies after a restart or a timeout.
MAX_HISTORY_PAGES = 10
HISTORY_PAGE_SIZE = 100
# Seconds of history read before the oldest job's send time, for clock skew.
HISTORY_MARGIN_SECONDS = 60
# Seconds a stopping dispatcher gets to end its loop before it is cancelled.
DISPATCHER_STOP_GRACE_SECONDS = 2.0


@dataclass(frozen=True, slots=True)
class RelayConfig:
    """What a relay needs to act for one connected account; the token never appears in a repr."""

    connection_id: int
    token: str = field(repr=False)
    api_base: str
    gateway_url: str
    guild_id: str
    channel_id: str
    on_event: Callable[[ChannelEvent], Awaitable[None]] = field(repr=False)


RelayFactory = Callable[[RelayConfig], "AccountRelay"]
# Runs a coroutine as a named background task that the engine cancels when it stops.
TaskOwner = Callable[[Coroutine[Any, Any, None], str], asyncio.Task[None]]


def default_relay_factory(http: aiohttp.ClientSession) -> RelayFactory:
    """Return a factory that builds the real relay on ``http``."""
    from midjourney.relay import Relay

    def build(config: RelayConfig) -> Relay:
        return Relay(
            http=http,
            token=config.token,
            api_base=config.api_base,
            gateway_url=config.gateway_url,
            guild_id=config.guild_id,
            channel_id=config.channel_id,
            on_event=config.on_event,
        )

    return build


def slot_limits(settings: Settings, connection: MidjourneyConnection) -> SlotLimits:
    """Return the connection's slots: its own override, else its plan's, else Standard's."""
    plans = settings.pacing.plan_slots
    plan = plans.get(connection.plan) or plans.get("standard") or next(iter(plans.values()))
    return SlotLimits(
        fast=connection.fast_slots or plan.fast,
        relax=plan.relax if connection.relax_slots is None else connection.relax_slots,
    )


def build_runtime(
    settings: Settings,
    connection: MidjourneyConnection,
    relay: AccountRelay,
    ledger: JobLedger,
    on_pause: PauseHandler,
    completion: JobCompletion | None = None,
) -> ConnectionRuntime:
    """Assemble a connection's pacer and dispatcher around its relay (nothing starts yet)."""
    pacing = settings.pacing
    gap = (
        pacing.min_gap_seconds if connection.min_gap_seconds is None else connection.min_gap_seconds
    )
    pacer = Pacer(gap, pacing.jitter_seconds)
    dispatcher = Dispatcher(
        connection_id=connection.id,
        relay=relay,
        ledger=ledger,
        pacer=pacer,
        limits=slot_limits(settings, connection),
        daily_cap=connection.daily_cap or pacing.daily_cap,
        queue_full_backoff=pacing.queue_full_backoff_seconds,
        on_pause=on_pause,
        completion=completion,
    )
    dispatcher.speed_override = connection.speed_override or ""
    return ConnectionRuntime(connection.id, connection.channel_id, relay, pacer, dispatcher)


@dataclass(slots=True)
class ConnectionRuntime:
    """A started connection: the relay acting as the user, its pacer and its dispatcher."""

    connection_id: int
    channel_id: str
    relay: AccountRelay
    pacer: Pacer
    dispatcher: Dispatcher
    task: asyncio.Task[None] | None = None

    async def stop(self) -> None:
        """Stop the dispatcher, then close the relay."""
        self.dispatcher.pause()
        if self.task is not None:
            # A cancel inside a SQLite read leaves its snapshot open and blocks the checkpoint
            # that purges deleted tokens, so the paused loop first gets time to end by itself.
            await asyncio.wait({self.task}, timeout=DISPATCHER_STOP_GRACE_SECONDS)
            self.task.cancel()
            await asyncio.gather(self.task, return_exceptions=True)
        try:
            await self.relay.close()
        except Exception:
            log.exception("connection %s: closing the relay failed", self.connection_id)
        # Presses still waiting for a turn now fail on the closed relay instead of hanging.
        self.pacer.release()
        log.info("connection %s stopped and its relay closed", self.connection_id)


async def fetch_history_since(relay: AccountRelay, since: datetime) -> list[ChannelMessage]:
    """Return the channel's messages since ``since`` (oldest first), reading page by page."""
    after = snowflake_at(since - timedelta(seconds=HISTORY_MARGIN_SECONDS))
    messages: dict[str, ChannelMessage] = {}
    for _page in range(MAX_HISTORY_PAGES):
        page = await relay.fetch_history(limit=HISTORY_PAGE_SIZE, after=after)
        fresh = [message for message in page if message.id not in messages]
        for message in fresh:
            messages[message.id] = message
        if len(page) < HISTORY_PAGE_SIZE or not fresh:
            break
        after = max((message.id for message in page), key=int)
    return sorted(messages.values(), key=lambda message: int(message.id))
