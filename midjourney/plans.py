"""Midjourney subscription plans and what each allows.

The plan table (as of 2026): Basic runs 3 fast jobs at once and has no Relax mode.
Standard runs 3 at once and may use Relax. Pro and Mega run 12 fast plus 3 relaxed jobs
and may use Stealth. Every plan queues up to 10 more. The slot numbers themselves are
settings (``PacingSettings.plan_slots``), because an account's real limit can be lower.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Protocol


class Plan(StrEnum):
    """A Midjourney subscription plan."""

    BASIC = "basic"
    STANDARD = "standard"
    PRO = "pro"
    MEGA = "mega"


class SpeedMode(StrEnum):
    """The GPU speed a job runs at."""

    FAST = "fast"
    RELAX = "relax"
    TURBO = "turbo"


class SlotCounts(Protocol):
    """Jobs one account may run at once per speed (``midjau.settings.PlanSlots``)."""

    @property
    def fast(self) -> int: ...

    @property
    def relax(self) -> int: ...


PLAN_NAMES: tuple[str, ...] = tuple(plan.value for plan in Plan)
# Jobs Midjourney keeps waiting once the running slots are full, on every plan.
QUEUE_LENGTH = 10
_RELAX_PLANS = frozenset({Plan.STANDARD, Plan.PRO, Plan.MEGA})
_STEALTH_PLANS = frozenset({Plan.PRO, Plan.MEGA})
# NOTE: Midjourney's caps on --repeat and on {…} permutations per plan (Basic 4,
# Standard 10, Pro and Mega 40) come from memory of its docs and were not re-checked.
_JOBS_PER_PROMPT = {Plan.BASIC: 4, Plan.STANDARD: 10, Plan.PRO: 40, Plan.MEGA: 40}


def parse_plan(text: str) -> Plan:
    """Read a plan name ("Pro", " mega ") into a Plan; raise ValueError naming the choices."""
    name = text.strip().casefold()
    try:
        return Plan(name)
    except ValueError:
        choices = ", ".join(PLAN_NAMES)
        raise ValueError(f"'{text}' is not a Midjourney plan; use one of {choices}") from None


def parse_mode(text: str) -> SpeedMode:
    """Read a speed mode ("Relaxed", "fast") into a SpeedMode; raise ValueError otherwise."""
    name = text.strip().casefold()
    if name == "relaxed":
        return SpeedMode.RELAX
    try:
        return SpeedMode(name)
    except ValueError:
        raise ValueError(f"'{text}' is not a speed mode; use fast, relax or turbo") from None


def relax_allowed(plan: Plan | str) -> bool:
    """Return whether the plan includes Relax mode (every plan but Basic)."""
    return parse_plan(plan) in _RELAX_PLANS


def stealth_allowed(plan: Plan | str) -> bool:
    """Return whether the plan may hide its jobs from the public gallery (Pro and Mega)."""
    return parse_plan(plan) in _STEALTH_PLANS


def jobs_per_prompt_cap(plan: Plan | str) -> int:
    """Return the most jobs one prompt may start through --repeat or {…} options."""
    return _JOBS_PER_PROMPT[parse_plan(plan)]


def slots_for(plan: Plan | str, mode: SpeedMode | str, plan_slots: Mapping[str, SlotCounts]) -> int:
    """Return how many jobs of ``mode`` an account on ``plan`` may run at once.

    Fast and turbo share the fast slots. Relax on a plan without Relax mode gets 0 slots.
    Raises ValueError for an unknown plan or mode, or a plan missing from ``plan_slots``.
    """
    chosen_plan = parse_plan(plan)
    chosen_mode = parse_mode(mode)
    counts = plan_slots.get(chosen_plan.value)
    if counts is None:
        raise ValueError(f"no slot counts are configured for the {chosen_plan.value} plan")
    if chosen_mode is SpeedMode.RELAX:
        return counts.relax if chosen_plan in _RELAX_PLANS else 0
    return counts.fast
