"""The parameter table: aliases, ranges and version rules, checked through build_prompt."""

from __future__ import annotations

import pytest

from midjourney.params import (
    BY_NAME,
    DEFAULT_VERSION,
    PARAMETERS,
    ModelVersion,
    Support,
    lookup,
)
from midjourney.prompt import PromptError, build_prompt


def problems_of(text: str, **kwargs: object) -> list[tuple[str, str, str]]:
    with pytest.raises(PromptError) as caught:
        build_prompt(text, **kwargs)  # type: ignore[arg-type]
    return [(p.field, p.message, p.fix) for p in caught.value.problems]


@pytest.mark.parametrize(
    ("alias", "canonical"),
    [
        ("ar", "aspect_ratio"),
        ("aspect", "aspect_ratio"),
        ("s", "stylize"),
        ("stylize", "stylize"),
        ("c", "chaos"),
        ("chaos", "chaos"),
        ("q", "quality"),
        ("quality", "quality"),
        ("v", "version"),
        ("version", "version"),
        ("w", "weird"),
        ("weird", "weird"),
        ("p", "profile"),
        ("profile", "profile"),
        ("personalize", "profile"),
        ("r", "repeat"),
        ("repeat", "repeat"),
        ("AR", "aspect_ratio"),
        ("niji", "niji"),
        ("sref", "sref"),
        ("oref", "oref"),
        ("cref", "cref"),
    ],
)
def test_lookup_alias(alias: str, canonical: str) -> None:
    spec = lookup(alias)
    assert spec is not None
    assert spec.name == canonical


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("fox --aspect 16:9", "fox --ar 16:9"),
        ("fox --stylize 250", "fox --s 250"),
        ("fox --chaos 40", "fox --c 40"),
        ("fox --quality 1 --version 7", "fox --v 7 --q 1"),
        ("fox --weird 500", "fox --weird 500"),
        ("fox --w 500", "fox --weird 500"),
        ("fox --repeat 3", "fox --r 3"),
        ("fox --profile", "fox --p"),
        ("fox --personalize abc123", "fox --p abc123"),
        ("fox --seed 42 --stop 50", "fox --seed 42 --stop 50"),
        ("fox --tile", "fox --tile"),
        ("fox --no text, logos", "fox --no text, logos"),
        ("fox --style raw", "fox --style raw"),
        ("fox --raw", "fox --raw"),
        ("fox --sref 123456 --sw 300", "fox --sref 123456 --sw 300"),
        ("fox --sref random", "fox --sref random"),
        (
            "fox --sref https://e.com/a.png::2 https://e.com/b.png",
            "fox --sref https://e.com/a.png::2 https://e.com/b.png",
        ),
        ("fox --sv 4", "fox --sv 4"),
        ("fox --exp 20", "fox --exp 20"),
        ("fox --draft", "fox --draft"),
        ("fox --fast", "fox --fast"),
        ("fox --relax", "fox --relax"),
        ("fox --public", "fox --public"),
        ("fox --stealth", "fox --stealth"),
        ("fox --hd", "fox --hd"),
        ("fox --edit https://e.com/a.png", "fox --edit https://e.com/a.png"),
        ("fox --niji", "fox --niji"),
        (
            "fox --niji 6 --cref https://e.com/a.png --cw 50",
            "fox --niji 6 --cref https://e.com/a.png --cw 50",
        ),
        (
            "fox --v 7 --oref https://e.com/a.png --ow 200",
            "fox --v 7 --oref https://e.com/a.png --ow 200",
        ),
        ("fox --v 7 --turbo", "fox --v 7 --turbo"),
        ("fox --v 6.0", "fox --v 6"),
        ("fox --v 5.0 --q .5", "fox --v 5 --q 0.5"),
        ("fox --s 250.0", "fox --s 250"),
        ("fox --v7", "fox --v 7"),
    ],
)
def test_parameter_accepted(text: str, expected: str) -> None:
    assert build_prompt(text) == expected


@pytest.mark.parametrize(
    ("text", "field", "fix_fragment"),
    [
        ("fox --s 1001", "stylize", "--s 1000"),
        ("fox --s -1", "stylize", "--s 0"),
        ("fox --c 101", "chaos", "--c 100"),
        ("fox --weird 3001", "weird", "--weird 3000"),
        ("fox --seed 4294967296", "seed", "--seed 4294967295"),
        ("fox --stop 9", "stop", "--stop 10"),
        ("fox --sw 1001", "sw", "--sw 1000"),
        ("fox --sv 7", "sv", "--sv 6"),
        ("fox --exp 101", "exp", "--exp 100"),
        ("fox --r 41", "repeat", "--r 40"),
        ("fox --r 0", "repeat", "--r 1"),
        ("fox --v 7 --oref https://e.com/a.png --ow 1001", "ow", "--ow 1000"),
        ("fox --v 6 --cref https://e.com/a.png --cw 101", "cw", "--cw 100"),
        ("https://e.com/a.png fox --iw 3.5", "iw", "--iw 3"),
        ("https://e.com/a.png fox --niji 7 --iw 2.5", "iw", "--iw 2"),
    ],
)
def test_out_of_range(text: str, field: str, fix_fragment: str) -> None:
    problems = problems_of(text)
    assert [p[0] for p in problems] == [field]
    assert "out of range" in problems[0][1]
    assert fix_fragment in problems[0][2]


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ("fox --s lots", "stylize"),
        ("fox --c 1.5", "chaos"),
        ("fox --q high --v 7", "quality"),
        ("fox --seed abc", "seed"),
        ("fox --ar wide", "aspect_ratio"),
        ("fox --ar 0:1", "aspect_ratio"),
        ("fox --v 9", "version"),
        ("fox --v 6.2", "version"),
        ("fox --niji 3", "niji"),
        ("fox --tile please", "tile"),
        ("fox --s", "stylize"),
        ("fox --oref notaurl --v 7", "oref"),
        ("fox --sref ftp://e.com/a.png", "sref"),
        ("fox --motion fast --video https://e.com/a.png", "motion"),
        ("fox --style cute", "style"),
        ("fox --v 4 --style raw", "style"),
    ],
)
def test_bad_value(text: str, field: str) -> None:
    assert field in [p[0] for p in problems_of(text)]


def test_decimal_ratio_suggests_whole_numbers() -> None:
    (problem,) = problems_of("fox --ar 1.5:1")
    assert problem[0] == "aspect_ratio"
    assert "decimals" in problem[1]
    assert problem[2] == "Write --ar 3:2."


@pytest.mark.parametrize(
    ("text", "field", "fix_fragment"),
    [
        # V8.x lacks --q, turbo, --oref, --cref.
        ("fox --q 1", "quality", "--v 7"),
        ("fox --v 8.1 --q 1", "quality", "--v 7"),
        ("fox --turbo", "turbo", "--v 7"),
        ("fox --oref https://e.com/a.png", "oref", "--v 7"),
        ("fox --v 8.1 --oref https://e.com/a.png", "oref", "--v 7"),
        ("fox --cref https://e.com/a.png", "cref", "--v 6.1"),
        ("fox --v 7 --cref https://e.com/a.png", "cref", "--v 6.1"),
        ("fox --v 5.1 --weird 10", "weird", "--v 8.2"),
        ("fox --v 5.2 --sref 123", "sref", "--v 8.2"),
        ("fox --v 6.1 --exp 10", "exp", "--v 8.2"),
        ("fox --v 6.1 --draft", "draft", "--v 8.2"),
        ("fox --v 7 --edit https://e.com/a.png", "edit", "--v 8.2"),
        ("fox --v 5 --raw", "raw", "--v 8.2"),
        ("fox --v 4 --turbo", "turbo", "--v 7"),
        ("fox --v 5 --p", "profile", "--v 8.2"),
    ],
)
def test_version_rule(text: str, field: str, fix_fragment: str) -> None:
    problems = problems_of(text)
    assert [p[0] for p in problems] == [field]
    assert "not available on" in problems[0][1]
    assert fix_fragment in problems[0][2]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("fox --v 7 --q 4", "fox --v 7 --q 4"),
        ("fox --v 7 --q 2", "fox --v 7 --q 2"),
        ("fox --v 6.1 --q .25", "fox --v 6.1 --q 0.25"),
        ("fox --v 4 --q 2", "fox --v 4 --q 2"),
        ("fox --v 5.2 --weird 100", "fox --v 5.2 --weird 100"),
        ("fox --v 3 --s 2500", "fox --v 3 --s 2500"),
        ("fox --v 4 --style 4b", "fox --v 4 --style 4b"),
        ("fox --niji 5 --style cute", "fox --niji 5 --style cute"),
        ("fox --v 5.2 --style a1b2c3d4", "fox --v 5.2 --style a1b2c3d4"),
        ("fox --v 8.1 --draft", "fox --v 8.1 --draft"),
        ("fox --v 6 --cref https://e.com/a.png", "fox --v 6 --cref https://e.com/a.png"),
    ],
)
def test_version_allows(text: str, expected: str) -> None:
    assert build_prompt(text) == expected


@pytest.mark.parametrize(
    ("text", "quality"),
    [("fox --v 6 --q 4", "4"), ("fox --v 6 --q 2", "2"), ("fox --v 7 --q 3", "3")],
)
def test_quality_choice_per_version(text: str, quality: str) -> None:
    (problem,) = problems_of(text)
    assert problem[0] == "quality"
    assert f"--q {quality} is not accepted" in problem[1]


@pytest.mark.parametrize(
    ("text", "ratio"),
    [("fox --v 4 --ar 3:1", "3:1"), ("fox --v 3 --ar 3:1", "3:1"), ("fox --v 4 --ar 1:3", "1:3")],
)
def test_old_versions_limit_aspect(text: str, ratio: str) -> None:
    (problem,) = problems_of(text)
    assert problem[0] == "aspect_ratio"
    assert f"--ar {ratio} is outside" in problem[1]


def test_new_versions_take_any_aspect() -> None:
    assert build_prompt("fox --ar 7:1") == "fox --ar 7:1"


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ("fox --v 7 --niji 6", "niji"),
        ("fox --fast --relax", "relax"),
        ("fox --fast --turbo --v 7", "turbo"),
        ("fox --relax --turbo --v 7", "turbo"),
        ("fox --public --stealth", "stealth"),
        ("fox --v 7 --oref https://e.com/a.png --q 4", "quality"),
        ("fox --v 7 --oref https://e.com/a.png --draft", "draft"),
        ("fox --tile --edit https://e.com/a.png", "edit"),
        ("fox --r 4 --relax", "relax"),
    ],
)
def test_incompatible_pair(text: str, field: str) -> None:
    problems = problems_of(text)
    assert [p[0] for p in problems] == [field]
    assert "cannot be used with" in problems[0][1]
    assert problems[0][2].startswith("Remove --")


def test_oref_with_lower_quality_allowed() -> None:
    assert build_prompt("fox --v 7 --oref https://e.com/a.png --q 2") == (
        "fox --v 7 --q 2 --oref https://e.com/a.png"
    )


@pytest.mark.parametrize(
    ("text", "field", "needed"),
    [
        ("fox --v 6 --cw 50", "cw", "--cref"),
        ("fox --v 7 --ow 50", "ow", "--oref"),
        ("https://e.com/a.png fox --motion low", "motion", "--video"),
        ("https://e.com/a.png fox --loop", "loop", "--video"),
        ("https://e.com/a.png fox --bs 2", "bs", "--video"),
    ],
)
def test_parameter_needs_partner(text: str, field: str, needed: str) -> None:
    (problem,) = problems_of(text)
    assert problem[0] == field
    assert needed in problem[2]


@pytest.mark.parametrize(("text", "field"), [("fox --iw 1", "iw"), ("fox --video", "video")])
def test_parameter_needs_image(text: str, field: str) -> None:
    (problem,) = problems_of(text)
    assert problem[0] == field
    assert "no image URL" in problem[1]


def test_video_with_start_frame() -> None:
    prompt = build_prompt("https://e.com/a.png fox running --video --motion high --bs 2")
    assert prompt == "https://e.com/a.png fox running --video --motion high --bs 2"


def test_withdrawn_version() -> None:
    (problem,) = problems_of("fox --v 8")
    assert problem[0] == "version"
    assert problem[2] == "Write --v 8.2 instead."


@pytest.mark.parametrize("name", ["upbeta", "uplight", "test", "testp", "sameseed", "width"])
def test_retired_parameter(name: str) -> None:
    (problem,) = problems_of(f"fox --{name}")
    assert problem[0] == name
    assert "no longer supported" in problem[1]
    assert problem[2].startswith(f"Remove --{name}")


def test_default_version_is_v82() -> None:
    assert DEFAULT_VERSION == ModelVersion("v", (8, 2))
    assert DEFAULT_VERSION.label == "V8.2"


@pytest.mark.parametrize(
    ("support", "text"),
    [
        (Support(), "every version and every Niji"),
        (Support(v_min=(6, 0), niji_min=6), "V6 and later and Niji 6 and later"),
        (Support(v_min=(6, 0), v_max=(6, 1), niji_min=6, niji_max=6), "V6 to V6.1 and Niji 6"),
        (Support(v_min=(7, 0), v_max=(7, 99), niji_min=None), "V7"),
    ],
)
def test_support_describe(support: Support, text: str) -> None:
    assert support.describe() == text


def test_every_parameter_has_example_of_itself() -> None:
    for spec in PARAMETERS:
        assert spec.example.startswith(f"--{spec.flag}"), spec.name


def test_every_parameter_name_is_unique() -> None:
    names = [alias.casefold() for spec in PARAMETERS for alias in spec.names]
    assert len(names) == len(set(names))


def test_column_parameters_exist() -> None:
    from midjourney.params import COLUMN_PARAMETERS

    for column in COLUMN_PARAMETERS:
        assert column in BY_NAME
