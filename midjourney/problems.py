"""The error the prompt grammar raises, listing every problem of one prompt."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class PromptProblem:
    """One thing wrong with a prompt.

    ``field`` is the parameter's canonical name ("stylize"), an unknown parameter's name as
    written ("stylise"), or "prompt", "image_urls" or "parameters" for the text, the image
    column and the free parameters column. ``fix`` is what to type instead.
    """

    field: str
    message: str
    fix: str

    def __str__(self) -> str:
        return f"{self.field}: {self.message}. {self.fix}"


class PromptError(Exception):
    """A prompt that Midjourney would reject; ``problems`` lists every reason."""

    def __init__(self, problems: Iterable[PromptProblem]) -> None:
        self.problems: list[PromptProblem] = list(problems)
        super().__init__("; ".join(str(problem) for problem in self.problems))
