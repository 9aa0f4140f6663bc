"""Faults of the simulated Midjourney switched on by prompt words or parts of a prompt.

Each knob names the words (or parameters, or parts of image URLs) that trigger it, so a
test puts a fault on exactly the rows it chooses and the rest of the batch runs normally.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from typing import Any

from sandbox.midjourney import content
from sandbox.midjourney.knobs import MidjourneyKnobs
from sandbox.midjourney.prompts import URL_PATTERN, split_parameters


def has_word(words: Collection[str], text: str) -> bool:
    """Return whether ``text`` contains one of ``words`` as a whole word, in any case."""
    found = set(re.findall(r"\w+", text.casefold()))
    return any(word.casefold() in found for word in words)


def early_error(knobs: MidjourneyKnobs, raw_prompt: str) -> dict[str, Any] | None:
    """Return the error embed Midjourney sends instead of starting the job, or None.

    It covers an image URL the knobs make unreadable and a parameter they make unsupported.
    """
    body, parameters = split_parameters(" ".join(raw_prompt.split()))
    for word in body.split():
        url = word.strip("<>")
        if URL_PATTERN.match(word) and any(part in url for part in knobs.invalid_link_fragments):
            return content.invalid_link_embed(url, raw_prompt)
    for name, _value in parameters:
        if name in knobs.unsupported_parameters:
            description = content.unsupported_parameter_description(name)
            return content.invalid_parameter_embed(description, raw_prompt)
    return None


def imagine_fault(knobs: MidjourneyKnobs, raw_prompt: str) -> dict[str, Any] | None:
    """Return the fields of Midjourney's reply to a faulty /imagine, or None.

    An empty dict means Midjourney swallows the prompt: it acknowledged the interaction
    and sends nothing more.
    """
    if has_word(knobs.swallowed_words, raw_prompt):
        return {}
    if has_word(knobs.unprocessable_words, raw_prompt):
        return {"content": content.FAILED_TO_PROCESS}
    error = early_error(knobs, raw_prompt)
    if error is not None:
        return {"embeds": [error]}
    return None
