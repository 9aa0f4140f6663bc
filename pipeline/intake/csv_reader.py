"""Read a CSV file: find its encoding and delimiter, then hand its records to the table."""

from __future__ import annotations

import codecs
import csv
import io
import itertools
import logging
from collections.abc import Iterator
from pathlib import PurePath

from midjau.settings import IntakeSettings
from pipeline.intake.model import IntakeError
from pipeline.intake.table import (
    HEADER_SEARCH_ROWS,
    Header,
    RawCell,
    RawRow,
    Table,
    build_table,
    find_header,
    missing_prompt_error,
)

_log = logging.getLogger(__name__)

DELIMITERS = (",", ";", "\t")
# Enough text for csv.Sniffer and for the header search, even with long prompts.
_SAMPLE_CHARS = 64 * 1024
# Control characters no text file has; tab, line feed, form feed and carriage return are fine.
_BINARY_CHARS = frozenset(chr(c) for c in range(32) if chr(c) not in "\t\n\f\r") | {"\x7f"}


def read_csv_table(data: bytes, filename: str, *, settings: IntakeSettings) -> Table:
    """Decode a CSV file and read it into a table of raw rows."""
    text, encoding = decode_text(data)
    _reject_binary(text, filename)
    delimiter, header = _choose_delimiter(text, filename)
    _log.debug("csv %r: encoding %s, delimiter %r", filename, encoding, delimiter)

    sheet_name = PurePath(filename).name
    rows = _iter_records(text, delimiter, filename)
    return build_table(sheet_name, header, rows, filename=filename, settings=settings)


def decode_text(data: bytes) -> tuple[str, str]:
    """Decode CSV bytes: a BOM decides, else UTF-8, else UTF-16 without BOM, else cp1252."""
    if data.startswith(codecs.BOM_UTF8):
        return data[len(codecs.BOM_UTF8) :].decode("utf-8", errors="replace"), "utf-8-sig"
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return data.decode("utf-16", errors="replace"), "utf-16"
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    utf16 = _guess_utf16_without_bom(data)
    if utf16:
        return data.decode(utf16, errors="replace"), utf16
    try:
        return data.decode("cp1252"), "cp1252"
    except UnicodeDecodeError:
        # cp1252 leaves five bytes undefined; Latin-1 maps every byte.
        return data.decode("latin-1"), "latin-1"


def _reject_binary(text: str, filename: str) -> None:
    """Refuse a file whose start is full of control characters, as images and archives are."""
    sample = text[:_SAMPLE_CHARS]
    # One stray control character (a vertical tab from a cell's line break) is tolerated.
    controls = sum(1 for char in sample if char in _BINARY_CHARS)
    if "\0" in sample or controls > len(sample) / 100:
        raise IntakeError(
            f"{filename} does not look like a text CSV file (it has bytes no text encoding "
            "gives). Send the sheet as an Excel workbook (.xlsx), or save it from your "
            "spreadsheet as 'CSV UTF-8'."
        )


def _guess_utf16_without_bom(data: bytes) -> str | None:
    """Spot UTF-16 text without a BOM by its zero bytes, which mostly-ASCII text has."""
    sample = data[:4096]
    if len(sample) < 4:
        return None
    even_zeros = sample[0::2].count(0)
    odd_zeros = sample[1::2].count(0)
    half = len(sample) // 2
    if odd_zeros > half * 0.4 and even_zeros < half * 0.05:
        return "utf-16-le"
    if even_zeros > half * 0.4 and odd_zeros < half * 0.05:
        return "utf-16-be"
    return None


def _choose_delimiter(text: str, filename: str) -> tuple[str, Header]:
    """Pick the delimiter under which the header row has the most known columns."""
    sample = text[:_SAMPLE_CHARS]
    best: tuple[str, Header] | None = None
    first_rows: list[RawRow] = []
    for delimiter in _candidate_delimiters(sample):
        rows = list(
            itertools.islice(_iter_records(sample, delimiter, filename), HEADER_SEARCH_ROWS)
        )
        first_rows = first_rows or rows
        header = find_header(rows)
        if header is not None and (best is None or len(header.names) > len(best[1].names)):
            best = (delimiter, header)
    if best is None:
        raise missing_prompt_error(filename, PurePath(filename).name, first_rows)
    return best


def _candidate_delimiters(sample: str) -> list[str]:
    """Order the delimiters: csv.Sniffer's guess first, then by count in the first line."""
    first_line = next((line for line in sample.splitlines() if line.strip()), "")
    ordered = sorted(DELIMITERS, key=lambda d: -first_line.count(d))
    try:
        sniffed = csv.Sniffer().sniff(sample, delimiters="".join(DELIMITERS)).delimiter
    except csv.Error:
        return ordered
    return [sniffed, *(d for d in ordered if d != sniffed)]


def _iter_records(text: str, delimiter: str, filename: str) -> Iterator[RawRow]:
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        for number, record in enumerate(reader, start=1):
            yield number, tuple(RawCell(value) for value in record)
    except csv.Error as error:
        raise IntakeError(
            f"{filename} is not a valid CSV file near record {reader.line_num}: {error}. "
            'Check that every quote (") is closed, or save the sheet again as CSV.'
        ) from error
