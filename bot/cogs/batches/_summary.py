"""The validation summary of a sheet: a message that fits Discord, and the full list as a file."""

from __future__ import annotations

import io
from collections.abc import Sequence

import discord

from bot.text import MESSAGE_LIMIT, defuse_mentions, join_within, shorten
from pipeline.intake.model import CellProblem, SheetIntake

PROBLEMS_FILENAME = "sheet-problems.txt"


def describe_problem(problem: CellProblem) -> str:
    """Say where a problem is and how to fix it: sheet, row, column letter, what, fix."""
    where = f"{problem.sheet} row {problem.row}, column {problem.column}"
    if problem.field:
        where += f" ({problem.field})"
    return f"{where}: {problem.message}. {problem.fix}"


def invalid_rows(intake: SheetIntake) -> int:
    """Return how many rows of the sheet are invalid."""
    return sum(1 for row in intake.rows if row.status == "invalid")


def summary_header(intake: SheetIntake) -> str:
    """Say in one line what the sheet holds: valid rows and jobs, invalid rows."""
    accepted = len(intake.accepted_rows)
    jobs = intake.job_count
    invalid = invalid_rows(intake)
    name = f"**{shorten(intake.filename, 100)}**"
    ready = f"{accepted} {_plural(accepted, 'row')} ({jobs} {_plural(jobs, 'job')}) can run"
    if not invalid:
        return f"{name}: {ready}."
    return f"{name}: {invalid} {_plural(invalid, 'row')} {_be(invalid)} invalid; {ready}."


def render_summary(
    intake: SheetIntake,
    *,
    closing: str,
    notes: Sequence[str] = (),
    limit: int = MESSAGE_LIMIT,
) -> str:
    """Render the summary message: header, one line per problem, notes, then ``closing``.

    The notes are the sheet's notices followed by ``notes``.

    Problems that do not fit in ``limit`` characters are counted in an "and N more" line;
    the attachment from ``problems_file`` lists them all.
    """
    header = defuse_mentions(summary_header(intake))
    # A blank line ends the problem list, so Markdown does not run the notes and the
    # closing advice into its last item; each note is a paragraph of its own.
    all_notes = [*intake.notices, *notes]
    tail = "\n\n".join([*(f"Note: {defuse_mentions(n)}" for n in all_notes), closing])
    fixed = f"{header}\n\n{tail}"
    room = limit - len(fixed) - 1
    lines = [f"- {defuse_mentions(describe_problem(problem))}" for problem in intake.problems]
    if not lines or room <= 0:
        return shorten(fixed, limit)
    listed = join_within(lines, room, more="…and {count} more (all in the attached file)")
    return f"{header}\n{listed}\n\n{tail}"


def problems_file(intake: SheetIntake) -> discord.File | None:
    """Return every problem of the sheet as a text file, or None when there are none."""
    problems = intake.problems
    if not problems:
        return None
    lines = [f"Problems in {intake.filename}", ""]
    lines += [describe_problem(problem) for problem in problems]
    data = ("\n".join(lines) + "\n").encode("utf-8")
    return discord.File(io.BytesIO(data), filename=PROBLEMS_FILENAME)


def _plural(count: int, word: str) -> str:
    return word if count == 1 else f"{word}s"


def _be(count: int) -> str:
    return "is" if count == 1 else "are"
