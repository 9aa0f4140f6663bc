"""Every route that names an object, tried by another user: 404 or 403, never the data.

The routes come from the app's own router, so a route added later is swept too. A new
kind of path parameter fails the sweep until it gets the owner's value below.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass
from pathlib import Path

import aiohttp
from aiohttp import web
from sqlalchemy import func, select

from storage.models import (
    Batch,
    BatchStatus,
    Image,
    Job,
    MidjourneyConnection,
    SupportTicket,
)
from tests.web.dashboard_rig import (
    batch_id_to_run,
    load_batch,
    logged_in_client,
    upload,
    wait_finished,
)
from tests.web.site import Site, WebClient, start_site
from web.app import create_app

OWNER = "owner.secret@example.com"
PROMPT = "a lighthouse only the owner wrote"
WAITING_PROMPT = "a waiting owl only the owner wrote"
SHEET = "owner-secret-sheet.xlsx"
LABEL = "Owner secret studio"
SUBJECT = "Owner secret subject"
TICKET_BODY = "Owner secret ticket body"
CONNECTIONS = "/dashboard/settings/connections"
# Path parameters that are capabilities, not object ids: the secret in the link is the
# permission (a signed download, a mailed verification or reset link), so any holder
# may use it. Their own tests cover forged and expired links.
CAPABILITY_PARAMETERS = {"token"}
# Form fields a POST may need to get past its form checks to the ownership check.
FORM_FIELDS = {
    "daily_cap": "5",
    "min_gap_seconds": "5",
    "appeal_soft_moderation": "on",
    "relax_when_fast_used_up": "on",
    "confirm": "on",
    "subject": "intruder",
    "body": "intruder",
}
_PARAMETER = re.compile(r"\{(\w+)(?::[^}]*)?\}")


@dataclass(frozen=True, slots=True)
class OwnerObjects:
    """One of everything the owner has, by the path parameter that names it."""

    values: dict[str, list[str]]
    finished_batch: int
    waiting_batch: int
    connection_id: int


async def create_owner_objects(site: Site, owner: WebClient, user_id: int) -> OwnerObjects:
    """Connect, run a batch to the end, leave one waiting, and send a support ticket."""
    assert site.sandbox is not None
    link = f"https://discord.com/channels/{site.sandbox.guild_id}/{site.sandbox.channel_id}"
    status, html, _ = await owner.post_form(
        CONNECTIONS,
        {"token": site.sandbox.user_token, "channel_link": link, "plan": "pro", "label": LABEL},
    )
    assert status == 200, html[:2000]
    async with site.db.sessions() as session:
        connection_id = await session.scalar(
            select(MidjourneyConnection.id).where(MidjourneyConnection.user_id == user_id)
        )
    assert connection_id is not None

    _, html = await upload(owner, [PROMPT], connection_id=connection_id, filename=SHEET)
    finished = batch_id_to_run(html)
    status, html, _ = await owner.post_form(
        f"/dashboard/batches/{finished}/run", {}, from_page="/dashboard"
    )
    assert status == 200, html[:2000]
    await wait_finished(site, finished)
    _, html = await upload(owner, [WAITING_PROMPT], connection_id=connection_id, filename=SHEET)
    waiting = batch_id_to_run(html)

    status, html, _ = await owner.post_form(
        "/dashboard/support", {"subject": SUBJECT, "body": TICKET_BODY}
    )
    assert status == 200, html[:2000]
    async with site.db.sessions() as session:
        ticket_id = await session.scalar(select(SupportTicket.id))
        image_id = await session.scalar(
            select(Image.id).join(Job, Image.job_id == Job.id).where(Job.batch_id == finished)
        )
    assert ticket_id is not None
    assert image_id is not None
    batch = await load_batch(site, finished)
    filenames = [Path(key).name for key in [*batch.zip_keys, batch.report_key] if key]
    assert filenames

    return OwnerObjects(
        values={
            "batch_id": [str(finished), str(waiting)],
            "image_id": [str(image_id)],
            "connection_id": [str(connection_id)],
            "ticket_id": [str(ticket_id)],
            "filename": filenames,
        },
        finished_batch=finished,
        waiting_batch=waiting,
        connection_id=connection_id,
    )


def object_routes(app: web.Application, owner: OwnerObjects) -> list[tuple[str, str, set[str]]]:
    """Return every route filled with the owner's ids: template, path and allowed methods."""
    paths: list[tuple[str, str, set[str]]] = []
    unknown: list[str] = []
    for resource in app.router.resources():
        formatter = resource.get_info().get("formatter")
        if formatter is None:
            continue
        parameters = _PARAMETER.findall(formatter)
        if CAPABILITY_PARAMETERS.intersection(parameters):
            continue
        missing = [name for name in parameters if name not in owner.values]
        if missing:
            unknown.append(f"{formatter} ({', '.join(missing)})")
            continue
        methods = {route.method for route in resource}
        for combination in itertools.product(*(owner.values[name] for name in parameters)):
            path = formatter.format(**dict(zip(parameters, combination, strict=True)))
            paths.append((formatter, path, methods))
    assert unknown == [], f"give the sweep the owner's value for these routes: {unknown}"
    return paths


def plain_get_routes(app: web.Application) -> list[str]:
    """Return every path without parameters that accepts GET, static files left out."""
    return [
        resource.canonical
        for resource in app.router.resources()
        if "path" in resource.get_info() and any(route.method == "GET" for route in resource)
    ]


def leaked(body: str) -> list[str]:
    """Return the owner's data found in a response body."""
    return [
        secret
        for secret in (OWNER, PROMPT, WAITING_PROMPT, SHEET, LABEL, SUBJECT, TICKET_BODY)
        if secret in body
    ]


async def fetch(http: aiohttp.ClientSession, method: str, url: str, token: str) -> tuple[int, str]:
    """Send one request without following redirects; return its status and body."""
    data = {**FORM_FIELDS, "csrf_token": token} if method == "POST" else None
    async with http.request(method, url, data=data, allow_redirects=False) as response:
        return response.status, await response.text()


async def test_other_user_gets_no_object_of_the_owner(tmp_path: Path) -> None:
    async with start_site(tmp_path) as site:
        owner, owner_id = await logged_in_client(site, OWNER)
        async with owner:
            objects = await create_owner_objects(site, owner, owner_id)
        app = create_app(site.settings, site.db, b"0" * 32, engine=site.service.engine)
        routes = object_routes(app, objects)

        intruder, _ = await logged_in_client(site, "intruder@example.com")
        async with intruder:
            token = await intruder.csrf_token("/dashboard")
            wrong: dict[str, tuple[int, list[str]]] = {}
            for _, path, methods in routes:
                for method in ("GET", "POST"):
                    status, body = await fetch(intruder.http, method, intruder.url(path), token)
                    expected = {403, 404} if method in methods else {405}
                    if status not in expected or leaked(body):
                        wrong[f"{method} {path}"] = (status, leaked(body))
            for path in plain_get_routes(app):
                status, body = await fetch(intruder.http, "GET", intruder.url(path), token)
                if leaked(body):
                    wrong[f"GET {path}"] = (status, leaked(body))

        async with site.db.sessions() as session:
            batches = {batch.id: batch.status for batch in await session.scalars(select(Batch))}
            connection = await session.get(MidjourneyConnection, objects.connection_id)
            tickets = await session.scalar(select(func.count()).select_from(SupportTicket))
        runtime = site.service.engine.connections.get(objects.connection_id)

    swept = {name for formatter, _, _ in routes for name in _PARAMETER.findall(formatter)}
    assert swept == set(objects.values)
    assert wrong == {}
    # Nothing the intruder posted changed the owner's objects.
    assert batches == {
        objects.finished_batch: BatchStatus.DONE,
        objects.waiting_batch: BatchStatus.AWAITING_CONFIRMATION,
    }
    assert connection is not None
    assert (connection.daily_cap, connection.appeal_soft_moderation) == (None, False)
    assert runtime is not None
    assert tickets == 1
