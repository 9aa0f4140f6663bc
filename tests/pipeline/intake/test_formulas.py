"""Formula cells the file saved no result for are named, never read as empty cells."""

from __future__ import annotations

from tests.pipeline.intake.workbooks import read_rows


def test_formula_prompt_without_saved_result_is_named() -> None:
    # openpyxl saves formulas without their results, as a file never opened in Excel has.
    intake = read_rows([["prompt", "notes"], ['=HYPERLINK("http://a.example","click")', "x"]])

    row = intake.rows[0]
    assert row.status == "invalid"
    [problem] = row.problems
    assert problem.column == "A"
    assert problem.message == (
        'cell A2 holds a formula (=HYPERLINK("http://a.example","click")) with no saved result'
    )
    assert "open the file in Excel and save it, or paste the column as values" in problem.fix
    assert "the prompt is empty" not in row.reason


def test_formula_in_an_extra_column_keeps_its_text_for_the_report() -> None:
    intake = read_rows([["prompt", "notes"], ["a red fox", '=cmd|"/c calc"!A0']])

    row = intake.rows[0]
    assert row.status == "accepted"
    assert row.values["notes"] == '=cmd|"/c calc"!A0'


def test_formula_only_row_is_not_skipped_as_empty() -> None:
    intake = read_rows([["prompt", "notes"], ["a red fox", "x"], ["=1+1"]])

    assert [row.number for row in intake.rows] == [2, 3]
    assert intake.rows[1].problems[0].message.startswith("cell A3 holds a formula (=1+1)")
