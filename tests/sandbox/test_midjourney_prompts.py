"""How the simulated Midjourney reads and echoes /imagine prompts."""

from __future__ import annotations

import pytest

from sandbox.midjourney.prompts import InvalidPromptError, mj_short_link, parse_prompt


def test_echo_shortens_image_urls_and_appends_suffix() -> None:
    prompt = parse_prompt("https://example.com/a.png red fox --ar 16:9", suffix="--v 7")

    assert prompt.echo == f"{mj_short_link('https://example.com/a.png')} red fox --ar 16:9 --v 7"
    assert prompt.echo.startswith("<https://s.mj.run/")
    assert prompt.text == "red fox"


def test_suffix_is_skipped_when_prompt_sets_the_version() -> None:
    assert parse_prompt("red fox --niji 6", suffix="--v 7").echo == "red fox --niji 6"
    assert parse_prompt("red fox --v 6.1", suffix="--v 7 --s 50").echo == "red fox --v 6.1 --s 50"


def test_aspect_seed_and_mode_are_read() -> None:
    prompt = parse_prompt("a cat —ar 2:3 --seed 99 --relax", suffix="")

    assert prompt.aspect == (2, 3)
    assert prompt.seed == 99
    assert prompt.mode == "relax"


@pytest.mark.parametrize(
    ("raw", "named"),
    [
        ("a cat --ar 1.5:1", "aspect ratio"),
        ("a cat --chaos 300", "--chaos"),
        ("a cat --seed abc", "--seed"),
        ("a cat --colour red", "--colour"),
    ],
)
def test_bad_parameter_is_rejected_with_its_name(raw: str, named: str) -> None:
    with pytest.raises(InvalidPromptError) as caught:
        parse_prompt(raw, suffix="")

    assert named in caught.value.description
