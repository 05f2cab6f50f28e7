"""Which URLs a job's completion callback may name, checked at submit and again at delivery.

A tenant must not be able to make the service call its own network (SSRF): only hosts
matching `WEBHOOK_ALLOWED_HOSTS` are accepted, and a host that is, or resolves to, an
address that is not globally routable (loopback, private, link-local, CGNAT, 6to4, Teredo,
a NAT64 address embedding any of these...) is refused unless that exact name is listed.
The check runs at submit (the API) and again at every delivery (the sender), against the
allow-list of the sending worker and on the addresses the connection is actually made to
(`CheckedResolver`), so a name that re-resolves elsewhere later (DNS rebinding) gets
nowhere. No I/O but name resolution; no HTTP: a refused URL is an `InvalidRequest`.
"""

from __future__ import annotations

import ipaddress
import socket
from typing import Any

from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver
from yarl import URL

from service.domain.errors import InvalidRequest
from service.domain.limits import MAX_CALLBACK_URL


class HostNotAllowed(Exception):
    pass


def _normal_host(host: str) -> str:
    """A host as the allow-list compares it: lower case, no trailing dot, an IP literal without
    brackets in its shortest form (`[::1]` in the list matches `http://[0:0::1]/`)."""
    host = host.lower().rstrip(".")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    try:
        return ipaddress.ip_address(host).compressed
    except ValueError:
        return host


class HostPolicy:
    """`WEBHOOK_ALLOWED_HOSTS`: exact names, or `*.suffix` for any name under a domain."""

    def __init__(self, patterns: tuple[str, ...]) -> None:
        self.exact = frozenset(_normal_host(p) for p in patterns if not p.startswith("*."))
        self.suffixes = tuple(p[1:].lower() for p in patterns if p.startswith("*."))

    @property
    def enabled(self) -> bool:
        return bool(self.exact or self.suffixes)

    def allows_name(self, host: str) -> bool:
        host = _normal_host(host)
        return host in self.exact or any(host.endswith(suffix) for suffix in self.suffixes)

    def allows_address(self, host: str, address: str) -> bool:
        """Addresses that are not globally routable only for a host listed by its exact name."""
        return _normal_host(host) in self.exact or globally_routable(address)


#: IPv6 ranges refused whatever `is_global` says: 6to4 and Teredo tunnel to IPv4 addresses
#: of anyone's choosing, local-use NAT64, and the IPv4-compatible and -translated forms
_TUNNELS = tuple(
    ipaddress.IPv6Network(net)
    for net in ("2002::/16", "2001::/32", "64:ff9b:1::/48", "::/96", "::ffff:0:0:0/96")
)
#: the well-known NAT64 prefix: routable as far as the IPv4 address it embeds is
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")


def globally_routable(address: str) -> bool:
    """Whether a connection to `address` leaves for the public internet: `is_global`, no
    multicast, and for IPv6 the IPv4 address a mapped or NAT64 address embeds is checked."""
    ip = ipaddress.ip_address(address.split("%")[0])
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return globally_routable(str(ip.ipv4_mapped))
        if ip in _NAT64:
            return globally_routable(str(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)))
        if any(ip in net for net in _TUNNELS):
            return False
    return ip.is_global and not ip.is_multicast


def check_at_delivery(raw: str, policy: HostPolicy) -> None:
    """The sending worker's own check of a URL accepted at submit: its host must still match
    the allow-list, and an IP literal (which aiohttp connects to without asking the
    resolver) must be routable unless listed."""
    host = URL(raw).host or ""
    if not policy.allows_name(host):
        raise HostNotAllowed(f"host {host!r} is not in WEBHOOK_ALLOWED_HOSTS")
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return  # a name: the connector's CheckedResolver checks what it resolves to
    if not policy.allows_address(host, host):
        raise HostNotAllowed(f"host {host!r} is a private or special address")


async def check_callback_url(raw: Any, policy: HostPolicy) -> str:
    """The submit-time check of `callbackUrl`: a `400` that says what is wrong."""
    if not isinstance(raw, str) or len(raw) > MAX_CALLBACK_URL:
        raise InvalidRequest(
            f"callbackUrl must be an http(s) URL of at most {MAX_CALLBACK_URL} characters"
        )
    if not policy.enabled:
        raise InvalidRequest("callbackUrl: callbacks are off (WEBHOOK_ALLOWED_HOSTS is empty)")
    try:
        url = URL(raw)
        url.host  # noqa: B018 -- decodes the host: a bad punycode label is a UnicodeError
    except ValueError:  # UnicodeError is one
        url = None
    if url is None or url.scheme not in ("http", "https") or not url.host:
        raise InvalidRequest("callbackUrl must be an http(s) URL")
    if not policy.allows_name(url.host):
        raise InvalidRequest(f"callbackUrl: host {url.host!r} is not in WEBHOOK_ALLOWED_HOSTS")
    try:
        await _checked_addresses(url.host, url.port or 0, policy)
    except HostNotAllowed as exc:
        raise InvalidRequest(f"callbackUrl: {exc}") from None
    return raw


async def _checked_addresses(host: str, port: int, policy: HostPolicy) -> list[ResolveResult]:
    try:
        found = await DefaultResolver().resolve(host, port, socket.AF_UNSPEC)
    except OSError:
        raise HostNotAllowed(f"host {host!r} does not resolve") from None
    except UnicodeError:  # IDNA refuses it (an empty or 64+ character label) before any lookup
        raise HostNotAllowed(f"host {host!r} is not a valid host name") from None
    for result in found:
        if not policy.allows_address(host, result["host"]):
            raise HostNotAllowed(f"host {host!r} resolves to a private or special address")
    return found


class CheckedResolver(AbstractResolver):
    """aiohttp's resolver, refusing what the policy refuses: the check is on the very
    addresses the connection goes to."""

    def __init__(self, policy: HostPolicy) -> None:
        self._policy = policy

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        return await _checked_addresses(host, port, self._policy)

    async def close(self) -> None:
        return None
