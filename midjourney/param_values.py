"""Read and check one parameter value against the parameter table."""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from fractions import Fraction
from urllib.parse import urlsplit

from midjourney.params import (
    NIJI_VERSIONS,
    RETIRED_VERSIONS,
    V_VERSIONS,
    ModelVersion,
    ParamSpec,
    ValueKind,
    parse_version_number,
)
from midjourney.problems import PromptProblem

_RATIO = re.compile(r"^(\d+(?:\.\d+)?)\s*[:x×/]\s*(\d+(?:\.\d+)?)$", re.IGNORECASE)
_WHOLE = re.compile(r"^[+-]?\d+(?:\.0*)?$")
_VERSION_PREFIX = re.compile(r"^(?:--)?\s*(?:version|v)\s*", re.IGNORECASE)
_STYLE_CODE = re.compile(r"^[a-z0-9]{6,}$")
_REFERENCE_CODE = re.compile(r"^[a-z0-9-]+$", re.IGNORECASE)
_URL_WEIGHT = re.compile(r"^(?P<url>.+?)::(?P<weight>-?\d*\.?\d+)$")


def format_number(value: Decimal) -> str:
    """Write a number without trailing zeros: 0.50 → "0.5", 100.0 → "100"."""
    return format(value.normalize(), "f")


def is_web_url(text: str) -> bool:
    """Return whether ``text`` is an absolute http or https URL."""
    if any(char.isspace() for char in text):
        return False
    try:
        parts = urlsplit(text)
    except ValueError:
        return False
    return parts.scheme.lower() in ("http", "https") and bool(parts.hostname)


def strip_angle_brackets(text: str) -> str:
    """Remove the ``<…>`` Discord puts around links it should not preview."""
    if text.startswith("<") and text.endswith(">"):
        return text[1:-1]
    return text


def normalise_value(spec: ParamSpec, raw: str) -> tuple[str, PromptProblem | None]:
    """Return the value of ``--flag raw`` in canonical form, or a problem."""
    value = raw.strip()
    if not value and spec.value_optional:
        return "", None
    if spec.kind is ValueKind.FLAG:
        return _normalise_flag(spec, value)
    if not value:
        return "", _problem(spec, f"--{spec.flag} needs a value", f"Write {spec.example}.")
    reader = _READERS[spec.kind]
    return reader(spec, value)


def _normalise_flag(spec: ParamSpec, value: str) -> tuple[str, PromptProblem | None]:
    if not value:
        return "", None
    return "", _problem(
        spec,
        f"--{spec.flag} takes no value, but '{value}' follows it",
        f"Write --{spec.flag} alone and move '{value}' before the parameters.",
    )


def _read_int(spec: ParamSpec, value: str) -> tuple[str, PromptProblem | None]:
    if not _WHOLE.match(value):
        return "", _problem(
            spec, f"--{spec.flag} needs a whole number, not '{value}'", f"Write {spec.example}."
        )
    return str(int(Decimal(value))), None


def _read_float(spec: ParamSpec, value: str) -> tuple[str, PromptProblem | None]:
    try:
        number = Decimal(value)
    except InvalidOperation:
        number = Decimal("NaN")
    if not number.is_finite():
        return "", _problem(
            spec, f"--{spec.flag} needs a number, not '{value}'", f"Write {spec.example}."
        )
    return format_number(number), None


def _read_ratio(spec: ParamSpec, value: str) -> tuple[str, PromptProblem | None]:
    match = _RATIO.match(value)
    if not match:
        return "", _problem(
            spec,
            f"--ar needs a width:height ratio of whole numbers, not '{value}'",
            "Write it like --ar 16:9.",
        )
    width, height = Fraction(match[1]), Fraction(match[2])
    if width == 0 or height == 0:
        return "", _problem(spec, f"--ar {value} has a zero side", "Write it like --ar 16:9.")
    if width.denominator != 1 or height.denominator != 1:
        exact = (width / height).limit_denominator(100)
        return "", _problem(
            spec,
            f"--ar {value} uses decimals, but Midjourney takes whole numbers only",
            f"Write --ar {exact.numerator}:{exact.denominator}.",
        )
    return f"{width.numerator}:{height.numerator}", None


def _read_version(spec: ParamSpec, value: str) -> tuple[str, PromptProblem | None]:
    text = value.casefold().replace(" ", "")
    if spec.name == "version":
        text = _VERSION_PREFIX.sub("", text)
    else:
        text = text.removeprefix("niji")
    choices = V_VERSIONS if spec.name == "version" else NIJI_VERSIONS
    try:
        number = parse_version_number(text)
    except ValueError:
        number = None
    if number is not None:
        canonical = f"{number[0]}.{number[1]}" if number[1] else str(number[0])
        if canonical in choices:
            return canonical, None
    if spec.name == "version" and text in RETIRED_VERSIONS:
        replacement = RETIRED_VERSIONS[text]
        return "", _problem(
            spec,
            f"Midjourney withdrew version {value}",
            f"Write --v {replacement} instead.",
        )
    return "", _problem(
        spec,
        f"--{spec.flag} {value} is not a Midjourney version",
        f"Write --{spec.flag} followed by one of {', '.join(choices)}, e.g. {spec.example}.",
    )


def _read_enum(spec: ParamSpec, value: str) -> tuple[str, PromptProblem | None]:
    return value.casefold(), None


def _read_urls(spec: ParamSpec, value: str) -> tuple[str, PromptProblem | None]:
    urls = [strip_angle_brackets(token) for token in value.split()]
    bad = [url for url in urls if not is_web_url(url)]
    if bad:
        return "", _problem(
            spec,
            f"--{spec.flag} needs image web addresses, but '{bad[0]}' is not one",
            f"Write {spec.example} with an address that starts with https://.",
        )
    if spec.max_items is not None and len(urls) > spec.max_items:
        return "", _problem(
            spec,
            f"--{spec.flag} takes at most {spec.max_items} image(s), but {len(urls)} are given",
            f"Keep the first {spec.max_items}: --{spec.flag} {' '.join(urls[: spec.max_items])}",
        )
    return " ".join(urls), None


def _read_references(spec: ParamSpec, value: str) -> tuple[str, PromptProblem | None]:
    tokens = [strip_angle_brackets(token) for token in value.split()]
    for token in tokens:
        match = _URL_WEIGHT.match(token)
        target = match["url"] if match else token
        if is_web_url(target) or _REFERENCE_CODE.match(target):
            continue
        return "", _problem(
            spec,
            f"--{spec.flag} takes image addresses, style codes or 'random', not '{token}'",
            f"Write {spec.example} or --{spec.flag} https://example.com/style.png.",
        )
    return " ".join(tokens), None


def _read_text(spec: ParamSpec, value: str) -> tuple[str, PromptProblem | None]:
    return " ".join(value.split()), None


_READERS = {
    ValueKind.INT: _read_int,
    ValueKind.FLOAT: _read_float,
    ValueKind.RATIO: _read_ratio,
    ValueKind.VERSION: _read_version,
    ValueKind.ENUM: _read_enum,
    ValueKind.URLS: _read_urls,
    ValueKind.REFERENCES: _read_references,
    ValueKind.TEXT: _read_text,
}


def check_for_version(spec: ParamSpec, value: str, version: ModelVersion) -> PromptProblem | None:
    """Return a problem when ``version`` lacks the parameter or the value is out of range."""
    rule = spec.rule_for(version)
    if rule is None:
        return _problem(
            spec,
            f"--{spec.flag} is not available on {version.label} "
            f"(it works on {spec.supported_versions()})",
            _version_fix(spec, version),
        )
    if spec.kind is ValueKind.VERSION or spec.kind is ValueKind.FLAG or value == "":
        return None
    if rule.choices:
        return _check_choice(spec, value, rule.choices, version)
    if spec.kind is ValueKind.RATIO:
        return _check_ratio(spec, value, rule.minimum, rule.maximum, version)
    if rule.minimum is None or rule.maximum is None:
        return None
    number = Decimal(value)
    if Decimal(str(rule.minimum)) <= number <= Decimal(str(rule.maximum)):
        return None
    low, high = (format_number(Decimal(str(bound))) for bound in (rule.minimum, rule.maximum))
    nearest = high if number > Decimal(str(rule.maximum)) else low
    return _problem(
        spec,
        f"--{spec.flag} {value} is out of range {low}-{high} on {version.label}",
        f"Write --{spec.flag} with a value from {low} to {high}, e.g. --{spec.flag} {nearest}.",
    )


def _check_choice(
    spec: ParamSpec, value: str, choices: tuple[str, ...], version: ModelVersion
) -> PromptProblem | None:
    if value in choices:
        return None
    if spec.name == "style" and _STYLE_CODE.match(value):
        return None  # a custom style code from the retired /tune command
    if spec.kind is ValueKind.FLOAT and any(Decimal(value) == Decimal(c) for c in choices):
        return None
    listed = ", ".join(choices)
    return _problem(
        spec,
        f"--{spec.flag} {value} is not accepted on {version.label} (accepted: {listed})",
        f"Write --{spec.flag} {choices[-1] if spec.kind is ValueKind.FLOAT else choices[0]}"
        f" or another of: {listed}.",
    )


def _check_ratio(
    spec: ParamSpec,
    value: str,
    minimum: float | None,
    maximum: float | None,
    version: ModelVersion,
) -> PromptProblem | None:
    if minimum is None or maximum is None:
        return None
    width, height = (int(side) for side in value.split(":"))
    if minimum <= width / height <= maximum:
        return None
    low, high = Fraction(minimum).limit_denominator(10), Fraction(maximum).limit_denominator(10)
    return _problem(
        spec,
        f"--ar {value} is outside {low.numerator}:{low.denominator} to "
        f"{high.numerator}:{high.denominator}, the range of {version.label}",
        f"Write a ratio in that range, e.g. --ar {high.numerator}:{high.denominator}, "
        "or add --v 7 for any ratio.",
    )


def _version_fix(spec: ParamSpec, version: ModelVersion) -> str:
    newest = _newest_supporting(spec)
    if newest is None:
        return f"Remove --{spec.flag}."
    switch = f"--niji {newest.number[0]}" if newest.is_niji else f"--v {newest.label[1:]}"
    return f"Remove --{spec.flag}, or run the prompt on a version that has it: {switch}."


def _newest_supporting(spec: ParamSpec) -> ModelVersion | None:
    candidates = [ModelVersion("v", parse_version_number(v)) for v in reversed(V_VERSIONS)]
    candidates += [ModelVersion("niji", (int(n), 0)) for n in reversed(NIJI_VERSIONS)]
    return next((v for v in candidates if spec.rule_for(v) is not None), None)


def _problem(spec: ParamSpec, message: str, fix: str) -> PromptProblem:
    return PromptProblem(spec.name, message, fix)
