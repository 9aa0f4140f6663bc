"""Permutation prompts: expansion, nesting, escapes, the cap, and checks per option."""

from __future__ import annotations

import pytest

from midjourney.permutations import count_permutations
from midjourney.prompt import PromptError, build_prompt, expand_permutations


@pytest.mark.parametrize(
    ("prompt", "expected"),
    [
        ("a red bird", ["a red bird"]),
        ("a {red, green} bird", ["a red bird", "a green bird"]),
        ("a {red,green,blue} bird", ["a red bird", "a green bird", "a blue bird"]),
        (
            "a {red, green} bird --ar {1:1, 16:9}",
            [
                "a red bird --ar 1:1",
                "a red bird --ar 16:9",
                "a green bird --ar 1:1",
                "a green bird --ar 16:9",
            ],
        ),
        ("a {big {red, blue}, small} car", ["a big red car", "a big blue car", "a small car"]),
        ("a {{a, b}, {c, d}} x", ["a a x", "a b x", "a c x", "a d x"]),
        ("a {salt\\, pepper, sugar} dish", ["a salt, pepper dish", "a sugar dish"]),
        ("a {, red} bird", ["a bird", "a red bird"]),
        ("{red} bird", ["red bird"]),
        ("a bird\\, small", ["a bird\\, small"]),
        ("fox --v {6.1, 7}", ["fox --v 6.1", "fox --v 7"]),
        (
            "{https://e.com/a.png, https://e.com/b.png} fox",
            ["https://e.com/a.png fox", "https://e.com/b.png fox"],
        ),
    ],
)
def test_expand(prompt: str, expected: list[str]) -> None:
    assert expand_permutations(prompt, cap=40) == expected


@pytest.mark.parametrize(
    ("prompt", "count"),
    [
        ("plain", 1),
        ("{a, b}", 2),
        ("{a, b} {c, d, e}", 6),
        ("{a {b, c}, d}", 3),
        ("{a, b} {c, d} {e, f} {g, h}", 16),
    ],
)
def test_count(prompt: str, count: int) -> None:
    assert count_permutations(prompt) == count
    assert len(expand_permutations(prompt, cap=100)) == count


def test_cap_reached_exactly() -> None:
    assert len(expand_permutations("{a, b} {c, d}", cap=4)) == 4


def test_over_cap_names_count_and_cap() -> None:
    with pytest.raises(PromptError) as caught:
        expand_permutations("{a, b, c} {d, e, f}", cap=8)
    (problem,) = caught.value.problems
    assert problem.field == "prompt"
    assert "9 prompts" in problem.message
    assert "limit of 8" in problem.message
    assert "at most 8" in problem.fix


def test_huge_permutation_counted_without_expanding() -> None:
    prompt = " ".join("{a, b, c, d, e, f, g, h, i, j}" for _ in range(12))
    with pytest.raises(PromptError) as caught:
        expand_permutations(prompt, cap=40)
    assert str(10**12) in caught.value.problems[0].message


@pytest.mark.parametrize(
    ("prompt", "fragment"),
    [
        ("a {red, green bird", "never closed"),
        ("a red} bird", "without a matching"),
        ("a {red, {green} bird", "never closed"),
    ],
)
def test_unbalanced_braces(prompt: str, fragment: str) -> None:
    with pytest.raises(PromptError) as caught:
        expand_permutations(prompt, cap=40)
    (problem,) = caught.value.problems
    assert problem.field == "prompt"
    assert fragment in problem.message
    assert "{red, green}" in problem.fix


@pytest.mark.parametrize(
    ("text", "parameters", "expected"),
    [
        ("a {red, green} bird", {}, ["a red bird", "a green bird"]),
        (
            "a {red, green} bird --ar {1:1, 16x9}",
            {},
            [
                "a red bird --ar 1:1",
                "a red bird --ar 16:9",
                "a green bird --ar 1:1",
                "a green bird --ar 16:9",
            ],
        ),
        ("a bird", {"aspect_ratio": "{1:1, 2x3}"}, ["a bird --ar 1:1", "a bird --ar 2:3"]),
        ("a bird —{s, c} 50", {}, ["a bird --s 50", "a bird --c 50"]),
        ("a {salt\\, pepper, sugar} dish", {}, ["a salt, pepper dish", "a sugar dish"]),
        ("a {red, red} bird", {}, ["a red bird", "a red bird"]),
        (
            "a {big {red, blue}, small} car --v {6.1, 7}",
            {},
            [
                "a big red car --v 6.1",
                "a big red car --v 7",
                "a big blue car --v 6.1",
                "a big blue car --v 7",
                "a small car --v 6.1",
                "a small car --v 7",
            ],
        ),
    ],
)
def test_build_then_expand(text: str, parameters: dict[str, str], expected: list[str]) -> None:
    prompt = build_prompt(text, parameters=parameters)
    assert expand_permutations(prompt, cap=40) == expected


def test_build_keeps_shared_text_readable() -> None:
    assert build_prompt("a {red, green} bird in snow") == "a {red, green} bird in snow"


def test_build_checks_every_option() -> None:
    with pytest.raises(PromptError) as caught:
        build_prompt("a bird --s {100, 5000}")
    (problem,) = caught.value.problems
    assert problem.field == "stylize"
    assert "5000" in problem.message


def test_build_reports_each_problem_once() -> None:
    with pytest.raises(PromptError) as caught:
        build_prompt("a {red, green} bird --stylise 100")
    assert [p.field for p in caught.value.problems] == ["stylise"]


def test_build_checks_option_length() -> None:
    with pytest.raises(PromptError) as caught:
        build_prompt("a {red, " + "x" * 60 + "} bird", max_length=40)
    (problem,) = caught.value.problems
    assert problem.field == "prompt"
    assert "limit of 40" in problem.message


def test_build_rejects_unbalanced() -> None:
    with pytest.raises(PromptError) as caught:
        build_prompt("a {red, green bird")
    assert caught.value.problems[0].field == "prompt"


def test_build_rejects_permutation_in_relax() -> None:
    with pytest.raises(PromptError) as caught:
        build_prompt("a {red, green} bird --relax")
    (problem,) = caught.value.problems
    assert problem.field == "relax"
    assert "Remove --relax" in problem.fix


def test_build_bounds_checking_work() -> None:
    text = " ".join("{a, b, c, d, e, f, g, h, i, j}" for _ in range(4))
    with pytest.raises(PromptError) as caught:
        build_prompt(text)
    assert "10000 prompts" in caught.value.problems[0].message


def test_permutation_in_image_urls() -> None:
    prompt = build_prompt("fox", image_urls=["{https://e.com/a.png, https://e.com/b.png}"])
    assert expand_permutations(prompt, cap=10) == [
        "https://e.com/a.png fox",
        "https://e.com/b.png fox",
    ]
