"""The problems build_prompt reports, each with the fix the user should type."""

from __future__ import annotations

from midjourney.params import BY_NAME, RETIRED_PARAMETERS, ParamSpec, all_names
from midjourney.problems import PromptProblem

# Misspellings further than one edit from the name they mean.
KNOWN_MISSPELLINGS = {
    "aspectratio": "aspect",
    "aspect-ratio": "aspect",
    "aspect_ratio": "aspect",
    "ratio": "ar",
    "negative": "no",
    "stylization": "stylize",
    "stylise": "stylize",
    "weirdness": "weird",
    "versions": "version",
}
# Names this short are one edit away from many one-letter parameters, so that is no hint.
_MIN_SUGGESTED_LENGTH = 3


def nearest_name(name: str) -> str | None:
    """Return the parameter an unknown name likely means: a known misspelling or one edit away."""
    folded = name.casefold()
    if folded in KNOWN_MISSPELLINGS:
        return KNOWN_MISSPELLINGS[folded]
    if len(folded) < _MIN_SUGGESTED_LENGTH:
        return None
    close = [known for known in all_names() if _edit_distance(folded, known) <= 1]
    # Prefer the longer name: "--stylez" means --stylize more likely than --style.
    return max(close, key=len, default=None)


def _edit_distance(first: str, second: str) -> int:
    """Count the insertions, deletions, substitutions and swaps of neighbours between two words."""
    if abs(len(first) - len(second)) > 1:
        return 2  # more than one edit; the exact count is not needed
    previous2: list[int] = []
    previous = list(range(len(second) + 1))
    for i, a in enumerate(first, start=1):
        current = [i]
        for j, b in enumerate(second, start=1):
            cost = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a != b))
            if i > 1 and j > 1 and a == second[j - 2] and first[i - 2] == b:
                cost = min(cost, previous2[j - 2] + 1)
            current.append(cost)
        previous2, previous = previous, current
    return previous[-1]


def with_source(problem: PromptProblem, source: str) -> PromptProblem:
    return PromptProblem(problem.field, f"{problem.message} (in {source})", problem.fix)


def unknown_problem(name: str, raw: str, source: str) -> PromptProblem:
    retired = RETIRED_PARAMETERS.get(name.casefold())
    if retired is not None:
        return PromptProblem(
            name, f"--{name} (in {source}) is no longer supported by Midjourney", retired
        )
    match = nearest_name(name)
    if match is None:
        return PromptProblem(
            name,
            f"--{name} (in {source}) is not a Midjourney parameter",
            f"Remove --{name}, or write a parameter from Midjourney's list, e.g. --ar 16:9.",
        )
    suggestion = f"--{match} {raw}".rstrip()
    return PromptProblem(
        name,
        f"--{name} (in {source}) is not a Midjourney parameter",
        f"Did you mean --{match}? Write {suggestion}.",
    )


def duplicate_problem(
    spec: ParamSpec, first: str, first_source: str, second: str, second_source: str
) -> PromptProblem:
    def show(value: str) -> str:
        return f"--{spec.flag} {value}".rstrip()

    return PromptProblem(
        spec.name,
        f"{show(first)} (in {first_source}) and {show(second)} (in {second_source}) disagree",
        f"Keep one: write {show(first)} or {show(second)} in one place and remove the other.",
    )


def conflict_problem(
    first: str, first_value: str, second: str, second_value: str, reason: str
) -> PromptProblem:
    first_text = f"--{BY_NAME[first].flag} {first_value}".rstrip()
    second_text = f"--{BY_NAME[second].flag} {second_value}".rstrip()
    return PromptProblem(
        second,
        f"{first_text} cannot be used with {second_text}: {reason}",
        f"Remove {first_text} or {second_text}.",
    )


def requirement_problem(spec: ParamSpec, needed: ParamSpec) -> PromptProblem:
    return PromptProblem(
        spec.name,
        f"--{spec.flag} works only together with --{needed.flag}",
        f"Add {needed.example}, or remove --{spec.flag}.",
    )


def needs_image_problem(spec: ParamSpec, purpose: str) -> PromptProblem:
    return PromptProblem(
        spec.name,
        f"--{spec.flag} {purpose}, but the prompt has no image URL",
        f"Put an image address in the image_urls column (https://…), or remove --{spec.flag}.",
    )


def stray_extra_problem(text: str) -> PromptProblem:
    return PromptProblem(
        "parameters",
        f"The parameters column starts with '{text}', which is not a parameter",
        "Write only parameters there, each as --name value (e.g. --ar 16:9 --s 250), "
        "and move other text to the prompt column.",
    )


def empty_text_problem(urls: list[str]) -> PromptProblem:
    if urls:
        fix = "Add words describing the image after the image address, or a second image address."
    else:
        fix = "Write what the image should show, e.g. 'a red fox in the snow --ar 16:9'."
    return PromptProblem("prompt", "The prompt has no text once the parameters are taken out", fix)


def length_problem(length: int, limit: int) -> PromptProblem:
    return PromptProblem(
        "prompt",
        f"The prompt is {length} characters long, over the limit of {limit}",
        f"Shorten the prompt by at least {length - limit} characters.",
    )


def relax_permutation_problem() -> PromptProblem:
    return PromptProblem(
        "relax",
        "Relax mode does not run {…} permutation prompts",
        "Remove --relax, or write each option on its own row.",
    )
