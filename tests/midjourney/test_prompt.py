"""build_prompt: merging, dashes, URLs, columns, problems; normalise_for_matching."""

from __future__ import annotations

import pytest

from midjourney.prompt import PromptError, PromptProblem, build_prompt, normalise_for_matching


def problems_of(text: str, **kwargs: object) -> list[PromptProblem]:
    with pytest.raises(PromptError) as caught:
        build_prompt(text, **kwargs)  # type: ignore[arg-type]
    return caught.value.problems


def test_plain_prompt_unchanged() -> None:
    assert build_prompt("a red fox in the snow") == "a red fox in the snow"


def test_whitespace_collapsed() -> None:
    assert build_prompt("  a   red\tfox \n in  snow  --ar   16:9 ") == "a red fox in snow --ar 16:9"


@pytest.mark.parametrize(
    "dash",
    ["—", "–", "――", "−−", "‐‐", "‑‑", "–-", "-–", "—-", "－－", "﹣﹣", "‒", "-- "],
)
def test_dash_variants_become_double_hyphen(dash: str) -> None:
    assert build_prompt(f"a red fox {dash}ar 16:9") == "a red fox --ar 16:9"


@pytest.mark.parametrize(
    "text",
    [
        "a fox — running fast",
        "a fox -no tail",
        "a fox – the end",
        "a well-lit fox",
        "a fox —beautiful",
    ],
)
def test_dash_in_text_kept(text: str) -> None:
    assert build_prompt(text) == text


def test_dash_before_no_with_space_kept() -> None:
    # An em dash followed by a space is punctuation, even before a parameter's name.
    assert build_prompt("a dog — no cat") == "a dog — no cat"


def test_parameters_in_stable_order() -> None:
    prompt = build_prompt("fox --tile --s 50 --seed 3 --no blur --c 10 --ar 2:3 --v 7 --q 2")
    assert prompt == "fox --ar 2:3 --v 7 --s 50 --c 10 --q 2 --seed 3 --tile --no blur"


def test_columns_merged_with_text_and_extra() -> None:
    prompt = build_prompt(
        "a red fox --s 250",
        extra="--c 10 --seed 7",
        parameters={"aspect_ratio": "16x9", "version": "v7", "tile": "yes", "style": "raw"},
    )
    assert prompt == "a red fox --ar 16:9 --v 7 --s 250 --c 10 --seed 7 --tile --style raw"


@pytest.mark.parametrize(
    ("column", "cell", "expected"),
    [
        ("aspect_ratio", "16:9", "--ar 16:9"),
        ("aspect_ratio", "16x9", "--ar 16:9"),
        ("aspect_ratio", "16X9", "--ar 16:9"),
        ("aspect_ratio", "16/9", "--ar 16:9"),
        ("aspect_ratio", "16 : 9", "--ar 16:9"),
        ("aspect_ratio", "16×9", "--ar 16:9"),
        ("version", "7", "--v 7"),
        ("version", "v7", "--v 7"),
        ("version", "V 6.1", "--v 6.1"),
        ("version", "V6.0", "--v 6"),
        ("version", "version 7", "--v 7"),
        ("version", "niji 6", "--niji 6"),
        ("niji", "6", "--niji 6"),
        ("niji", "niji 7", "--niji 7"),
        ("stylize", "250", "--s 250"),
        ("chaos", "20", "--c 20"),
        ("seed", "12345", "--seed 12345"),
        ("style", "RAW", "--style raw"),
        ("no", "text, watermark", "--no text, watermark"),
        ("weird", "100", "--weird 100"),
        ("tile", "yes", "--tile"),
        ("tile", "TRUE", "--tile"),
        ("tile", "1", "--tile"),
        ("tile", "x", "--tile"),
        ("sref", "123456", "--sref 123456"),
    ],
)
def test_column_value(column: str, cell: str, expected: str) -> None:
    assert build_prompt("fox", parameters={column: cell}) == f"fox {expected}"


def test_quality_column_with_version_column() -> None:
    assert (
        build_prompt("fox", parameters={"quality": ".5", "version": "6.1"}) == "fox --v 6.1 --q 0.5"
    )


@pytest.mark.parametrize("cell", ["no", "false", "0", "", "  ", "No", "FALSE"])
def test_tile_off_words(cell: str) -> None:
    assert build_prompt("fox", parameters={"tile": cell}) == "fox"


def test_tile_bad_word() -> None:
    (problem,) = problems_of("fox", parameters={"tile": "maybe"})
    assert problem.field == "tile"
    assert "maybe" in problem.message
    assert "yes" in problem.fix


def test_empty_column_ignored() -> None:
    assert build_prompt("fox", parameters={"stylize": "", "chaos": "  "}) == "fox"


def test_same_value_twice_merged() -> None:
    prompt = build_prompt(
        "fox --ar 16:9", extra="--aspect 16x9", parameters={"aspect_ratio": "16/9"}
    )
    assert prompt == "fox --ar 16:9"


@pytest.mark.parametrize(
    ("text", "extra", "parameters", "field", "values"),
    [
        ("fox --ar 16:9", "", {"aspect_ratio": "1:1"}, "aspect_ratio", ("16:9", "1:1")),
        ("fox --s 100", "--stylize 200", {}, "stylize", ("100", "200")),
        ("fox", "--c 5", {"chaos": "6"}, "chaos", ("5", "6")),
        ("fox --v 7", "", {"version": "6.1"}, "version", ("7", "6.1")),
        ("fox --seed 1 --seed 2", "", {}, "seed", ("1", "2")),
    ],
)
def test_conflicting_values_name_both(
    text: str, extra: str, parameters: dict[str, str], field: str, values: tuple[str, str]
) -> None:
    problems = problems_of(text, extra=extra, parameters=parameters)
    conflict = [p for p in problems if "disagree" in p.message]
    assert len(conflict) == 1
    assert conflict[0].field == field
    for value in values:
        assert value in conflict[0].message
        assert value in conflict[0].fix


def test_conflict_names_sources() -> None:
    (problem,) = problems_of("fox --ar 16:9", parameters={"aspect_ratio": "1:1"})
    assert "the prompt text" in problem.message
    assert "the aspect_ratio column" in problem.message


def test_no_terms_merge() -> None:
    prompt = build_prompt(
        "fox --no blur, text", extra="--no Text, logo", parameters={"no": "frame"}
    )
    assert prompt == "fox --no blur, text, logo, frame"


def test_unknown_parameter_suggests_nearest() -> None:
    (problem,) = problems_of("fox --stylise 100")
    assert problem.field == "stylise"
    assert "not a Midjourney parameter" in problem.message
    assert problem.fix == "Did you mean --stylize? Write --stylize 100."


@pytest.mark.parametrize(
    ("name", "nearest"),
    [("aspectratio", "aspect"), ("chaoss", "chaos"), ("qualty", "quality"), ("seeds", "seed")],
)
def test_unknown_parameter_nearest_names(name: str, nearest: str) -> None:
    (problem,) = problems_of(f"fox --{name} 1")
    assert f"--{nearest} " in problem.fix


@pytest.mark.parametrize("name", ["foo", "x", "abc", "stylizzzz"])
def test_unknown_parameter_two_edits_away_gets_no_suggestion(name: str) -> None:
    (problem,) = problems_of(f"fox --{name} <b>bar</b>")
    assert "Did you mean" not in problem.fix
    assert problem.fix.startswith(f"Remove --{name}")


def test_unknown_parameter_with_swapped_letters_is_one_edit() -> None:
    (problem,) = problems_of("fox --qualtiy 1")
    assert problem.fix == "Did you mean --quality? Write --quality 1."


def test_unknown_parameter_without_match() -> None:
    (problem,) = problems_of("fox --zzzzzz")
    assert problem.fix.startswith("Remove --zzzzzz")


def test_every_problem_listed() -> None:
    problems = problems_of("fox --s 5000 --c 200 --foo", parameters={"tile": "maybe"})
    assert sorted(p.field for p in problems) == ["chaos", "foo", "stylize", "tile"]


def test_empty_text_after_parameters() -> None:
    (problem,) = problems_of("--ar 16:9 --s 100")
    assert problem.field == "prompt"
    assert "no text" in problem.message


def test_empty_text_with_two_images_allowed() -> None:
    prompt = build_prompt("", image_urls=["https://e.com/a.png", "https://e.com/b.png"])
    assert prompt == "https://e.com/a.png https://e.com/b.png"


def test_empty_text_with_one_image_rejected() -> None:
    (problem,) = problems_of("--ar 1:1", image_urls=["https://e.com/a.png"])
    assert problem.field == "prompt"
    assert "second image" in problem.fix


def test_image_urls_come_first() -> None:
    prompt = build_prompt(
        "a fox --ar 1:1", image_urls=["https://e.com/a.png", " http://e.com/b.jpg "]
    )
    assert prompt == "https://e.com/a.png http://e.com/b.jpg a fox --ar 1:1"


def test_image_urls_cell_with_several() -> None:
    prompt = build_prompt(
        "fox", image_urls=["https://e.com/a.png\nhttps://e.com/b.png, https://e.com/c.png"]
    )
    assert prompt == "https://e.com/a.png https://e.com/b.png https://e.com/c.png fox"


def test_leading_urls_in_text_kept_first() -> None:
    prompt = build_prompt("<https://e.com/t.png> a fox", image_urls=["https://e.com/a.png"])
    assert prompt == "https://e.com/a.png https://e.com/t.png a fox"


@pytest.mark.parametrize(
    "url",
    [
        "ftp://e.com/a.png",
        "e.com/a.png",
        "https://",
        "javascript:alert(1)",
        "not a url",
        "file:///etc/passwd",
    ],
)
def test_bad_image_url(url: str) -> None:
    problems = problems_of("a fox", image_urls=[url])
    assert {p.field for p in problems} == {"image_urls"}
    assert "https://" in problems[0].fix


def test_iw_with_image_accepted() -> None:
    assert build_prompt("fox --iw 2", image_urls=["https://e.com/a.png"]) == (
        "https://e.com/a.png fox --iw 2"
    )


def test_length_limit() -> None:
    (problem,) = problems_of("word " * 30, max_length=100)
    assert problem.field == "prompt"
    assert "149 characters" in problem.message
    assert "limit of 100" in problem.message
    assert "49 characters" in problem.fix


def test_length_limit_exact_fits() -> None:
    text = "a" * 50
    assert build_prompt(text, max_length=50) == text


def test_default_length_limit_6000() -> None:
    assert build_prompt("a" * 6000) == "a" * 6000
    with pytest.raises(PromptError):
        build_prompt("a" * 6001)


def test_stray_text_in_parameters_column() -> None:
    (problem,) = problems_of("fox", extra="ar 16:9")
    assert problem.field == "parameters"
    assert "--name value" in problem.fix


def test_flag_with_value() -> None:
    (problem,) = problems_of("fox --tile seamless")
    assert problem.field == "tile"
    assert "'seamless'" in problem.message


def test_glued_value() -> None:
    assert build_prompt("fox --ar16:9 --s250") == "fox --ar 16:9 --s 250"


def test_multi_prompt_weights_pass_through() -> None:
    assert build_prompt("hot dog::2 animal::-0.5 --v 7") == "hot dog::2 animal::-0.5 --v 7"


def test_unknown_column_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="not a parameter column"):
        build_prompt("fox", parameters={"colour": "red"})


def test_error_message_lists_problems() -> None:
    with pytest.raises(PromptError) as caught:
        build_prompt("fox --s 5000")
    assert "stylize" in str(caught.value)
    assert "out of range" in str(caught.value)


@pytest.mark.parametrize(
    ("sent", "echo"),
    [
        ("a red fox --ar 16:9 --v 7", "a red fox --ar 16:9 --v 7 --s 100"),
        ("https://e.com/a.png a red fox", "<https://s.mj.run/Ab3dE> a red fox"),
        (
            "https://e.com/a.png https://e.com/b.png a red fox",
            "<https://s.mj.run/x1> <https://s.mj.run/x2> a red fox --v 8.2",
        ),
        ("A  Red   Fox", "a red fox"),
        ("a red fox —ar 2:3", "a red fox --ar 2:3 --relax"),
    ],
)
def test_matching_text_equal(sent: str, echo: str) -> None:
    assert normalise_for_matching(sent) == normalise_for_matching(echo)


def test_matching_text_differs_for_other_prompt() -> None:
    assert normalise_for_matching("a red fox") != normalise_for_matching("a red cat")


def test_matching_text_form() -> None:
    assert normalise_for_matching("<https://s.mj.run/a> Big  FOX --ar 1:1") == "<url> big fox"


def test_dashes_in_parameters_column() -> None:
    assert build_prompt("fox", extra="—ar 3:2 –s 75") == "fox --ar 3:2 --s 75"


def test_column_problem_names_column() -> None:
    (problem,) = problems_of("fox", parameters={"stylize": "5000"})
    assert problem.field == "stylize"
    assert "(in the stylize column)" not in problem.message
    assert "out of range 0-1000" in problem.message


def test_column_bad_value_names_column() -> None:
    (problem,) = problems_of("fox", parameters={"chaos": "lots"})
    assert problem.field == "chaos"
    assert "the chaos column" in problem.message


def test_every_column_at_once() -> None:
    prompt = build_prompt(
        "a lighthouse at dusk",
        image_urls=["https://e.com/ref.png"],
        parameters={
            "aspect_ratio": "3x2",
            "version": "6.1",
            "stylize": "400",
            "chaos": "15",
            "quality": "0.5",
            "seed": "99",
            "style": "raw",
            "no": "people",
            "weird": "50",
            "tile": "no",
            "sref": "2893847",
        },
    )
    assert prompt == (
        "https://e.com/ref.png a lighthouse at dusk --ar 3:2 --v 6.1 --s 400 --c 15 --q 0.5 "
        "--seed 99 --no people --style raw --sref 2893847 --weird 50"
    )


def test_niji_column_with_version_column_conflicts() -> None:
    problems = problems_of("fox", parameters={"version": "7", "niji": "6"})
    assert [p.field for p in problems] == ["niji"]
    assert "--v 7" in problems[0].message
    assert "--niji 6" in problems[0].message


def test_bad_version_skips_version_rules() -> None:
    problems = problems_of("fox --v 12 --q 2")
    assert [p.field for p in problems] == ["version"]
