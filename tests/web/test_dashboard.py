"""The dashboard end to end: upload, check, run, live progress, rows, downloads, retry."""

from __future__ import annotations

import io
import re
import zipfile
from pathlib import Path

from openpyxl import load_workbook
from PIL import Image
from sqlalchemy import func, select

from storage.models import Batch, BatchOrigin, BatchStatus, Job, JobStatus
from tests.pipeline.engine_support import wait_for
from tests.web.dashboard_rig import (
    BATCH_TIMEOUT,
    batch_id_to_run,
    connect_sandbox,
    connected_client,
    load_batch,
    logged_in_client,
    read_events,
    run_sheet,
    upload,
    wait_finished,
)
from tests.web.site import start_site

_THUMBNAIL = re.compile(r'src="(/dashboard/images/\d+/thumbnail)"')
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
_FILE_LINK = re.compile(r'href="(/dashboard/batches/\d+/files/[^"]+)"')


async def test_upload_shows_row_errors_before_running(tmp_path: Path) -> None:
    async with start_site(tmp_path) as site:
        client, user_id = await logged_in_client(site, "ada@example.com")
        connection_id = await connect_sandbox(site, user_id)
        async with client:
            status, html = await upload(
                client,
                ["a red fox", "a blue owl --stylize 5000", "a green frog"],
                connection_id=connection_id,
            )

        assert status == 200
        assert "Rows to fix" in html
        assert "<td>Prompts</td>" in html
        assert "<td>3</td>" in html
        assert "out of range 0-1000" in html
        assert "Write --s with a value from 0 to 1000" in html
        assert "Run the 2 valid rows" in html
        batch = await load_batch(site, batch_id_to_run(html))
        assert batch.status == BatchStatus.AWAITING_CONFIRMATION
        assert batch.origin == BatchOrigin.WEB
        assert batch.user_id == user_id


async def test_check_page_says_days_beyond_daily_cap(tmp_path: Path) -> None:
    async with start_site(tmp_path) as site:
        client, user_id = await logged_in_client(site, "ada@example.com")
        connection_id = await connect_sandbox(site, user_id)
        await site.service.engine.set_connection_pace(
            connection_id, user_id, daily_cap=2, min_gap_seconds=None
        )
        async with client:
            status, html = await upload(
                client, ["a red fox", "a blue owl", "a green frog"], connection_id=connection_id
            )

        assert status == 200
        assert 'id="pace-notice"' in html
        assert "daily cap of 2 prompts per 24 hours, the 3 jobs take more than 1 day" in html


async def test_pages_say_sending_waits_for_daily_cap(tmp_path: Path) -> None:
    async with start_site(tmp_path) as site:
        client, user_id = await logged_in_client(site, "ada@example.com")
        connection_id = await connect_sandbox(site, user_id)
        engine = site.service.engine
        await engine.set_connection_pace(connection_id, user_id, daily_cap=1, min_gap_seconds=None)
        async with client:
            batch_id = await run_sheet(
                client, ["a red fox", "a blue owl"], connection_id=connection_id
            )

            async def holding() -> bool:
                return bool(engine.health.waiting(connection_id))

            await wait_for(holding, within=BATCH_TIMEOUT)
            _, batch_page = await client.get(f"/dashboard/batches/{batch_id}")
            _, settings_page = await client.get("/dashboard/settings/connections")

        assert 'id="connection-waiting"' in batch_page
        assert "daily cap of 1 prompt reached." in batch_page
        assert "Sending waits until " in settings_page


async def test_discard_deletes_batch_never_run(tmp_path: Path) -> None:
    async with start_site(tmp_path) as site:
        client, connection_id = await connected_client(site)
        async with client:
            _, check_page = await upload(client, ["a red fox"], connection_id=connection_id)
            batch_id = batch_id_to_run(check_page)
            status, page, url = await client.post_form(
                f"/dashboard/batches/{batch_id}/discard", {}, from_page="/dashboard"
            )
        async with site.db.sessions() as session:
            batch = await session.get(Batch, batch_id)
            jobs = await session.scalar(select(func.count()).where(Job.batch_id == batch_id))

    assert f'action="/dashboard/batches/{batch_id}/discard"' in check_page
    assert status == 200
    assert url.endswith("/dashboard")
    assert "is discarded; nothing was sent." in page
    assert batch is None
    assert jobs == 0


async def test_discard_leaves_running_batch(tmp_path: Path) -> None:
    async with start_site(tmp_path) as site:
        client, connection_id = await connected_client(site)
        async with client:
            batch_id = await run_sheet(client, ["a red fox"], connection_id=connection_id)
            _, page, url = await client.post_form(
                f"/dashboard/batches/{batch_id}/discard", {}, from_page="/dashboard"
            )
        batch = await load_batch(site, batch_id)

    assert url.endswith(f"/dashboard/batches/{batch_id}")
    assert "has already started" in page
    assert batch.status != BatchStatus.CANCELLED


async def test_sheet_without_valid_rows_makes_no_batch(tmp_path: Path) -> None:
    async with start_site(tmp_path) as site:
        client, connection_id = await connected_client(site)
        async with client:
            status, html = await upload(
                client, ["a blue owl --stylize 5000"], connection_id=connection_id
            )
            _, dashboard = await client.get("/dashboard")

        assert status == 422
        assert "Nothing can run" in html
        assert "/run" not in html
        assert "No batches yet" in dashboard


async def test_upload_rejects_files_that_are_not_sheets(tmp_path: Path) -> None:
    async with start_site(tmp_path) as site:
        client, connection_id = await connected_client(site)
        async with client:
            status, html, _ = await client.post_form(
                "/dashboard/upload",
                {"upscale": "none", "mode": "fast", "connection_id": str(connection_id)},
                from_page="/dashboard",
                files={"sheet": ("notes.txt", b"hello", "text/plain")},
            )

        assert status == 400
        assert "notes.txt is not a sheet MidJAu reads" in html


async def test_dashboard_without_connection_says_connect_first(tmp_path: Path) -> None:
    async with start_site(tmp_path, with_sandbox=False) as site:
        client, _ = await logged_in_client(site, "ada@example.com")
        async with client:
            status, html = await client.get("/dashboard")

        assert status == 200
        assert 'id="connect-first"' in html
        assert "Connect a Discord account first" in html
        assert 'href="/dashboard/settings/connections"' in html
        assert 'action="/dashboard/upload"' not in html


async def test_run_streams_progress_and_delivers_outputs(tmp_path: Path) -> None:
    async with start_site(tmp_path) as site:
        client, connection_id = await connected_client(site)
        async with client:
            batch_id = await run_sheet(
                client,
                ["a red fox", "a bannedword owl", {"prompt": "a green frog", "upscale": "U2"}],
                connection_id=connection_id,
            )
            events = await read_events(client, batch_id)
            status, page = await client.get(f"/dashboard/batches/{batch_id}")

            # Thumbnails of the finished images, served small.
            thumbnails = _THUMBNAIL.findall(page)
            async with client.http.get(client.url(thumbnails[0])) as response:
                thumbnail_status = response.status
                thumbnail_type = response.content_type
                thumbnail = await response.read()

            # The ZIP and the report, through the signed link the page sends the owner to.
            files: dict[str, bytes] = {}
            file_types: dict[str, str] = {}
            for link in _FILE_LINK.findall(page):
                async with client.http.get(client.url(link)) as response:
                    assert response.status == 200, link
                    files[link.rsplit("/", 1)[1]] = await response.read()
                    file_types[link.rsplit("/", 1)[1]] = response.content_type

        names = [name for name, _ in events]
        assert names[0] == "progress"
        assert names[-1] == "done"
        assert names.count("done") == 1
        finished_counts = [data["finished"] for _, data in events]
        assert finished_counts == sorted(finished_counts)
        final = events[-1][1]
        assert final["status"] == "done"
        assert final["total"] == 3
        assert final["done"] == 2
        assert final["failed"] == 1

        assert status == 200
        assert 'id="kept-until"' in page
        assert "when the retention period ends" in page
        assert "a bannedword owl" in page
        assert "moderated" in page
        assert "Banned prompt" in page
        assert page.count("status-done") >= 2
        # Grid of row 2, grid and upscale 2 of row 4.
        assert len(thumbnails) == 3

        assert thumbnail_status == 200
        assert thumbnail_type == "image/jpeg"
        with Image.open(io.BytesIO(thumbnail)) as image:
            assert max(image.size) <= 256

        zip_name = f"batch-{batch_id}-images.zip"
        report_name = f"batch-{batch_id}-report.xlsx"
        assert sorted(files) == [zip_name, report_name]
        assert file_types == {zip_name: "application/zip", report_name: XLSX_TYPE}
        with zipfile.ZipFile(io.BytesIO(files[zip_name])) as archive:
            images = [name for name in archive.namelist() if name.endswith(".png")]
        assert len(images) == 3
        workbook = load_workbook(io.BytesIO(files[report_name]), read_only=True)
        jobs = list(workbook["Jobs"].iter_rows(values_only=True))
        assert len(jobs) == 1 + 3
        batch = await load_batch(site, batch_id)
        assert batch.downloaded_at is not None


async def test_retry_runs_failed_rows_as_new_batch(tmp_path: Path) -> None:
    async with start_site(tmp_path) as site:
        client, user_id = await logged_in_client(site, "ada@example.com")
        connection_id = await connect_sandbox(site, user_id)
        async with client:
            batch_id = await run_sheet(
                client, ["a red fox", "a bannedword owl"], connection_id=connection_id
            )
            await wait_finished(site, batch_id)
            _, page = await client.get(f"/dashboard/batches/{batch_id}")
            status, retry_page, url = await client.post_form(
                f"/dashboard/batches/{batch_id}/retry",
                {},
                from_page=f"/dashboard/batches/{batch_id}",
            )

        assert "Retry failed rows" in page
        assert status == 200
        retry_id = int(url.rsplit("/", 1)[1])
        assert retry_id != batch_id
        assert f"retries the failed rows of batch {batch_id}" in retry_page
        retry = await load_batch(site, retry_id)
        assert retry.origin == BatchOrigin.WEB
        assert retry.user_id == user_id
        async with site.db.sessions() as session:
            prompts = list(
                await session.scalars(select(Job.prompt).where(Job.batch_id == retry_id))
            )
        assert prompts == ["a bannedword owl"]


async def test_cancel_stops_queued_jobs(tmp_path: Path) -> None:
    # A long gap between prompts keeps all but the first job queued until the cancel.
    async with start_site(tmp_path, pacing={"min_gap_seconds": 30.0}) as site:
        client, connection_id = await connected_client(site)
        async with client:
            batch_id = await run_sheet(
                client, [f"a fox number {index}" for index in range(5)], connection_id=connection_id
            )
            status, page, url = await client.post_form(
                f"/dashboard/batches/{batch_id}/cancel",
                {},
                from_page=f"/dashboard/batches/{batch_id}",
            )
            await wait_finished(site, batch_id)
            _, finished_page = await client.get(f"/dashboard/batches/{batch_id}")

        assert status == 200
        assert url.endswith(f"/dashboard/batches/{batch_id}")
        assert f"Batch {batch_id} is cancelled" in page
        async with site.db.sessions() as session:
            statuses = list(
                await session.scalars(select(Job.status).where(Job.batch_id == batch_id))
            )
        assert statuses.count(JobStatus.CANCELLED) >= 4
        batch = await load_batch(site, batch_id)
        assert batch.status == BatchStatus.CANCELLED
        assert "Retry failed rows" in finished_page
        assert f'action="/dashboard/batches/{batch_id}/cancel"' not in finished_page
