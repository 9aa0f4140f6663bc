"""The service's scheduled retention job on the running site's database and files."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from storage.models import Batch, utcnow
from tests.web.privacy_rig import store_user_data, traces_in_files
from tests.web.site import WebClient, start_site

PASSWORD = "correct horse battery"


async def test_service_retention_deletes_downloaded_batch_files(tmp_path: Path) -> None:
    async with start_site(tmp_path, with_sandbox=False) as site:
        async with WebClient(site.base_url) as client:
            await client.sign_up_and_log_in(site, "keeper@example.com", PASSWORD)
        stored = await store_user_data(
            site, "keeper@example.com", discord_user_id="1180000000000000601"
        )
        assert traces_in_files(site, stored) != []

        first = await site.service.run_retention()
        async with site.db.sessions() as session, session.begin():
            batch = await session.get(Batch, stored.batch_id)
            assert batch is not None
            batch.downloaded_at = utcnow() - timedelta(hours=2)
        second = await site.service.run_retention()

        assert first.batches == 0
        assert second.batches == 1
        assert traces_in_files(site, stored) == []
