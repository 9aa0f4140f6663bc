"""Another user's connection and ticket ids: every settings route returns 404, never the data."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select

from storage.models import MidjourneyConnection, SupportTicket
from tests.web.site import WebClient, start_site

PASSWORD = "correct horse battery"
CONNECTIONS = "/dashboard/settings/connections"


async def test_other_users_ids_answer_404(tmp_path: Path) -> None:
    async with start_site(tmp_path) as site, WebClient(site.base_url) as owner:
        assert site.sandbox is not None
        await owner.sign_up_and_log_in(site, "owner@example.com", PASSWORD)
        link = f"https://discord.com/channels/{site.sandbox.guild_id}/{site.sandbox.channel_id}"
        await owner.post_form(
            CONNECTIONS,
            {"token": site.sandbox.user_token, "channel_link": link, "label": "Owner studio"},
        )
        await owner.post_form(
            "/dashboard/support", {"subject": "Owner secret subject", "body": "Owner secret body"}
        )
        async with site.db.sessions() as session:
            connection = await session.scalar(select(MidjourneyConnection))
            ticket = await session.scalar(select(SupportTicket))
        assert connection is not None
        assert ticket is not None
        base = f"{CONNECTIONS}/{connection.id}"

        async with WebClient(site.base_url) as intruder:
            await intruder.sign_up_and_log_in(site, "intruder@example.com", PASSWORD)
            answers = {
                f"GET {base}/disconnect": (await intruder.get(f"{base}/disconnect"))[0:2],
                f"GET /dashboard/support/{ticket.id}": (
                    await intruder.get(f"/dashboard/support/{ticket.id}")
                )[0:2],
            }
            forms = {
                f"{base}/pace": {"daily_cap": "1"},
                f"{base}/choices": {"appeal_soft_moderation": "on"},
                f"{base}/resume": {},
                f"{base}/disconnect": {},
            }
            for path, data in forms.items():
                status, html, _ = await intruder.post_form(path, data, from_page=CONNECTIONS)
                answers[f"POST {path}"] = (status, html)
            _, own_page = await intruder.get(CONNECTIONS)
            _, own_support = await intruder.get("/dashboard/support")

        for route, (status, html) in answers.items():
            assert status == 404, route
            assert "Owner studio" not in html, route
            assert "Owner secret" not in html, route
        assert "Owner studio" not in own_page
        assert "Owner secret subject" not in own_support
        async with site.db.sessions() as session:
            unchanged = await session.get(MidjourneyConnection, connection.id)
        assert unchanged is not None
        assert (unchanged.daily_cap, unchanged.appeal_soft_moderation) == (None, False)
        assert site.service.engine.connections.get(connection.id) is not None
