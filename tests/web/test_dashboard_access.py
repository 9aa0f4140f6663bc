"""Batch visibility: Discord batches show on the dashboard, other users' objects do not."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

from sqlalchemy import select, update

from storage.models import BatchOrigin, Image, Job, User
from tests.faults.rig import send_sheet, sheet_bytes
from tests.web.dashboard_rig import (
    connect_sandbox,
    load_batch,
    logged_in_client,
    run_sheet,
    upload,
    wait_finished,
)
from tests.web.site import Site, start_site

_BATCH_LINK = re.compile(r'href="/dashboard/batches/(\d+)"')


async def _new_batch_of(site: Site, user_id: int, known: set[int]) -> int:
    async with asyncio.timeout(30):
        while True:
            for progress in await site.service.engine.active_batches(user_id):
                if progress.batch_id not in known:
                    return progress.batch_id
            await asyncio.sleep(0.05)


async def test_discord_batch_appears_on_dashboard(tmp_path: Path) -> None:
    async with start_site(tmp_path) as site:
        sandbox = site.sandbox
        assert sandbox is not None
        client, user_id = await logged_in_client(site, "ada@example.com")
        # What "Log in with Discord" records: the account's Discord id.
        async with site.db.sessions() as session, session.begin():
            await session.execute(
                update(User).where(User.id == user_id).values(discord_user_id=sandbox.user_id)
            )
        await connect_sandbox(site, user_id)

        data = await asyncio.to_thread(sheet_bytes, ["a red fox", "a blue owl"])
        async with sandbox.user() as actor:
            await send_sheet(actor, sandbox, "from-discord.xlsx", data)
        batch_id = await _new_batch_of(site, user_id, set())
        await wait_finished(site, batch_id)
        async with client:
            _, dashboard = await client.get("/dashboard")
            status, page = await client.get(f"/dashboard/batches/{batch_id}")

        batch = await load_batch(site, batch_id)
        assert batch.origin == BatchOrigin.DISCORD
        assert batch.user_id == user_id
        assert "from-discord.xlsx" in dashboard
        assert str(batch_id) in _BATCH_LINK.findall(dashboard)
        assert "Discord" in dashboard
        assert status == 200
        assert "a blue owl" in page


async def test_other_users_objects_answer_404(tmp_path: Path) -> None:
    async with start_site(tmp_path) as site:
        owner, owner_id = await logged_in_client(site, "owner@example.com")
        owner_connection = await connect_sandbox(site, owner_id)
        async with owner:
            finished = await run_sheet(owner, ["a red fox"], connection_id=owner_connection)
            await wait_finished(site, finished)
            _, html = await upload(owner, ["a blue owl"], connection_id=owner_connection)
        waiting = int(re.findall(r"/dashboard/batches/(\d+)/run", html)[0])
        batch = await load_batch(site, finished)
        async with site.db.sessions() as session:
            image_id = await session.scalar(
                select(Image.id).join(Job, Image.job_id == Job.id).where(Job.batch_id == finished)
            )
        assert image_id is not None
        file_names = [Path(key).name for key in [*batch.zip_keys, batch.report_key] if key]
        assert file_names

        other, _ = await logged_in_client(site, "other@example.com")
        async with other:
            pages = [
                f"/dashboard/batches/{finished}",
                f"/dashboard/batches/{waiting}",
                f"/dashboard/batches/{finished}/events",
                f"/dashboard/images/{image_id}/thumbnail",
                *(f"/dashboard/batches/{finished}/files/{name}" for name in file_names),
            ]
            for path in pages:
                status, body = await other.get(path)
                assert status == 404, path
                assert "a red fox" not in body, path

            for action in ("run", "cancel", "retry"):
                for batch_id in (finished, waiting):
                    path = f"/dashboard/batches/{batch_id}/{action}"
                    status, body, _ = await other.post_form(path, {}, from_page="/dashboard")
                    assert status == 404, path

            # Another user's connection cannot run a sheet.
            status, html = await upload(other, ["a green frog"], connection_id=owner_connection)
            assert status == 400
            assert "Choose one of your own Discord connections" in html
            _, dashboard = await other.get("/dashboard")

        assert f"/dashboard/batches/{finished}" not in dashboard
        assert f"/dashboard/batches/{waiting}" not in dashboard
        # The owner's waiting batch was not started by the other user's Run.
        assert (await load_batch(site, waiting)).status == "awaiting_confirmation"
