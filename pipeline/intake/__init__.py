"""Read the user's prompt sheet, validate every row and build the prompts to send."""

from pipeline.intake.model import CellProblem, IntakeError, SheetIntake, SheetRow
from pipeline.intake.reader import load_sheet, read_sheet
from pipeline.intake.template import write_template

__all__ = [
    "CellProblem",
    "IntakeError",
    "SheetIntake",
    "SheetRow",
    "load_sheet",
    "read_sheet",
    "write_template",
]
