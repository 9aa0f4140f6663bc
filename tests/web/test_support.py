"""The support page: a ticket is stored, mailed to the operator, and listed for its author."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from storage.models import SupportTicket
from tests.web.site import OWNER_EMAIL, Site, WebClient, body_of

PAGE = "/dashboard/support"


async def stored_tickets(site: Site) -> list[SupportTicket]:
    async with site.db.sessions() as session:
        return list(await session.scalars(select(SupportTicket).order_by(SupportTicket.id)))


async def test_ticket_is_stored_and_mailed(browser: WebClient, site: Site) -> None:
    status, html, final_url = await browser.post_form(
        PAGE, {"subject": "ZIP is empty", "body": "Batch 4 gave me\r\nan empty ZIP."}
    )

    assert status == 200
    [ticket] = await stored_tickets(site)
    assert final_url.endswith(f"{PAGE}/{ticket.id}")
    assert f"ticket #{ticket.id}" in html
    assert (ticket.subject, ticket.body, ticket.status) == (
        "ZIP is empty",
        "Batch 4 gave me\nan empty ZIP.",
        "open",
    )
    mail = await site.smtp.wait_for(site.settings.mail.operator, f"support #{ticket.id}")
    assert "ZIP is empty" in str(mail["Subject"])
    assert "Batch 4 gave me\nan empty ZIP." in body_of(mail).replace("\r\n", "\n")
    assert OWNER_EMAIL in body_of(mail)


async def test_support_page_lists_own_tickets(browser: WebClient, site: Site) -> None:
    await browser.post_form(PAGE, {"subject": "First question", "body": "Hello"})
    await browser.post_form(PAGE, {"subject": "Second question", "body": "Again"})

    status, html = await browser.get(PAGE)

    assert status == 200
    assert html.index("Second question") < html.index("First question")


async def test_subject_line_break_cannot_add_header(browser: WebClient, site: Site) -> None:
    await browser.post_form(PAGE, {"subject": "Help\r\nBcc: victim@example.com", "body": "x"})

    [ticket] = await stored_tickets(site)
    assert ticket.subject == "Help Bcc: victim@example.com"
    mail = await site.smtp.wait_for(site.settings.mail.operator, f"support #{ticket.id}")
    assert mail["Bcc"] is None


@pytest.mark.parametrize(
    ("form", "message"),
    [
        ({"subject": "", "body": "text"}, "Give your message a subject."),
        ({"subject": "Topic", "body": "   "}, "Write your message"),
        ({"subject": "s" * 201, "body": "text"}, "keep it to 200"),
    ],
)
async def test_support_form_rejects_missing_fields(
    browser: WebClient, site: Site, form: dict[str, str], message: str
) -> None:
    status, html, _ = await browser.post_form(PAGE, form)

    assert status == 400
    assert message in html
    assert await stored_tickets(site) == []


async def test_ticket_rate_limit(browser: WebClient, site: Site) -> None:
    for number in range(5):
        status, _, _ = await browser.post_form(PAGE, {"subject": f"Ticket {number}", "body": "x"})
        assert status == 200

    status, html, _ = await browser.post_form(PAGE, {"subject": "One more", "body": "x"})

    assert status == 429
    assert "within the last hour" in html
    assert len(await stored_tickets(site)) == 5
