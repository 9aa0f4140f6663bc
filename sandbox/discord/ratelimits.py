"""Test knobs: reject the next N requests to a route with 429 as Discord does, and log
every REST request so a test can see how a client paced itself."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

# Requests the log keeps; older ones are dropped so long runs stay at flat memory.
REQUEST_LOG_SIZE = 10_000


@dataclass(slots=True)
class RateLimitRule:
    """Answer ``remaining`` more matching requests with 429 and ``retry_after`` seconds."""

    remaining: int
    retry_after: float
    method: str | None = None
    route: str | None = None
    is_global: bool = False

    def matches(self, method: str, template: str, path: str) -> bool:
        if self.method is not None and self.method.upper() != method:
            return False
        return self.route is None or self.route in (template, path)


class RateLimitKnobs:
    """The active rules; the REST middleware asks ``take`` before every API request."""

    def __init__(self) -> None:
        self._rules: list[RateLimitRule] = []

    def limit_next(
        self,
        count: int,
        *,
        method: str | None = None,
        route: str | None = None,
        retry_after: float = 0.05,
        is_global: bool = False,
    ) -> RateLimitRule:
        """Rate-limit the next ``count`` requests matching the method and route.

        ``route`` is a path without the ``/api/vN`` prefix, either a template such as
        ``/channels/{channel_id}/messages`` or a concrete path; None matches every route.
        """
        rule = RateLimitRule(count, retry_after, method, route, is_global)
        self._rules.append(rule)
        return rule

    def take(self, method: str, template: str, path: str) -> RateLimitRule | None:
        """Return the rule that limits this request (using up one of its count), or None."""
        for rule in self._rules:
            if rule.remaining > 0 and rule.matches(method, template, path):
                rule.remaining -= 1
                return rule
        self._rules = [rule for rule in self._rules if rule.remaining > 0]
        return None


@dataclass(frozen=True, slots=True)
class RequestRecord:
    """One REST request the sandbox Discord handled."""

    at: float  # time.monotonic() when it arrived
    method: str
    route: str  # the route template, such as /channels/{channel_id}/messages
    path: str  # the concrete path without the /api/vN prefix
    status: int  # the response status, or 0 when the handler failed unexpectedly


class RequestLog:
    """The latest REST requests, oldest first."""

    def __init__(self, size: int = REQUEST_LOG_SIZE) -> None:
        self._records: deque[RequestRecord] = deque(maxlen=size)

    def add(self, record: RequestRecord) -> None:
        self._records.append(record)

    def matching(
        self, *, method: str | None = None, route: str | None = None
    ) -> list[RequestRecord]:
        """Return the requests with this method and route (template or concrete path)."""
        return [
            record
            for record in self._records
            if (method is None or record.method == method.upper())
            and (route is None or route in (record.route, record.path))
        ]
