"""Deleting a finished batch from its page: rows, prompts, images and output files go."""

from __future__ import annotations

import uuid
from pathlib import Path

from sqlalchemy import func, select

from storage.models import Batch, Image, Job, SheetRow
from tests.web.dashboard_rig import (
    batch_id_to_run,
    connected_client,
    load_batch,
    run_sheet,
    upload,
    wait_finished,
)
from tests.web.privacy_rig import files_under
from tests.web.site import Site, start_site


async def stored_counts(site: Site, batch_id: int) -> dict[str, int]:
    """Return how many rows, jobs and images the database keeps for the batch."""
    async with site.db.sessions() as session:
        rows = await session.scalar(select(func.count()).where(SheetRow.batch_id == batch_id))
        jobs = await session.scalar(select(func.count()).where(Job.batch_id == batch_id))
        images = await session.scalar(
            select(func.count()).select_from(Image).join(Job).where(Job.batch_id == batch_id)
        )
    return {"rows": rows or 0, "jobs": jobs or 0, "images": images or 0}


def batch_files(site: Site, batch_id: int) -> list[Path]:
    """Return the blob-store and outputs files stored for the batch."""
    return [
        *files_under(site.settings.blobs_path / "batches" / str(batch_id)),
        *files_under(site.settings.data_dir / "outputs" / str(batch_id)),
    ]


def database_bytes(site: Site) -> bytes:
    """Return the SQLite database file and its write-ahead log, as stored on disk."""
    database = site.settings.data_dir / "midjau.db"
    wal = database.with_name("midjau.db-wal")
    return database.read_bytes() + (wal.read_bytes() if wal.exists() else b"")


async def test_delete_removes_rows_images_and_files(tmp_path: Path) -> None:
    prompt = f"a lighthouse painted by {uuid.uuid4().hex[:12]}"
    async with start_site(tmp_path) as site:
        client, connection_id = await connected_client(site)
        async with client:
            batch_id = await run_sheet(
                client,
                [prompt, {"prompt": "a green frog", "upscale": "U2"}],
                connection_id=connection_id,
            )
            await wait_finished(site, batch_id)
            before = await stored_counts(site, batch_id)
            files_before = batch_files(site, batch_id)
            stored_before = database_bytes(site)
            _, batch_page = await client.get(f"/dashboard/batches/{batch_id}")
            _, confirm_page = await client.get(f"/dashboard/batches/{batch_id}/delete")
            status, page, url = await client.post_form(
                f"/dashboard/batches/{batch_id}/delete",
                {},
                from_page=f"/dashboard/batches/{batch_id}/delete",
            )
            _, batch_list = await client.get("/dashboard/batches")
            gone_status, _ = await client.get(f"/dashboard/batches/{batch_id}")
        after = await stored_counts(site, batch_id)
        files_after = batch_files(site, batch_id)
        async with site.db.sessions() as session:
            batch = await session.get(Batch, batch_id)
        stored = database_bytes(site)

    assert f'href="/dashboard/batches/{batch_id}/delete"' in batch_page
    assert f"batch-{batch_id}-images.zip" in confirm_page
    assert f"batch-{batch_id}-report.xlsx" in confirm_page
    assert "It cannot be undone." in confirm_page
    assert before == {"rows": 2, "jobs": 2, "images": 3}
    assert len(files_before) >= 5  # three images, the ZIP and the report
    assert prompt.encode() in stored_before

    assert status == 200
    assert url.endswith("/dashboard/batches")
    assert f"Batch {batch_id} (prompts.xlsx) is deleted" in page
    assert f'href="/dashboard/batches/{batch_id}"' not in batch_list
    assert gone_status == 404
    assert batch is None
    assert after == {"rows": 0, "jobs": 0, "images": 0}
    assert files_after == []
    assert prompt.encode() not in stored


async def test_delete_refuses_batch_not_finished(tmp_path: Path) -> None:
    async with start_site(tmp_path) as site:
        client, connection_id = await connected_client(site)
        async with client:
            _, check_page = await upload(client, ["a red fox"], connection_id=connection_id)
            batch_id = batch_id_to_run(check_page)
            _, confirm_page = await client.get(f"/dashboard/batches/{batch_id}/delete")
            _, page, url = await client.post_form(
                f"/dashboard/batches/{batch_id}/delete", {}, from_page="/dashboard"
            )
        batch = await load_batch(site, batch_id)
        counts = await stored_counts(site, batch_id)

    # The confirmation page sends the owner back to the batch page, where Run still is.
    assert "has not finished: it was never run; discard it instead." in confirm_page
    assert "Run this batch" in confirm_page
    assert url.endswith(f"/dashboard/batches/{batch_id}")
    assert "has not finished: it was never run; discard it instead." in page
    assert batch.source_filename == "prompts.xlsx"
    assert counts["jobs"] == 1
