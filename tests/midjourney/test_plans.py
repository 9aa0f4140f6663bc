"""Plans: names, Relax and Stealth per plan, and slot counts from settings."""

from __future__ import annotations

import pytest

from midjau.settings import default_plan_slots
from midjourney.plans import (
    PLAN_NAMES,
    Plan,
    SpeedMode,
    jobs_per_prompt_cap,
    parse_mode,
    parse_plan,
    relax_allowed,
    slots_for,
    stealth_allowed,
)


def test_plan_names() -> None:
    assert PLAN_NAMES == ("basic", "standard", "pro", "mega")


@pytest.mark.parametrize(
    ("text", "plan"), [("Pro", Plan.PRO), (" mega ", Plan.MEGA), ("BASIC", Plan.BASIC)]
)
def test_parse_plan(text: str, plan: Plan) -> None:
    assert parse_plan(text) is plan


def test_parse_plan_unknown_lists_choices() -> None:
    with pytest.raises(ValueError, match="basic, standard, pro, mega"):
        parse_plan("premium")


@pytest.mark.parametrize(
    ("text", "mode"),
    [
        ("fast", SpeedMode.FAST),
        ("Relaxed", SpeedMode.RELAX),
        ("relax", SpeedMode.RELAX),
        ("TURBO", SpeedMode.TURBO),
    ],
)
def test_parse_mode(text: str, mode: SpeedMode) -> None:
    assert parse_mode(text) is mode


@pytest.mark.parametrize(
    ("plan", "relax", "stealth"),
    [("basic", False, False), ("standard", True, False), ("pro", True, True), ("mega", True, True)],
)
def test_plan_features(plan: str, relax: bool, stealth: bool) -> None:
    assert relax_allowed(plan) is relax
    assert stealth_allowed(plan) is stealth


@pytest.mark.parametrize(
    ("plan", "mode", "slots"),
    [
        ("basic", "fast", 3),
        ("basic", "relax", 0),
        ("basic", "turbo", 3),
        ("standard", "fast", 3),
        ("standard", "relax", 3),
        ("pro", "fast", 12),
        ("pro", "relaxed", 3),
        ("mega", "turbo", 12),
        ("mega", "relax", 3),
    ],
)
def test_slots_for_default_settings(plan: str, mode: str, slots: int) -> None:
    assert slots_for(plan, mode, default_plan_slots()) == slots


def test_slots_for_relax_on_basic_ignores_setting() -> None:
    from midjau.settings import PlanSlots

    assert slots_for("basic", "relax", {"basic": PlanSlots(fast=3, relax=5)}) == 0


def test_slots_for_missing_plan() -> None:
    with pytest.raises(ValueError, match="pro"):
        slots_for("pro", "fast", {})


@pytest.mark.parametrize(
    ("plan", "cap"), [("basic", 4), ("standard", 10), ("pro", 40), ("mega", 40)]
)
def test_jobs_per_prompt_cap(plan: str, cap: int) -> None:
    assert jobs_per_prompt_cap(plan) == cap
