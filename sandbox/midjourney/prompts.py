"""Read an /imagine prompt the way the simulated Midjourney needs it.

It checks parameters, finds the aspect ratio, seed and speed mode, and rewrites the prompt
into the echo Midjourney shows in its messages: image URLs become ``<https://s.mj.run/…>``
links and the account's suffix is appended.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass

from sandbox.midjourney import checks

URL_PATTERN = re.compile(r"^<?https?://\S+?>?$")
PARAMETER_PATTERN = re.compile(r"(?:^|\s)--([A-Za-z][\w-]*)(?:\s+((?:(?!\s--)\S)(?:(?!\s--).)*))?")
DASHES = re.compile(r"(?:(?<=\s)|^)[\u2014\u2013](?=[A-Za-z])")
MODE_FLAGS = {"fast": "fast", "relax": "relax", "turbo": "turbo"}
VERSION_NAMES = {"v", "version", "niji"}


class InvalidPromptError(Exception):
    """A prompt Midjourney would answer with an "Invalid parameter" embed."""

    def __init__(self, description: str) -> None:
        super().__init__(description)
        self.description = description


@dataclass(frozen=True, slots=True)
class JobPrompt:
    """A prompt as the simulated Midjourney runs it."""

    raw: str
    echo: str
    text: str
    aspect: tuple[int, int]
    seed: int | None
    mode: str | None


def parse_prompt(
    raw: str,
    *,
    suffix: str,
    short_link: Callable[[str], str] | None = None,
    echo_limit: int | None = None,
) -> JobPrompt:
    """Check ``raw`` and return the job's prompt; raise InvalidPromptError for a bad parameter."""
    prompt = DASHES.sub("--", " ".join(raw.split()))
    body, parameters = split_parameters(prompt)
    suffix_parts = _suffix_parameters(suffix, parameters)
    # Midjourney checks a prompt against the account's settings (the suffix's --v), not
    # against its newest model.
    problem = checks.find_problem(" ".join([prompt, *suffix_parts]), parameters)
    if problem:
        raise InvalidPromptError(problem)

    words = body.split()
    urls = [word for word in words if URL_PATTERN.match(word)]
    text = " ".join(word for word in words if not URL_PATTERN.match(word))
    link = short_link or mj_short_link
    echo_parts = [link(url.strip("<>")) for url in urls]
    if text:
        echo_parts.append(text)
    echo_parts.extend(_format_parameter(name, value) for name, value in parameters)
    echo_parts.extend(suffix_parts)

    echo = " ".join(echo_parts)
    return JobPrompt(
        raw=raw,
        echo=echo if echo_limit is None else echo[:echo_limit].rstrip(),
        text=text,
        aspect=_aspect(parameters),
        seed=_seed(parameters),
        mode=_mode(parameters),
    )


def split_parameters(prompt: str) -> tuple[str, list[tuple[str, str]]]:
    """Split ``prompt`` into its body and its ``--name value`` parameters, in order."""
    start = re.search(r"(?:^|\s)--[A-Za-z]", prompt)
    if start is None:
        return prompt.strip(), []
    body, tail = prompt[: start.start()], prompt[start.start() :]
    parameters = [
        (m.group(1).lower(), (m.group(2) or "").strip()) for m in PARAMETER_PATTERN.finditer(tail)
    ]
    return body.strip(), parameters


def mj_short_link(url: str) -> str:
    """Return the ``<https://s.mj.run/…>`` link Midjourney echoes for an image URL."""
    digest = hashlib.sha256(url.encode()).digest()
    token = base64.urlsafe_b64encode(digest).decode()[:11]
    return f"<https://s.mj.run/{token}>"


def filename_slug(text: str, *, max_length: int = 40) -> str:
    """Return the prompt fragment Midjourney puts in result file names."""
    words = re.findall(r"[A-Za-z0-9]+", text)
    slug = "_".join(words)[:max_length].strip("_")
    return slug or "image"


def _format_parameter(name: str, value: str) -> str:
    return f"--{name} {value}" if value else f"--{name}"


def _suffix_parameters(suffix: str, present: list[tuple[str, str]]) -> list[str]:
    names = {name for name, _ in present}
    if names & VERSION_NAMES:
        names |= VERSION_NAMES
    _, extra = split_parameters(suffix)
    return [_format_parameter(name, value) for name, value in extra if name not in names]


def _aspect(parameters: list[tuple[str, str]]) -> tuple[int, int]:
    for name, value in parameters:
        if name in ("ar", "aspect"):
            width, height = value.split(":")
            return int(width), int(height)
    return 1, 1


def _seed(parameters: list[tuple[str, str]]) -> int | None:
    for name, value in parameters:
        if name in ("seed", "sameseed"):
            return int(value)
    return None


def _mode(parameters: list[tuple[str, str]]) -> str | None:
    for name, _ in parameters:
        if name in MODE_FLAGS:
            return MODE_FLAGS[name]
    return None
