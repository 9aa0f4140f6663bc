"""The address of the client behind a request, seen through trusted reverse proxies."""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Sequence

from aiohttp import web

from web.keys import SETTINGS_KEY

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

# Prefix length of the IPv6 block one subscriber usually gets.
IPV6_SUBSCRIBER_PREFIX = 64


def client_address(request: web.Request) -> str:
    """Return the client's IP address: the TCP peer, or what trusted proxies forwarded.

    X-Forwarded-For is read from the right, since each proxy appends the address it saw;
    the first address that is not a trusted proxy is the client. Entries left of it are
    whatever the client sent and are never believed.
    """
    peer = request.remote or "unknown"
    trusted = _networks(tuple(request.app[SETTINGS_KEY].web.trusted_proxies))
    if not _is_trusted(peer, trusted):
        return peer
    forwarded = ",".join(request.headers.getall("X-Forwarded-For", []))
    client = peer
    for entry in reversed(forwarded.split(",")):
        address = entry.strip()
        if not _is_address(address):
            break
        client = address
        if not _is_trusted(address, trusted):
            break
    return client


def rate_limit_key(address: str) -> str:
    """Return the key a client's address is counted under: an IPv6 address by its /64.

    One IPv6 subscriber usually gets a whole /64 and can pick any address in it, so
    counting single addresses would give them unlimited attempts.
    """
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)  # "::ffff:192.0.2.1" is 192.0.2.1
        return str(ipaddress.ip_network(f"{ip}/{IPV6_SUBSCRIBER_PREFIX}", strict=False))
    return str(ip)


@functools.lru_cache(maxsize=8)
def _networks(proxies: tuple[str, ...]) -> tuple[IPNetwork, ...]:
    return tuple(ipaddress.ip_network(proxy, strict=False) for proxy in proxies)


def _is_address(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _is_trusted(address: str, trusted: Sequence[IPNetwork]) -> bool:
    if not trusted or not _is_address(address):
        return False
    ip = ipaddress.ip_address(address)
    return any(ip in network for network in trusted)
