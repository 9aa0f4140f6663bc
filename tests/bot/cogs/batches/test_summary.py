from bot.cogs.batches._sheets import PreparedSheet, compose_reply
from bot.cogs.batches._summary import (
    PROBLEMS_FILENAME,
    describe_problem,
    problems_file,
    render_summary,
    summary_header,
)
from bot.text import MESSAGE_LIMIT
from pipeline.intake.model import CellProblem, SheetIntake, SheetRow


def bad_row(number: int, message: str = "stylize 5000 is out of range 0-1000") -> SheetRow:
    problem = CellProblem(
        sheet="Prompts",
        row=number,
        column="D",
        field="stylize",
        message=message,
        fix="Use a whole number from 0 to 1000",
    )
    return SheetRow(number=number, values={}, status="invalid", problems=(problem,))


def good_row(number: int) -> SheetRow:
    return SheetRow(number=number, values={}, status="accepted", prompts=("a cat",), repeat=2)


def make_intake(rows: list[SheetRow]) -> SheetIntake:
    return SheetIntake(filename="prompts.xlsx", sheet_name="Prompts", headers=[], rows=rows)


def test_problem_names_sheet_row_column_and_fix() -> None:
    text = describe_problem(bad_row(7).problems[0])

    assert text == (
        "Prompts row 7, column D (stylize): stylize 5000 is out of range 0-1000. "
        "Use a whole number from 0 to 1000"
    )


def test_header_counts_valid_and_invalid_rows() -> None:
    intake = make_intake([good_row(2), bad_row(3), good_row(4)])

    header = summary_header(intake)

    assert "1 row is invalid" in header
    assert "2 rows (4 jobs) can run" in header


def test_summary_lists_every_problem_that_fits() -> None:
    intake = make_intake([good_row(2), bad_row(3), bad_row(5)])

    text = render_summary(intake, closing="Fix it.")

    assert "Prompts row 3, column D" in text
    assert "Prompts row 5, column D" in text
    assert text.endswith("Fix it.")
    assert "more" not in text


def test_long_summary_fits_discord_and_counts_the_rest() -> None:
    intake = make_intake([bad_row(number) for number in range(2, 302)])

    text = render_summary(intake, closing="Fix it.")

    assert len(text) <= MESSAGE_LIMIT
    listed = text.count("Prompts row ")
    assert 0 < listed < 300
    assert f"…and {300 - listed} more (all in the attached file)" in text
    assert text.endswith("Fix it.")


def test_summary_defuses_mentions_in_cell_text() -> None:
    intake = make_intake([bad_row(3, message="unknown parameter @everyone <@&123>")])

    text = render_summary(intake, closing="Fix it.")

    assert "@everyone" not in text
    assert "<@&123>" not in text


def test_problems_file_lists_all_problems() -> None:
    intake = make_intake([bad_row(number) for number in range(2, 302)])

    file = problems_file(intake)

    assert file is not None
    assert file.filename == PROBLEMS_FILENAME
    lines = file.fp.read().decode().splitlines()
    assert sum(1 for line in lines if line.startswith("Prompts row ")) == 300


def test_no_problems_file_for_a_clean_sheet() -> None:
    assert problems_file(make_intake([good_row(2)])) is None


def test_notes_and_closing_advice_stand_apart_from_the_last_problem() -> None:
    intake = make_intake([good_row(2), bad_row(3)])
    intake.notices.append("Columns MidJAu does not use, copied to the report: 'notes'.")

    text = render_summary(intake, closing="Fix the sheet and send it again.")

    paragraphs = text.split("\n\n")
    assert paragraphs[0].splitlines()[-1].startswith("- Prompts row 3, column D")
    assert paragraphs[1] == "Note: Columns MidJAu does not use, copied to the report: 'notes'."
    assert paragraphs[2] == "Fix the sheet and send it again."


async def test_reply_notes_days_beyond_daily_cap() -> None:
    notice = "At this connection's daily cap of 2 prompts per 24 hours, ..."
    waiting = PreparedSheet(make_intake([good_row(2)]), batch_id=4, started=False)
    waiting.pace_notice = notice
    started = PreparedSheet(make_intake([good_row(2)]), batch_id=5, started=True)
    started.pace_notice = notice

    waiting_text = compose_reply(waiting).content
    started_text = compose_reply(started).content

    assert f"Note: {notice}" in waiting_text
    assert waiting_text.index("Note:") < waiting_text.index("Press Run to start.")
    assert f"Note: {notice}" in started_text
    assert started_text.index("Note:") < started_text.index("Batch 5 started")
