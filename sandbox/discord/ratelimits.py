"""A test knob: make the next N requests to a route answer 429 like Discord does."""

from __future__ import annotations

from dataclasses import dataclass


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
