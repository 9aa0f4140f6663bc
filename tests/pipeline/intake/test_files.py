"""Files that cannot be read as a whole get one clear IntakeError; load_sheet runs off the loop."""

from __future__ import annotations

import io
import threading
import zipfile
from pathlib import Path

import pytest

from midjau.settings import IntakeSettings
from pipeline.intake import IntakeError, load_sheet, read_sheet
from pipeline.intake import reader as intake_reader
from tests.pipeline.intake.workbooks import SETTINGS, xlsx_bytes

# Real files saved by other tools: a workbook encrypted with the password "s3cret"
# (msoffcrypto-tool 6) and an Excel 97-2003 workbook (xlwt 1.3), kept as fixtures so the
# tests need neither library.
FILES = Path(__file__).parent / "files"


def _error_for(data: bytes, filename: str, settings: IntakeSettings = SETTINGS) -> str:
    with pytest.raises(IntakeError) as raised:
        read_sheet(data, filename, settings=settings)
    return str(raised.value)


def test_password_protected_workbook() -> None:
    data = (FILES / "password-protected.xlsx").read_bytes()

    message = _error_for(data, "locked.xlsx")

    assert message.startswith("locked.xlsx is protected with a password")
    assert "Remove the password" in message


def test_old_xls_saved_as_xlsx() -> None:
    data = (FILES / "excel-97-2003.xls").read_bytes()

    message = _error_for(data, "renamed.xlsx")

    assert "old Excel 97-2003 (.xls) file" in message
    assert "save it as 'Excel Workbook (.xlsx)'" in message


def test_xls_extension() -> None:
    message = _error_for(b"anything", "legacy.xls")

    assert message.startswith("legacy.xls is an old Excel 97-2003 (.xls) file")


def test_corrupt_zip() -> None:
    data = xlsx_bytes([["prompt"], ["a fox"]])

    message = _error_for(data[: len(data) // 2], "broken.xlsx")

    assert message.startswith("broken.xlsx could not be read as an Excel workbook")


def test_zip_that_is_not_a_workbook() -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("word/document.xml", "<document/>")

    message = _error_for(buffer.getvalue(), "letter.xlsx")

    assert "could not be read as an Excel workbook" in message


def test_damaged_sheet_xml() -> None:
    source = zipfile.ZipFile(io.BytesIO(xlsx_bytes([["prompt"], ["a fox"]])))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for item in source.infolist():
            content = source.read(item.filename)
            if item.filename == "xl/worksheets/sheet1.xml":
                content = content[: len(content) // 2]
            archive.writestr(item, content)

    message = _error_for(buffer.getvalue(), "damaged.xlsx")

    assert "damaged.xlsx" in message
    assert "Excel Workbook (.xlsx)" in message


def test_csv_named_xlsx() -> None:
    message = _error_for(b"prompt\na fox\n", "prompts.xlsx")

    assert "If it is a CSV file, rename it to .csv" in message


@pytest.mark.parametrize("filename", ["prompts.ods", "prompts.pdf", "prompts"])
def test_unsupported_file_type(filename: str) -> None:
    message = _error_for(b"PK\x03\x04 not really", filename)

    assert ".xlsx or .xlsm" in message
    assert ".csv" in message


def test_empty_file() -> None:
    message = _error_for(b"", "empty.csv")

    assert message.startswith("empty.csv is empty")


def test_file_over_upload_limit() -> None:
    settings = IntakeSettings(max_upload_bytes=1024)

    message = _error_for(b"prompt\n" + b"a fox\n" * 400, "big.csv", settings)

    assert message.startswith("big.csv is 2 KiB, more than the limit of 1 KiB.")
    assert "Split it into smaller files" in message


def test_csv_row_limit() -> None:
    data = ("prompt\n" + "".join(f"fox {n}\n" for n in range(12))).encode()

    message = _error_for(data, "many.csv", IntakeSettings(row_limit=10))

    assert "has more than 10 prompt rows, the limit (row 12 holds prompt 11)" in message


async def test_load_sheet_reads_in_a_worker_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    threads: list[threading.Thread] = []
    original = intake_reader.read_sheet

    def recording_read_sheet(*args: object, **kwargs: object) -> object:
        threads.append(threading.current_thread())
        return original(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(intake_reader, "read_sheet", recording_read_sheet)
    data = xlsx_bytes([["prompt", "ar"], ["a fox", "1:1"]])

    intake = await load_sheet(data, "async.xlsx", settings=SETTINGS)

    assert intake.rows[0].prompts == ("a fox --ar 1:1",)
    assert len(threads) == 1
    assert threads[0] is not threading.main_thread()


def test_csv_of_random_bytes_is_not_text() -> None:
    data = bytes(range(256)) * 8

    message = _error_for(data, "bin.csv")

    assert message.startswith("bin.csv does not look like a text CSV file")
    assert "Headers found" not in message


def test_csv_with_one_vertical_tab_is_still_read() -> None:
    data = ("prompt\n" + "a fox\x0bin snow\n" + "".join(f"fox {n}\n" for n in range(200))).encode()

    intake = read_sheet(data, "notes.csv", settings=SETTINGS)

    assert len(intake.rows) == 201
