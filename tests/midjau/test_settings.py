"""Settings derived from others: the site's address and whether Discord login is set up."""

from __future__ import annotations

import pytest
from pydantic import SecretStr

from bot.errors import NoConnectionError
from midjau.settings import WebSettings


@pytest.mark.parametrize(
    ("host", "port", "public_url", "expected"),
    [
        ("127.0.0.1", 8080, None, "http://127.0.0.1:8080"),
        ("0.0.0.0", 8080, None, "http://127.0.0.1:8080"),
        ("::", 8080, None, "http://[::1]:8080"),
        ("fd00::5", 9000, None, "http://[fd00::5]:9000"),
        ("0.0.0.0", 8080, "https://midjau.example", "https://midjau.example"),
    ],
)
def test_site_url(host: str, port: int, public_url: str | None, expected: str) -> None:
    settings = WebSettings(host=host, port=port, public_url=public_url)

    assert settings.site_url == expected


def test_discord_login_needs_id_and_secret() -> None:
    assert not WebSettings().discord_login
    assert not WebSettings(discord_client_id="1").discord_login
    secret = SecretStr("s")
    assert WebSettings(discord_client_id="1", discord_client_secret=secret).discord_login


def test_no_connection_hint_offers_discord_login() -> None:
    site = "https://midjau.example/"
    secret = SecretStr("s")
    with_login = WebSettings(public_url=site, discord_client_id="1", discord_client_secret=secret)
    with_login_text = str(NoConnectionError(with_login))
    without_login_text = str(NoConnectionError(WebSettings(public_url=site)))

    assert "https://midjau.example/dashboard/settings/connections" in with_login_text
    assert "https://midjau.example/login/discord" in with_login_text
    assert "https://midjau.example/dashboard/settings/connections" in without_login_text
    assert "/login/discord" not in without_login_text
