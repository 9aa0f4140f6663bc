"""Permutation prompts: ``a {red, green} bird`` stands for "a red bird" and "a green bird".

Groups may nest and may sit anywhere: in the text, around image URLs or in parameter
values. Inside a group, ``\\,`` is a literal comma. Expansion follows Midjourney's order:
the first group varies slowest.
"""

from __future__ import annotations

import itertools
import math
import re
from dataclasses import dataclass

from midjourney.problems import PromptError, PromptProblem

_WHITESPACE = re.compile(r"\s+")


class _SyntaxError(ValueError):
    """Unbalanced braces; the message is safe to show."""


@dataclass(frozen=True, slots=True)
class _Group:
    options: tuple[tuple[_Part, ...], ...]


_Part = str | _Group


def has_permutations(text: str) -> bool:
    """Return whether ``text`` contains a ``{…}`` group or a stray brace."""
    return "{" in text or "}" in text


def count_permutations(text: str) -> int:
    """Return how many prompts ``text`` expands into, without expanding it."""
    return _count(_parse(text))


def expand_permutations(prompt: str, cap: int) -> list[str]:
    """Expand every ``{a, b}`` group of ``prompt`` into one prompt per combination.

    Raises PromptError when the braces do not balance or the prompt would make more than
    ``cap`` prompts.
    """
    if not has_permutations(prompt):
        return [prompt]
    try:
        parts = _parse(prompt)
    except _SyntaxError as error:
        raise PromptError([syntax_problem(str(error))]) from None

    count = _count(parts)
    if count > cap:
        raise PromptError([cap_problem(count, cap)])
    return [_WHITESPACE.sub(" ", text).strip() for text in _expand(parts)]


def check_braces(text: str) -> str | None:
    """Return what is wrong with the braces of ``text``, or None when they balance."""
    try:
        _parse(text)
    except _SyntaxError as error:
        return str(error)
    return None


def syntax_problem(message: str) -> PromptProblem:
    """Return the problem for unbalanced permutation braces."""
    return PromptProblem(
        "prompt",
        message,
        "Write each set of options as {red, green} with a closing brace; "
        "write \\, for a comma inside the options.",
    )


def cap_problem(count: int, cap: int) -> PromptProblem:
    """Return the problem for a permutation prompt that makes too many prompts."""
    return PromptProblem(
        "prompt",
        f"The {{…}} options make {count} prompts, more than the limit of {cap}",
        f"Use fewer options so that the combinations number at most {cap}, "
        "or split them over several rows.",
    )


def escape_option(text: str) -> str:
    """Escape commas and braces so ``text`` reads as one literal option inside a group."""
    return text.replace("\\", "\\\\").replace(",", "\\,").replace("{", "\\{").replace("}", "\\}")


def _parse(text: str) -> tuple[_Part, ...]:
    parts, position = _parse_sequence(text, 0, inside=False)
    if position < len(text):
        raise _SyntaxError(
            f"The prompt has a '}}' without a matching '{{' at character {position + 1}"
        )
    return parts


def _parse_sequence(text: str, position: int, *, inside: bool) -> tuple[tuple[_Part, ...], int]:
    parts: list[_Part] = []
    literal: list[str] = []
    while position < len(text):
        char = text[position]
        if char == "\\" and inside and position + 1 < len(text) and text[position + 1] in ",{}\\":
            literal.append(text[position + 1])
            position += 2
            continue
        if char in ",}" and inside:
            break
        if char == "}":
            break
        if char == "{":
            parts.append("".join(literal))
            literal = []
            group, position = _parse_group(text, position)
            parts.append(group)
            continue
        literal.append(char)
        position += 1
    parts.append("".join(literal))
    return tuple(part for part in parts if part != ""), position


def _parse_group(text: str, start: int) -> tuple[_Group, int]:
    options: list[tuple[_Part, ...]] = []
    position = start + 1
    while True:
        option, position = _parse_sequence(text, position, inside=True)
        options.append(_strip_option(option))
        if position >= len(text):
            raise _SyntaxError(
                f"The prompt has a '{{' at character {start + 1} that is never closed"
            )
        if text[position] == "}":
            return _Group(tuple(options)), position + 1
        position += 1  # the comma between options


def _strip_option(option: tuple[_Part, ...]) -> tuple[_Part, ...]:
    if not option:
        return option
    parts = list(option)
    if isinstance(parts[0], str):
        parts[0] = parts[0].lstrip()
    if isinstance(parts[-1], str):
        parts[-1] = parts[-1].rstrip()
    return tuple(part for part in parts if part != "")


def _count(parts: tuple[_Part, ...]) -> int:
    return math.prod(
        sum(_count(option) for option in part.options) for part in parts if isinstance(part, _Group)
    )


def _expand(parts: tuple[_Part, ...]) -> list[str]:
    choices: list[list[str]] = []
    for part in parts:
        if isinstance(part, str):
            choices.append([part])
        else:
            choices.append([text for option in part.options for text in _expand(option)])
    return ["".join(combination) for combination in itertools.product(*choices)]
