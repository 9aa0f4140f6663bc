"""The profile settings: name, email change with re-verification, password change."""

from __future__ import annotations

from html import unescape

import pytest
from sqlalchemy import select

from storage.models import User
from tests.web.site import OWNER_EMAIL, PASSWORD, Site, WebClient, body_of, link_in

PAGE = "/dashboard/settings"


async def stored_user(site: Site, user_id: int | None = None) -> User:
    async with site.db.sessions() as session:
        user = await session.scalar(
            select(User).where(User.id == user_id) if user_id else select(User)
        )
    assert user is not None
    return user


async def test_name_change_is_stored(browser: WebClient, site: Site) -> None:
    status, html, _ = await browser.post_form(
        f"{PAGE}/name", {"display_name": "Ada Studio"}, from_page=PAGE
    )

    assert status == 200
    assert "Name saved" in html
    assert 'value="Ada Studio"' in html
    assert (await stored_user(site)).display_name == "Ada Studio"


async def test_name_too_long_is_rejected(browser: WebClient, site: Site) -> None:
    status, html, _ = await browser.post_form(
        f"{PAGE}/name", {"display_name": "x" * 101}, from_page=PAGE
    )

    assert status == 400
    assert "keep it to 100" in html
    assert (await stored_user(site)).display_name == ""


async def test_email_changes_only_when_link_opened(browser: WebClient, site: Site) -> None:
    new_email = "new-address@example.com"

    status, html, _ = await browser.post_form(
        f"{PAGE}/email", {"new_email": new_email, "current_password": PASSWORD}, from_page=PAGE
    )

    assert status == 200
    assert f"We sent a link to {new_email}" in html
    link_mail = await site.smtp.wait_for(new_email, "/verify/")
    notice = await site.smtp.wait_for(OWNER_EMAIL, "about to change")
    assert new_email in body_of(notice)
    assert "/verify/" not in body_of(notice)
    assert (await stored_user(site)).email == OWNER_EMAIL

    status, _ = await browser.get(link_in(link_mail))

    assert status == 200
    assert (await stored_user(site)).email == new_email
    async with WebClient(site.base_url) as other_browser:
        status, _, _ = await other_browser.log_in(new_email, PASSWORD)
        assert status == 200
        assert other_browser.cookie("midjau_session") is not None
        status, page = await other_browser.get(PAGE)
    assert status == 200
    assert new_email in page


async def test_email_change_needs_current_password(browser: WebClient, site: Site) -> None:
    status, html, _ = await browser.post_form(
        f"{PAGE}/email",
        {"new_email": "new-address@example.com", "current_password": "wrong password!"},
        from_page=PAGE,
    )

    assert status == 400
    assert "The current password is wrong." in html
    assert site.smtp.sent_to("new-address@example.com") == []


async def test_email_change_to_taken_address_sends_no_link(browser: WebClient, site: Site) -> None:
    async with WebClient(site.base_url) as other:
        await other.sign_up_and_log_in(site, "taken@example.com", PASSWORD)

    status, html, _ = await browser.post_form(
        f"{PAGE}/email",
        {"new_email": "taken@example.com", "current_password": PASSWORD},
        from_page=PAGE,
    )

    assert status == 200
    assert "We sent a link to taken@example.com" in html  # the same message as for a free address
    notice = await site.smtp.wait_for("taken@example.com", "already has a MidJAu account")
    assert "/verify/" not in body_of(notice)
    assert (await stored_user(site)).email == OWNER_EMAIL


async def test_password_change_logs_out_other_browser(browser: WebClient, site: Site) -> None:
    new_password = "a much longer new password"
    async with WebClient(site.base_url) as other_browser:
        await other_browser.log_in(OWNER_EMAIL, PASSWORD)
        status, _ = await other_browser.get(PAGE, allow_redirects=False)
        assert status == 200

        status, html, _ = await browser.post_form(
            f"{PAGE}/password",
            {
                "current_password": PASSWORD,
                "new_password": new_password,
                "new_password_confirm": new_password,
            },
            from_page=PAGE,
        )

        assert status == 200
        assert "Every other session is logged out" in html
        other_status, _ = await other_browser.get(PAGE, allow_redirects=False)
        assert other_status == 302
    status, _ = await browser.get(PAGE, allow_redirects=False)
    assert status == 200
    await site.smtp.wait_for(OWNER_EMAIL, "password was changed")
    async with WebClient(site.base_url) as fresh:
        await fresh.log_in(OWNER_EMAIL, PASSWORD)
        old_status, _ = await fresh.get(PAGE, allow_redirects=False)
        assert old_status == 302
        await fresh.log_in(OWNER_EMAIL, new_password)
        status, _ = await fresh.get(PAGE, allow_redirects=False)
    assert status == 200


@pytest.mark.parametrize(
    ("form", "message"),
    [
        (
            {"current_password": "wrong password!", "new_password": "x" * 12},
            "The current password is wrong.",
        ),
        ({"current_password": PASSWORD, "new_password": "short"}, "at least 10 characters"),
        (
            {"current_password": PASSWORD, "new_password": "y" * 12, "confirm": "z" * 12},
            "The two new passwords differ",
        ),
    ],
)
async def test_password_change_rejects_bad_form(
    browser: WebClient, site: Site, form: dict[str, str], message: str
) -> None:
    before = await stored_user(site)
    data = {
        "current_password": form["current_password"],
        "new_password": form["new_password"],
        "new_password_confirm": form.get("confirm", form["new_password"]),
    }

    status, html, _ = await browser.post_form(f"{PAGE}/password", data, from_page=PAGE)

    assert status == 400
    assert message in unescape(html)
    after = await stored_user(site)
    assert after.password_hash == before.password_hash
    assert after.session_epoch == before.session_epoch


async def test_profile_says_whether_discord_is_linked(browser: WebClient, site: Site) -> None:
    _, unlinked = await browser.get(PAGE)
    async with site.db.sessions() as session, session.begin():
        user = await session.scalar(select(User).where(User.email == OWNER_EMAIL))
        assert user is not None
        user.discord_user_id = "1180000000000000777"
    _, linked = await browser.get(PAGE)

    assert "No Discord account is linked yet" in unlinked
    # This site has no "Log in with Discord", so there is nothing to link with.
    assert 'href="/login/discord"' not in unlinked
    assert "ask the operator" in unlinked
    assert "linked to Discord user <strong>1180000000000000777</strong>" in linked
