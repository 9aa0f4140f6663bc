"""The keys that rate limits count a client's address under."""

from __future__ import annotations

import pytest

from web.remote import rate_limit_key


@pytest.mark.parametrize("address", ["192.0.2.7", "unknown"])
def test_key_of_ipv4_or_unknown_is_the_address(address: str) -> None:
    assert rate_limit_key(address) == address


def test_ipv6_addresses_of_one_subscriber_share_a_key() -> None:
    first = rate_limit_key("2001:db8:1:2::1")
    second = rate_limit_key("2001:db8:1:2:ffff:ffff:ffff:fffe")

    assert first == "2001:db8:1:2::/64"
    assert second == first


def test_ipv6_neighbours_get_their_own_keys() -> None:
    assert rate_limit_key("2001:db8:1:2::1") != rate_limit_key("2001:db8:1:3::1")


def test_ipv4_mapped_address_counts_as_ipv4() -> None:
    assert rate_limit_key("::ffff:192.0.2.7") == "192.0.2.7"
