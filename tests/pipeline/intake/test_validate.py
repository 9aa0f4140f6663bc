"""Row validation: statuses, the MidJAu columns, and problems that name their cell."""

from __future__ import annotations

import pytest

from midjau.settings import IntakeSettings
from midjourney import params
from pipeline.intake import CellProblem
from pipeline.intake.columns import PARAMETER_COLUMNS, canonical_name
from pipeline.intake.rules import parse_image_choices
from tests.pipeline.intake.workbooks import read_rows

HEADER = [
    "prompt",
    "image_urls",
    "parameters",
    "stylize",
    "upscale",
    "variations",
    "repeat",
    "filename",
    "folder",
    "mode",
    "enabled",
]


def _row(**cells: object) -> list[object]:
    return [cells.get(name) for name in HEADER]


def _only_problem(**cells: object) -> CellProblem:
    intake = read_rows([HEADER, _row(**cells)])
    row = intake.rows[0]
    assert row.status == "invalid"
    assert len(row.problems) == 1, row.problems
    return row.problems[0]


def test_accepted_row_carries_parsed_cells() -> None:
    intake = read_rows(
        [
            HEADER,
            _row(
                prompt="a glass house",
                image_urls="https://example.com/a.png; https://example.com/b.png",
                parameters="--ar 3:2",
                stylize=100,
                upscale="U4, u2",
                variations="V1",
                repeat=3,
                filename="glass house",
                folder="\\clients\\acme/".lstrip("\\"),
                mode="Turbo",
                enabled="TRUE",
            ),
        ]
    )

    row = intake.rows[0]
    assert row.status == "accepted"
    assert row.prompts == (
        "https://example.com/a.png https://example.com/b.png a glass house --ar 3:2 --s 100",
    )
    assert row.upscales == (2, 4)
    assert row.upscales_set is True
    assert row.variations == (1,)
    assert row.repeat == 3
    assert row.filename == "glass house"
    assert row.folder == "clients/acme"
    assert row.mode == "turbo"
    assert intake.job_count == 3


@pytest.mark.parametrize("value", ["no", "N", "false", "0", "off", False, 0])
def test_disabled_row_is_skipped(value: object) -> None:
    intake = read_rows([HEADER, _row(prompt="a tower", enabled=value, upscale="U9")])

    row = intake.rows[0]
    assert row.status == "skipped"
    assert row.reason == "disabled"
    assert row.problems == ()
    assert intake.job_count == 0


def test_empty_rows_are_left_out_and_counted() -> None:
    intake = read_rows([HEADER, _row(prompt="one"), [], [None, None], _row(prompt="two")])

    assert [row.number for row in intake.rows] == [2, 5]
    assert "2 empty rows between prompt rows were skipped." in intake.notices


def test_unknown_columns_are_kept() -> None:
    intake = read_rows([["prompt", "Client", "Notes"], ["a chair", "Acme", "ask Bob"]])

    assert intake.rows[0].values == {"prompt": "a chair", "Client": "Acme", "Notes": "ask Bob"}
    assert "Columns MidJAu does not use, copied to the report: 'Client', 'Notes'." in (
        intake.notices
    )


def test_empty_prompt_with_other_cells() -> None:
    problem = _only_problem(stylize=100, folder="x")

    assert (problem.sheet, problem.row, problem.column, problem.field) == (
        "Prompts",
        2,
        "A",
        "prompt",
    )
    assert "enabled" in problem.fix


@pytest.mark.parametrize(
    ("cells", "column", "field", "message_part", "fix_part"),
    [
        ({"upscale": "U5"}, "E", "upscale", "'U5' is not a valid choice", "U1 to U4"),
        ({"upscale": "first"}, "E", "upscale", "'first'", "all, or none"),
        ({"variations": "V1, V9"}, "F", "variations", "'v9' is not V1 to V4", "V1 to V4"),
        ({"repeat": 0}, "G", "repeat", "repeat 0 is outside 1 to 40", "1 to 40"),
        ({"repeat": 41}, "G", "repeat", "repeat 41 is outside 1 to 40", "1 to 40"),
        ({"repeat": 2.5}, "G", "repeat", "repeat 2.5 is not a whole number", "whole number"),
        ({"repeat": "twice"}, "G", "repeat", "repeat 'twice' is not a number", "whole number"),
        ({"filename": "shots/fox"}, "H", "filename", "contains '/'", "folder column"),
        ({"filename": "shots\\fox"}, "H", "filename", "contains '\\'", "folder column"),
        ({"filename": "fox\nred"}, "H", "filename", "control character", "one line"),
        ({"folder": "../outside"}, "I", "folder", "contains '..'", "no .."),
        ({"folder": "a/../../b"}, "I", "folder", "contains '..'", "no .."),
        ({"folder": "/etc/cron.d"}, "I", "folder", "absolute path", "separated by /"),
        ({"folder": "\\\\server\\share"}, "I", "folder", "absolute path", "separated by /"),
        ({"folder": "C:\\images"}, "I", "folder", "drive letter", "drive letter"),
        ({"mode": "slow"}, "J", "mode", "mode 'slow' is not fast, relax or turbo", "fast"),
        ({"enabled": "maybe"}, "K", "enabled", "enabled 'maybe' is not yes or no", "yes"),
    ],
)
def test_cell_problem_names_its_cell(
    cells: dict[str, object], column: str, field: str, message_part: str, fix_part: str
) -> None:
    problem = _only_problem(prompt="a meadow", **cells)

    assert problem.sheet == "Prompts"
    assert problem.row == 2
    assert problem.column == column
    assert problem.field == field
    assert message_part in problem.message
    assert fix_part in problem.fix


def test_stylize_column_out_of_range_points_to_column() -> None:
    problem = _only_problem(prompt="a meadow", stylize=5000)

    assert (problem.column, problem.field) == ("D", "stylize")
    assert "5000" in problem.message


def test_parameter_in_prompt_text_points_to_prompt() -> None:
    problem = _only_problem(prompt="a meadow --stylize 5000")

    assert (problem.column, problem.field) == ("A", "prompt")
    assert "--s 5000" in problem.message
    assert "1000" in problem.fix or "1000" in problem.message


def test_parameter_in_parameters_column_points_there() -> None:
    problem = _only_problem(prompt="a meadow", parameters="--s 5000")

    assert (problem.column, problem.field) == ("C", "parameters")
    assert "--s 5000" in problem.message


def test_unknown_parameter_suggests_nearest_name() -> None:
    problem = _only_problem(prompt="a meadow", parameters="--ar 1:1 --stylise 400")

    assert problem.column == "C"
    assert "--stylise" in problem.message
    assert "--stylize 400" in problem.fix
    assert str(problem).startswith("Prompts!C2 (parameters): ")


def test_unknown_parameter_in_text_points_to_prompt() -> None:
    problem = _only_problem(prompt="a meadow --stylise 400", parameters="--ar 1:1")

    assert problem.column == "A"


def test_bad_image_url_points_to_image_column() -> None:
    problem = _only_problem(prompt="a meadow", image_urls="example.com/a.png")

    assert (problem.column, problem.field) == ("B", "image_urls")


def test_every_problem_of_a_row_is_listed() -> None:
    intake = read_rows(
        [HEADER, _row(prompt="a meadow --chaos 500", upscale="U0", repeat=99, mode="warp")]
    )

    row = intake.rows[0]
    assert {(p.column, p.field) for p in row.problems} == {
        ("A", "prompt"),
        ("E", "upscale"),
        ("G", "repeat"),
        ("J", "mode"),
    }
    assert row.prompts == ()
    for problem in row.problems:
        assert problem.message in row.reason
    assert intake.problems == list(row.problems)


def test_permutations_expand_into_prompts() -> None:
    intake = read_rows([HEADER, _row(prompt="a {red, blue} kite --ar {1:1, 16:9}", repeat=2)])

    row = intake.rows[0]
    assert sorted(row.prompts) == sorted(
        [
            "a red kite --ar 1:1",
            "a red kite --ar 16:9",
            "a blue kite --ar 1:1",
            "a blue kite --ar 16:9",
        ]
    )
    assert intake.job_count == 8


def test_permutations_over_cap_are_a_problem() -> None:
    settings = IntakeSettings(permutation_cap=3)
    intake = read_rows([HEADER, _row(prompt="a {red, blue} kite over {sea, hills}")], settings)

    row = intake.rows[0]
    assert row.status == "invalid"
    assert row.problems[0].column == "A"
    assert "4" in row.problems[0].message


def test_prompt_over_length_limit() -> None:
    settings = IntakeSettings(max_prompt_length=50)
    intake = read_rows([HEADER, _row(prompt="a very long prompt " * 5)], settings)

    problem = intake.rows[0].problems[0]
    assert (problem.column, problem.field) == ("A", "prompt")
    assert "50" in problem.message


def test_model_column_with_niji() -> None:
    intake = read_rows([["prompt", "model"], ["a shrine", "niji 6"], ["a street", "v7"]])

    assert intake.rows[0].prompts == ("a shrine --niji 6",)
    assert intake.rows[1].prompts == ("a street --v 7",)


def test_tile_column_yes_and_no() -> None:
    intake = read_rows([["prompt", "tile"], ["lemons", "yes"], ["limes", "no"], ["figs", True]])

    assert [row.prompts for row in intake.rows] == [
        ("lemons --tile",),
        ("limes",),
        ("figs --tile",),
    ]


def test_duplicate_unknown_headers_get_distinct_keys() -> None:
    intake = read_rows([["prompt", "Notes", "Notes"], ["a bench", "one", "two"]])

    assert intake.headers == ["prompt", "Notes", "Notes (C)"]
    assert intake.rows[0].values == {"prompt": "a bench", "Notes": "one", "Notes (C)": "two"}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", ((), False)),
        ("none", ((), True)),
        ("U1", ((1,), True)),
        ("3", ((3,), True)),
        ("U1, U3", ((1, 3), True)),
        ("u3;u1 u3", ((1, 3), True)),
        ("1-4", ((1, 2, 3, 4), True)),
        ("ALL", ((1, 2, 3, 4), True)),
    ],
)
def test_upscale_forms(text: str, expected: tuple[tuple[int, ...], bool]) -> None:
    assert parse_image_choices(text, "U") == expected


def test_parameter_columns_match_grammar() -> None:
    assert set(PARAMETER_COLUMNS) == set(params.COLUMN_PARAMETERS)


@pytest.mark.parametrize(
    ("header", "name"),
    [
        ("Prompt Text", "prompt"),
        ("image url", "image_urls"),
        ("Image Prompts", "image_urls"),
        ("PARAMS", "parameters"),
        ("--ar", "aspect_ratio"),
        ("Model", "version"),
        ("negative", "no"),
        ("Style Reference", "sref"),
        ("vary", "variations"),
        ("count", "repeat"),
        ("Name", "filename"),
        ("directory", "folder"),
        ("Speed", "mode"),
        ("active", "enabled"),
        ("Notes", None),
    ],
)
def test_header_aliases(header: str, name: str | None) -> None:
    assert canonical_name(header) == name
