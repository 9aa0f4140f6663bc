"""Steps the dashboard tests share: a connected account, uploads, event streams, waits."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import select

from storage.models import Batch, User
from tests.faults.rig import sheet_bytes
from tests.web.site import PASSWORD, Site, WebClient

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
BATCH_TIMEOUT = 60.0
_RUN_FORM = re.compile(r'action="/dashboard/batches/(\d+)/run"')


async def user_id_of(site: Site, email: str) -> int:
    """Return the id of the account with this email."""
    async with site.db.sessions() as session:
        user_id = await session.scalar(select(User.id).where(User.email == email))
    assert user_id is not None, f"no account for {email}"
    return int(user_id)


async def connect_sandbox(site: Site, user_id: int) -> int:
    """Connect the sandbox user's Discord account to the MidJAu account; return its id."""
    sandbox = site.sandbox
    assert sandbox is not None
    return await site.service.engine.add_connection(
        user_id,
        token=sandbox.user_token,
        guild_id=sandbox.guild_id,
        channel_id=sandbox.channel_id,
        plan="pro",
        label="sandbox",
    )


async def logged_in_client(site: Site, email: str) -> tuple[WebClient, int]:
    """Sign up and log in a new account; return its browser and user id."""
    client = WebClient(site.base_url)
    await client.sign_up_and_log_in(site, email, PASSWORD)
    return client, await user_id_of(site, email)


async def connected_client(site: Site, email: str = "ada@example.com") -> tuple[WebClient, int]:
    """Log in a new account with the sandbox connected; return its browser and connection id."""
    client, user_id = await logged_in_client(site, email)
    return client, await connect_sandbox(site, user_id)


async def upload(
    client: WebClient,
    prompts: Sequence[str | Mapping[str, Any]],
    *,
    connection_id: int,
    filename: str = "prompts.xlsx",
    upscale: str = "none",
    mode: str = "fast",
) -> tuple[int, str]:
    """Upload a sheet of these rows through the dashboard's form; return status and page."""
    data = await asyncio.to_thread(sheet_bytes, prompts)
    status, html, _ = await client.post_form(
        "/dashboard/upload",
        {"upscale": upscale, "mode": mode, "connection_id": str(connection_id)},
        from_page="/dashboard",
        files={"sheet": (filename, data, XLSX)},
    )
    return status, html


def batch_id_to_run(html: str) -> int:
    """Return the batch id of the check page's Run button."""
    found = _RUN_FORM.search(html)
    assert found is not None, f"the check page offers no Run button: {html[:2000]}"
    return int(found.group(1))


async def run_sheet(
    client: WebClient, prompts: Sequence[str | Mapping[str, Any]], *, connection_id: int
) -> int:
    """Upload a sheet, press Run on the check page, and return the started batch's id."""
    status, html = await upload(client, prompts, connection_id=connection_id)
    assert status == 200, html[:2000]
    batch_id = batch_id_to_run(html)
    status, html, url = await client.post_form(
        f"/dashboard/batches/{batch_id}/run", {}, from_page="/dashboard"
    )
    assert status == 200, html[:2000]
    assert url.endswith(f"/dashboard/batches/{batch_id}")
    return batch_id


async def read_events(client: WebClient, batch_id: int) -> list[tuple[str, dict[str, Any]]]:
    """Read the batch's event stream until it ends; return (event, data) pairs in order."""
    events: list[tuple[str, dict[str, Any]]] = []
    name = "message"
    url = client.url(f"/dashboard/batches/{batch_id}/events")
    async with asyncio.timeout(BATCH_TIMEOUT), client.http.get(url) as response:
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("text/event-stream")
        async for raw in response.content:
            line = raw.decode().rstrip("\n")
            if line.startswith("event: "):
                name = line.removeprefix("event: ")
            elif line.startswith("data: "):
                events.append((name, json.loads(line.removeprefix("data: "))))
                name = "message"
    return events


async def wait_finished(site: Site, batch_id: int) -> None:
    """Wait until the engine has packaged the batch."""
    await asyncio.wait_for(site.service.engine.wait_finished(batch_id), BATCH_TIMEOUT)


async def load_batch(site: Site, batch_id: int) -> Batch:
    """Return the batch row as stored now."""
    async with site.db.sessions() as session:
        batch = await session.get(Batch, batch_id)
    assert batch is not None
    return batch
