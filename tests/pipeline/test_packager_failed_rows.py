"""The report's "Failed rows" sheet: which rows it lists, and feeding it back to intake."""

from __future__ import annotations

import asyncio
import io
from pathlib import Path

from openpyxl import Workbook
from openpyxl.worksheet.worksheet import Worksheet
from sqlalchemy import update

from midjau.settings import IntakeSettings
from pipeline.intake import read_sheet
from pipeline.packager import package_batch
from pipeline.packager.report import FAILED_ROWS_SHEET
from storage.blobs import LocalBlobStore
from storage.db import Database
from storage.models import Job, JobStatus, RowStatus, SheetRow
from tests.pipeline.test_packager import (
    HEADERS,
    LARGE_LIMIT,
    ROWS,
    RowSpec,
    read_report,
    store_batch,
)


def failed_specs() -> list[RowSpec]:
    """Return the rows of ROWS that failed, were invalid or were cancelled."""
    failed = []
    for spec in ROWS:
        statuses = {job.status for job in spec.jobs}
        if spec.status is RowStatus.INVALID or statuses & {JobStatus.FAILED, JobStatus.CANCELLED}:
            failed.append(spec)
    return failed


def original_cells(spec: RowSpec) -> tuple[str, ...]:
    return (spec.prompt, spec.filename, spec.folder, spec.notes)


def copy_to_workbook(sheet: Worksheet) -> bytes:
    """Copy a sheet's cells, as text stays text, into a workbook of its own."""
    workbook = Workbook()
    target = workbook.active
    assert target is not None
    target.title = "Retry"
    for row in sheet.iter_rows():
        for cell in row:
            copy = target.cell(row=cell.row, column=cell.column, value=cell.value)
            # openpyxl makes any string starting with "=" a formula unless told otherwise.
            copy.data_type = cell.data_type
            copy.quotePrefix = cell.quotePrefix
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


async def test_failed_rows_sheet_lists_unfinished_rows(
    db: Database, blobs: LocalBlobStore, tmp_path: Path
) -> None:
    stored = await store_batch(db, blobs)

    package = await package_batch(
        db, blobs, stored.batch_id, tmp_path / "out", part_limit_bytes=LARGE_LIMIT
    )

    sheet = (await read_report(package.report_path))[FAILED_ROWS_SHEET]
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0] == tuple(HEADERS)
    expected = [original_cells(spec) for spec in failed_specs()]
    assert [tuple(value or "" for value in row) for row in rows[1:]] == expected
    assert [spec.number for spec in failed_specs()] == [4, 5, 6, 8, 12]


async def test_failed_rows_sheet_keeps_formulas_as_text(
    db: Database, blobs: LocalBlobStore, tmp_path: Path
) -> None:
    stored = await store_batch(db, blobs)

    package = await package_batch(
        db, blobs, stored.batch_id, tmp_path / "out", part_limit_bytes=LARGE_LIMIT
    )

    sheet = (await read_report(package.report_path))[FAILED_ROWS_SHEET]
    cells = [cell for row in sheet.iter_rows(min_row=2) for cell in row if cell.value]
    formula_like = [cell for cell in cells if str(cell.value)[0] in "=+-@"]
    assert {cell.value for cell in formula_like} == {
        "=cmd|' /C calc'!A0",
        '=HYPERLINK("http://evil.test","x")',
        "+1+1",
        "@SUM(A1)",
    }
    for cell in formula_like:
        assert cell.data_type == "s", cell.coordinate
        assert cell.quotePrefix, cell.coordinate


async def test_failed_rows_sheet_reads_back_with_intake(
    db: Database, blobs: LocalBlobStore, tmp_path: Path
) -> None:
    stored = await store_batch(db, blobs)
    package = await package_batch(
        db, blobs, stored.batch_id, tmp_path / "out", part_limit_bytes=LARGE_LIMIT
    )
    report = await read_report(package.report_path)
    data = copy_to_workbook(report[FAILED_ROWS_SHEET])

    intake = await asyncio.to_thread(read_sheet, data, "retry.xlsx", settings=IntakeSettings())

    assert intake.headers == HEADERS
    expected = [dict(zip(HEADERS, original_cells(spec), strict=True)) for spec in failed_specs()]
    assert [row.values for row in intake.rows] == expected
    assert [row.number for row in intake.rows] == list(range(2, 2 + len(expected)))
    # The failed prompts are valid again; only the row with an unknown parameter is not.
    invalid = [row.values["prompt"] for row in intake.rows if row.status == "invalid"]
    assert invalid == ["bad --foo 1"]


async def test_failed_rows_sheet_header_only_when_none_failed(
    db: Database, blobs: LocalBlobStore, tmp_path: Path
) -> None:
    stored = await store_batch(db, blobs)
    async with db.sessions() as session:
        await session.execute(
            update(Job).where(Job.batch_id == stored.batch_id).values(status=JobStatus.DONE)
        )
        await session.execute(
            update(SheetRow)
            .where(SheetRow.status == RowStatus.INVALID)
            .values(status=RowStatus.SKIPPED)
        )
        await session.commit()

    package = await package_batch(
        db, blobs, stored.batch_id, tmp_path / "out", part_limit_bytes=LARGE_LIMIT
    )

    assert package.summary.rows_failed == 0
    assert package.summary.rows_cancelled == 0
    sheet = (await read_report(package.report_path))[FAILED_ROWS_SHEET]
    assert list(sheet.iter_rows(values_only=True)) == [tuple(HEADERS)]
