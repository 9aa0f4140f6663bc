"""Build the prompt sent to Midjourney from a sheet row, and check it against the table.

The final prompt is image URLs, then the text, then the parameters in the table's order.
Parameters may come from the text, from the free "parameters" column and from one column
per common parameter. They are merged, and a parameter given twice with different values
is a problem. Every problem carries a fix that says what to type instead.

NOTE: multi-prompt weights (``part:: part::2``) work only up to V6.1 and Niji 6 according
to Midjourney's docs, yet they pass through unchecked, because ``::`` also appears in
--sref weights and Midjourney may accept them again.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from midjourney import permutations, prompt_problems
from midjourney.param_values import (
    check_for_version,
    is_web_url,
    normalise_value,
    strip_angle_brackets,
)
from midjourney.params import (
    BY_NAME,
    CONFLICTS,
    DEFAULT_NIJI_NUMBER,
    DEFAULT_VERSION,
    ORDER,
    REQUIREMENTS,
    RETIRED_PARAMETERS,
    ModelVersion,
    ParamSpec,
    lookup,
    parse_version_number,
)
from midjourney.permutations import expand_permutations
from midjourney.problems import PromptError, PromptProblem

__all__ = [
    "PromptError",
    "PromptProblem",
    "build_prompt",
    "expand_permutations",
    "normalise_for_matching",
]

_log = logging.getLogger(__name__)

# Hyphens and dashes that editors (Word, Google Sheets, phones) substitute for "--".
_DASHES = "-\u2010\u2011\u2012\u2013\u2014\u2015\u2212\ufe58\ufe63\uff0d"
# "--" may be followed by a stray space ("-- ar"), but other dashes must touch the name.
_DASH_RUN = re.compile(rf"(?<!\S)(--\s+|[{_DASHES}]{{1,2}})([A-Za-z]+)")
_PARAMETER_START = re.compile(r"(?<!\S)--([A-Za-z]+)")
_WHITESPACE = re.compile(r"\s+")
_URL_SEPARATORS = re.compile(r"[\s;]+|,(?=\s|https?:)", re.IGNORECASE)
_URL_TOKEN = re.compile(r"<https?://[^>\s]*>|https?://\S+", re.IGNORECASE)
_URL_PLACEHOLDER = "<url>"
_URL_RUN = re.compile(rf"{re.escape(_URL_PLACEHOLDER)}(?:\s+{re.escape(_URL_PLACEHOLDER)})+")
_TRUE_WORDS = frozenset({"yes", "y", "true", "1", "x", "on"})
_FALSE_WORDS = frozenset({"no", "n", "false", "0", "off", ""})
# Bounds the work of checking a permutation prompt. The row's own cap applies later.
_PERMUTATION_CHECK_LIMIT = 1000
# A marker between the pieces of a row while their braces are expanded together.
_PIECE_SEPARATOR = "\ue000"


def build_prompt(
    text: str,
    *,
    image_urls: Sequence[str] = (),
    parameters: Mapping[str, str] | None = None,
    extra: str = "",
    max_length: int = 6000,
) -> str:
    """Merge, check and assemble one prompt: ``URLS TEXT --param value …``.

    ``parameters`` maps a sheet column ("aspect_ratio", "tile", …) to its cell text and
    ``extra`` is the free "parameters" column. Raises PromptError listing every problem.
    A prompt with ``{…}`` options is checked option by option and returned in a form that
    ``expand_permutations`` turns into the checked prompts.
    """
    columns = dict(parameters or {})
    pieces = [text, extra, *columns.values(), *image_urls]
    if not any(permutations.has_permutations(piece) for piece in pieces):
        return _build_single(text, image_urls, columns, extra, max_length)
    return _build_permuted(text, image_urls, columns, extra, max_length)


def normalise_for_matching(prompt: str) -> str:
    """Return the text used to match Midjourney's echo of a prompt to the prompt sent.

    Drops the parameters, turns every run of URLs (Midjourney echoes them as
    ``<https://s.mj.run/…>``) into one placeholder, collapses whitespace and casefolds.
    """
    text = _normalise_dashes(prompt)
    start = _PARAMETER_START.search(text)
    if start is not None:
        text = text[: start.start()]
    text = _URL_TOKEN.sub(f" {_URL_PLACEHOLDER} ", text)
    text = _WHITESPACE.sub(" ", text).strip()
    text = _URL_RUN.sub(_URL_PLACEHOLDER, text)
    return text.casefold()


@dataclass(frozen=True, slots=True)
class _Occurrence:
    """One parameter as found in one place of the row."""

    spec: ParamSpec
    value: str
    source: str


def _build_single(
    text: str,
    image_urls: Sequence[str],
    columns: Mapping[str, str],
    extra: str,
    max_length: int,
) -> str:
    problems: list[PromptProblem] = []
    body, text_parameters = _split_parameters(_normalise_dashes(text))
    leading_urls, body = _take_leading_urls(body)
    urls = _collect_urls([*image_urls, *leading_urls], problems)

    occurrences = _scan(text_parameters, "the prompt text", problems)
    extra_text, extra_parameters = _split_parameters(_normalise_dashes(extra))
    if extra_text:
        problems.append(prompt_problems.stray_extra_problem(extra_text))
    occurrences += _scan(extra_parameters, "the parameters column", problems)
    occurrences += _read_columns(columns, problems)

    values = _merge(occurrences, problems)
    _check_values(values, urls, problems)
    if not body and len(urls) < 2:
        problems.append(prompt_problems.empty_text_problem(urls))

    prompt = _assemble(urls, body, values)
    if len(prompt) > max_length:
        problems.append(prompt_problems.length_problem(len(prompt), max_length))
    if problems:
        raise PromptError(problems)
    return prompt


def _build_permuted(
    text: str,
    image_urls: Sequence[str],
    columns: Mapping[str, str],
    extra: str,
    max_length: int,
) -> str:
    names = list(columns)
    pieces = [text, extra, *columns.values(), *image_urls]
    for piece in pieces:
        message = permutations.check_braces(piece)
        if message is not None:
            raise PromptError([permutations.syntax_problem(message)])
    joined = _PIECE_SEPARATOR.join(pieces)
    count = permutations.count_permutations(joined)
    if count > _PERMUTATION_CHECK_LIMIT:
        raise PromptError([permutations.cap_problem(count, _PERMUTATION_CHECK_LIMIT)])

    finals: list[str] = []
    problems: dict[PromptProblem, None] = {}
    for variant in expand_permutations(joined, _PERMUTATION_CHECK_LIMIT):
        parts = variant.split(_PIECE_SEPARATOR)
        variant_columns = dict(zip(names, parts[2 : 2 + len(names)], strict=True))
        try:
            final = _build_single(
                parts[0], parts[2 + len(names) :], variant_columns, parts[1], max_length
            )
        except PromptError as error:
            problems.update(dict.fromkeys(error.problems))
            continue
        finals.append(final)
        if "--relax" in _split_parameters(final)[1].split():
            problems[prompt_problems.relax_permutation_problem()] = None
    if problems:
        raise PromptError(problems)
    return _permutation_template(finals)


def _permutation_template(finals: list[str]) -> str:
    """Return a ``prefix{a, b}suffix`` text that expands into exactly ``finals``."""
    prefix = _common_word_prefix(finals)
    rest = [final[len(prefix) :] for final in finals]
    suffix = _common_word_prefix([text[::-1] for text in rest])[::-1]
    options = [text[: len(text) - len(suffix)] for text in rest]
    template = prefix + "{" + ", ".join(map(permutations.escape_option, options)) + "}" + suffix
    if expand_permutations(template, len(finals)) == finals:
        return template
    _log.debug("permutation template %r does not expand to its prompts; listing them", template)
    return "{" + ", ".join(map(permutations.escape_option, finals)) + "}"


def _common_word_prefix(texts: list[str]) -> str:
    # The lexicographically first and last texts share exactly the prefix all texts share.
    first, last = min(texts), max(texts)
    length = next(
        (i for i, (a, b) in enumerate(zip(first, last, strict=False)) if a != b), len(first)
    )
    prefix = first[:length]
    if all(text == prefix for text in texts):
        return prefix
    return prefix[: prefix.rfind(" ") + 1]


def _normalise_dashes(text: str) -> str:
    """Turn "—ar", "–ar", "-- ar" and similar into "--ar" when the word is a parameter."""

    def replace(match: re.Match[str]) -> str:
        dashes, name = match[1], match[2]
        known = lookup(name) is not None or name.casefold() in RETIRED_PARAMETERS
        if dashes == "-" or not known:
            return match[0]
        return f"--{name}"

    return _WHITESPACE.sub(" ", _DASH_RUN.sub(replace, text)).strip()


def _split_parameters(text: str) -> tuple[str, str]:
    """Split ``text`` into what comes before the first ``--name`` and the rest."""
    start = _PARAMETER_START.search(text)
    if start is None:
        return text.strip(), ""
    return text[: start.start()].strip(), text[start.start() :].strip()


def _take_leading_urls(body: str) -> tuple[list[str], str]:
    tokens = body.split(" ") if body else []
    urls: list[str] = []
    while tokens and is_web_url(strip_angle_brackets(tokens[0])):
        urls.append(strip_angle_brackets(tokens.pop(0)))
    return urls, " ".join(tokens)


def _collect_urls(items: Sequence[str], problems: list[PromptProblem]) -> list[str]:
    urls: list[str] = []
    for item in items:
        for token in _URL_SEPARATORS.split(item.strip()):
            url = strip_angle_brackets(token.strip())
            if not url:
                continue
            if is_web_url(url):
                urls.append(url)
                continue
            problems.append(
                PromptProblem(
                    "image_urls",
                    f"'{url}' is not a web address of an image",
                    "Write the full address starting with https://, "
                    "e.g. https://example.com/photo.png, one per line.",
                )
            )
    return urls


def _scan(segment: str, source: str, problems: list[PromptProblem]) -> list[_Occurrence]:
    """Read every ``--name value`` of ``segment``; the value runs to the next ``--name``."""
    matches = list(_PARAMETER_START.finditer(segment))
    occurrences: list[_Occurrence] = []
    for index, match in enumerate(matches):
        end = matches[index + 1].start() if index + 1 < len(matches) else len(segment)
        name, raw = match[1], segment[match.end() : end].strip()
        spec = lookup(name)
        if spec is None:
            problems.append(prompt_problems.unknown_problem(name, raw, source))
            continue
        occurrences.append(_Occurrence(spec, raw, source))
    return occurrences


def _read_columns(columns: Mapping[str, str], problems: list[PromptProblem]) -> list[_Occurrence]:
    occurrences: list[_Occurrence] = []
    for column, cell in columns.items():
        value = " ".join(str(cell).split())
        spec = BY_NAME.get(column)
        if spec is None:
            raise ValueError(f"{column!r} is not a parameter column")
        if value == "":
            continue
        source = f"the {column} column"
        if spec.name == "tile":
            occurrence = _read_flag_cell(spec, value, source, problems)
            occurrences.extend([occurrence] if occurrence else [])
            continue
        if spec.name == "version" and value.casefold().startswith("niji"):
            spec = BY_NAME["niji"]
        occurrences.append(_Occurrence(spec, value, source))
    return occurrences


def _read_flag_cell(
    spec: ParamSpec, value: str, source: str, problems: list[PromptProblem]
) -> _Occurrence | None:
    word = value.casefold()
    if word in _TRUE_WORDS:
        return _Occurrence(spec, "", source)
    if word in _FALSE_WORDS:
        return None
    problems.append(
        PromptProblem(
            spec.name,
            f"{source} holds '{value}', but it can only be yes or no",
            f"Write yes to add --{spec.flag}, or no (or leave the cell empty) to leave it out.",
        )
    )
    return None


def _merge(occurrences: list[_Occurrence], problems: list[PromptProblem]) -> dict[str, str]:
    """Return canonical name → value, reporting values that disagree."""
    values: dict[str, str] = {}
    sources: dict[str, str] = {}
    for occurrence in occurrences:
        spec = occurrence.spec
        value, problem = normalise_value(spec, occurrence.value)
        if problem is not None:
            problems.append(prompt_problems.with_source(problem, occurrence.source))
            continue
        if spec.name not in values:
            values[spec.name], sources[spec.name] = value, occurrence.source
        elif spec.name == "no":
            values["no"] = _merge_terms(values["no"], value)
        elif values[spec.name] != value:
            problems.append(
                prompt_problems.duplicate_problem(
                    spec, values[spec.name], sources[spec.name], value, occurrence.source
                )
            )
    return values


def _merge_terms(first: str, second: str) -> str:
    terms: dict[str, str] = {}
    for term in [*first.split(","), *second.split(",")]:
        cleaned = term.strip()
        if cleaned:
            terms.setdefault(cleaned.casefold(), cleaned)
    return ", ".join(terms.values())


def _model_version(values: Mapping[str, str]) -> ModelVersion:
    if "niji" in values:
        number = int(values["niji"]) if values["niji"] else DEFAULT_NIJI_NUMBER
        return ModelVersion("niji", (number, 0))
    if "version" in values:
        return ModelVersion("v", parse_version_number(values["version"]))
    return DEFAULT_VERSION


def _check_values(
    values: Mapping[str, str], urls: list[str], problems: list[PromptProblem]
) -> None:
    version = _model_version(values)
    if not any(problem.field in ("version", "niji") for problem in problems):
        for name, value in values.items():
            problem = check_for_version(BY_NAME[name], value, version)
            if problem is not None:
                problems.append(problem)

    for conflict in CONFLICTS:
        first, second = values.get(conflict.first), values.get(conflict.second)
        if first is None or second is None:
            continue
        if conflict.first_value not in (None, first) or conflict.second_value not in (None, second):
            continue
        problems.append(
            prompt_problems.conflict_problem(
                conflict.first, first, conflict.second, second, conflict.reason
            )
        )

    for name, needed in REQUIREMENTS.items():
        if name in values and needed not in values:
            problems.append(prompt_problems.requirement_problem(BY_NAME[name], BY_NAME[needed]))
    if "iw" in values and not urls:
        problems.append(
            prompt_problems.needs_image_problem(BY_NAME["iw"], "sets the weight of an image prompt")
        )
    if "video" in values and not urls:
        problems.append(
            prompt_problems.needs_image_problem(BY_NAME["video"], "animates a start image")
        )


def _assemble(urls: list[str], body: str, values: Mapping[str, str]) -> str:
    words = [*urls]
    if body:
        words.append(body)
    for name in sorted(values, key=ORDER.__getitem__):
        flag = BY_NAME[name].flag
        words.append(f"--{flag} {values[name]}" if values[name] else f"--{flag}")
    return " ".join(words)
