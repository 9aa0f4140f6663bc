import pytest

from bot.text import (
    ZERO_WIDTH_SPACE,
    defuse_mentions,
    echo,
    join_within,
    plural,
    sentence,
    shorten,
)


def test_everyone_and_here_are_defused() -> None:
    text = defuse_mentions("hello @everyone and @here")

    assert "@everyone" not in text
    assert "@here" not in text
    assert f"@{ZERO_WIDTH_SPACE}everyone" in text
    assert f"@{ZERO_WIDTH_SPACE}here" in text


def test_user_and_role_mentions_are_defused() -> None:
    text = defuse_mentions("ping <@123456789012345678> <@!42> <@&987>")

    assert "<@1" not in text
    assert "<@!" not in text
    assert "<@&" not in text
    assert text.replace(ZERO_WIDTH_SPACE, "") == "ping <@123456789012345678> <@!42> <@&987>"


def test_plain_at_signs_are_kept() -> None:
    assert defuse_mentions("mail me at user@example.com") == "mail me at user@example.com"


def test_shorten_keeps_short_text() -> None:
    assert shorten("short", 10) == "short"


def test_shorten_cuts_to_limit_with_ellipsis() -> None:
    text = shorten("x" * 3000)

    assert len(text) == 2000
    assert text.endswith("…")


def test_echo_defuses_then_fits_limit() -> None:
    text = echo("@everyone " * 500)

    assert len(text) <= 2000
    assert "@everyone" not in text


def test_join_within_lists_everything_that_fits() -> None:
    assert join_within(["a", "b", "c"], 100) == "a\nb\nc"


def test_join_within_counts_left_out_lines() -> None:
    lines = [f"line {index:02d} " + "x" * 40 for index in range(100)]

    text = join_within(lines, 500, more="…and {count} more")

    assert len(text) <= 500
    kept = text.splitlines()[:-1]
    assert kept == lines[: len(kept)]
    assert text.splitlines()[-1] == f"…and {100 - len(kept)} more"


def test_sentence_adds_full_stop() -> None:
    assert sentence("  the token was rejected ") == "the token was rejected."


def test_sentence_keeps_end_punctuation() -> None:
    assert sentence("Solve the CAPTCHA!") == "Solve the CAPTCHA!"
    assert sentence("Done.") == "Done."
    assert sentence("") == ""


@pytest.mark.parametrize(
    ("count", "expected"),
    [(0, "0 images"), (1, "1 image"), (2, "2 images"), (1200, "1,200 images")],
)
def test_plural(count: int, expected: str) -> None:
    assert plural(count, "image") == expected
