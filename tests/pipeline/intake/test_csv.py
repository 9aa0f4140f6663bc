"""Reading CSV files: encodings, delimiters, quoting and the header search."""

from __future__ import annotations

import codecs

import pytest

from pipeline.intake import IntakeError, read_sheet
from pipeline.intake.csv_reader import decode_text
from tests.pipeline.intake.workbooks import SETTINGS

ROWS = [
    ["prompt", "aspect_ratio", "folder", "notes"],
    ["café terrace at night, Van Gogh style", "16:9", "paintings", "naïve — test"],
    ["a red fox, a blue bird, a green frog", "1:1", "animals", "commas inside"],
]


def _csv_text(rows: list[list[str]], delimiter: str) -> str:
    def quote(cell: str) -> str:
        if any(char in cell for char in (delimiter, '"', "\n", ",", ";")):
            return '"' + cell.replace('"', '""') + '"'
        return cell

    return "\r\n".join(delimiter.join(quote(cell) for cell in row) for row in rows) + "\r\n"


@pytest.mark.parametrize(
    ("encoding", "prefix"),
    [
        ("utf-8", b""),
        ("utf-8", codecs.BOM_UTF8),
        ("utf-16-le", codecs.BOM_UTF16_LE),
        ("utf-16-be", codecs.BOM_UTF16_BE),
        ("utf-16-le", b""),
        ("cp1252", b""),
    ],
)
def test_csv_encodings(encoding: str, prefix: bytes) -> None:
    data = prefix + _csv_text(ROWS, ",").encode(encoding)

    intake = read_sheet(data, "prompts.csv", settings=SETTINGS)

    assert intake.headers == ["prompt", "aspect_ratio", "folder", "notes"]
    assert intake.rows[0].prompts == ("café terrace at night, Van Gogh style --ar 16:9",)
    assert intake.rows[0].values["notes"] == "naïve — test"
    assert intake.rows[1].folder == "animals"


@pytest.mark.parametrize("delimiter", [",", ";", "\t"])
def test_csv_delimiters(delimiter: str) -> None:
    data = _csv_text(ROWS, delimiter).encode("utf-8")

    intake = read_sheet(data, "prompts.csv", settings=SETTINGS)

    assert intake.headers == ["prompt", "aspect_ratio", "folder", "notes"]
    assert intake.rows[1].prompts == ("a red fox, a blue bird, a green frog --ar 1:1",)


def test_semicolon_csv_with_unquoted_commas() -> None:
    # European Excel writes ; as the delimiter and leaves commas in text unquoted.
    data = b"prompt;ar;upscale\na red fox, snow, dusk;16:9;U1, U3\na blue bird, spring;1:1;all\n"

    intake = read_sheet(data, "eu.csv", settings=SETTINGS)

    assert intake.rows[0].prompts == ("a red fox, snow, dusk --ar 16:9",)
    assert intake.rows[0].upscales == (1, 3)
    assert intake.rows[1].upscales == (1, 2, 3, 4)


def test_quoted_newlines_stay_in_cell() -> None:
    data = (
        b"prompt,image_urls,filename\n"
        b'"a lighthouse\nat dawn","https://example.com/a.png\nhttps://example.com/b.png",light\n'
        b"a harbor,,harbor\n"
    )

    intake = read_sheet(data, "multi.csv", settings=SETTINGS)

    assert [row.number for row in intake.rows] == [2, 3]
    assert intake.rows[0].prompts == (
        "https://example.com/a.png https://example.com/b.png a lighthouse at dawn",
    )
    assert intake.rows[1].filename == "harbor"


def test_csv_header_below_title() -> None:
    data = b"My prompt list,,\nexported 2026-12-04,,\nPrompt,AR,Repeat\na canyon,3:2,2\n"

    intake = read_sheet(data, "titled.csv", settings=SETTINGS)

    assert intake.sheet_name == "titled.csv"
    assert intake.rows[0].number == 4
    assert intake.rows[0].repeat == 2
    assert intake.rows[0].prompts == ("a canyon --ar 3:2",)


def test_single_column_csv() -> None:
    intake = read_sheet(b"prompt\na lone tree\n\na second tree\n", "one.csv", settings=SETTINGS)

    assert [row.prompts for row in intake.rows] == [("a lone tree",), ("a second tree",)]
    assert "1 empty rows between prompt rows were skipped." in intake.notices


def test_csv_problem_names_file_as_sheet() -> None:
    intake = read_sheet(b"prompt,upscale\na dune,U7\n", "dunes.csv", settings=SETTINGS)

    problem = intake.problems[0]
    assert (problem.sheet, problem.row, problem.column, problem.field) == (
        "dunes.csv",
        2,
        "B",
        "upscale",
    )


def test_csv_without_prompt_column() -> None:
    with pytest.raises(IntakeError) as raised:
        read_sheet(b"title;size\nfox;big\n", "nothing.csv", settings=SETTINGS)

    assert "'title', 'size'" in str(raised.value)


def test_decode_text_falls_back_to_cp1252() -> None:
    text, encoding = decode_text("“smart quotes” and € sign".encode("cp1252"))

    assert encoding == "cp1252"
    assert text == "“smart quotes” and € sign"


def test_excel_unicode_text_export() -> None:
    # Excel's "Unicode Text" export: UTF-16 little-endian with a BOM, tab-separated, .txt.
    text = "prompt\tar\tnotes\r\nรูปแมว, watercolor\t4:3\t日本語\r\n"
    data = codecs.BOM_UTF16_LE + text.encode("utf-16-le")

    intake = read_sheet(data, "export.txt", settings=SETTINGS)

    assert intake.rows[0].prompts == ("รูปแมว, watercolor --ar 4:3",)
    assert intake.rows[0].values["notes"] == "日本語"
