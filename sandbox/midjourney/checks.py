"""Parameter checks behind the simulated "Invalid parameter" embed.

The project's prompt grammar (``midjourney.prompt``) decides when it is importable. The
small local table below always runs first, because the simulator itself needs a readable
``--ar`` and ``--seed``.
"""

from __future__ import annotations

import logging
import re

_log = logging.getLogger(__name__)

# Names (and aliases) the simulator accepts, with an optional numeric range.
NUMERIC_RANGES: dict[str, tuple[float, float]] = {
    "chaos": (0, 100),
    "c": (0, 100),
    "stylize": (0, 1000),
    "s": (0, 1000),
    "weird": (0, 3000),
    "w": (0, 3000),
    "seed": (0, 4294967295),
    "stop": (10, 100),
    "iw": (0, 3),
    "sw": (0, 1000),
    "exp": (0, 100),
    "repeat": (1, 40),
    "r": (1, 40),
    "quality": (0.25, 4),
    "q": (0.25, 4),
    "version": (1, 8.2),
    "v": (1, 8.2),
    "niji": (4, 7),
}
OTHER_NAMES = frozenset(
    {
        "ar", "aspect", "tile", "no", "style", "raw", "sref", "cref", "cw", "oref", "ow",
        "profile", "p", "draft", "fast", "relax", "turbo", "public", "stealth", "hd", "sv",
        "edit", "video", "motion", "loop", "end", "bs",
    }
)  # fmt: skip
ASPECT_PATTERN = re.compile(r"^[1-9]\d*:[1-9]\d*$")


def find_problem(prompt: str, parameters: list[tuple[str, str]]) -> str | None:
    """Return the "Invalid parameter" description for ``prompt``, or None when it is valid."""
    for name, value in parameters:
        problem = _check_parameter(name, value)
        if problem:
            return problem
    return _grammar_problem(prompt)


def _check_parameter(name: str, value: str) -> str | None:
    if name in ("ar", "aspect"):
        if not ASPECT_PATTERN.match(value):
            return f"Invalid aspect ratio `{value}`: use two whole numbers such as `--ar 16:9`."
        return None
    if name in NUMERIC_RANGES:
        low, high = NUMERIC_RANGES[name]
        out_of_range = (
            f"Invalid value `{value}` for `--{name}`: expected a number from {low:g} to {high:g}."
        )
        try:
            number = float(value)
        except ValueError:
            return out_of_range
        if name == "seed" and not value.isdigit():
            return f"Invalid value `{value}` for `--seed`: expected a whole number."
        if not low <= number <= high:
            return out_of_range
        return None
    if name not in OTHER_NAMES:
        return f"Unrecognized parameter(s): `--{name}`"
    return None


def _grammar_problem(prompt: str) -> str | None:
    try:
        from midjourney.prompt import PromptError, build_prompt
    except ImportError:
        return None
    try:
        build_prompt(prompt)
    except PromptError as error:
        if not error.problems:
            return str(error)
        problem = error.problems[0]
        return f"{problem.message} {problem.fix}".strip()
    return None
