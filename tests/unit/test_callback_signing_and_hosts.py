"""Completion callbacks without I/O: the Standard Webhooks signature receivers check, the
backoff, and which hosts and addresses a callback may reach."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time

import pytest

from service.webhooks.hosts import HostPolicy, globally_routable
from service.webhooks.signing import new_key, secret_of, signed_headers, verify_signature
from service.worker.callbacks import backoff

SECRET = secret_of(b"k" * 32)


def test_the_published_standard_webhooks_test_vector() -> None:
    """API: `webhook-signature: v1,<base64 HMAC-SHA256 of "<id>.<timestamp>.<body>">` with the
    base64 key of `whsec_...`: the reference libraries' own vector, so any Standard Webhooks
    library verifies what we send."""
    secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    key = base64.b64decode(secret.removeprefix("whsec_"))
    headers = signed_headers([key], "msg_p5jXN8AQM9LWM0D4loKWxJek", b'{"test": 2432232314}',
                             timestamp=1614265330)  # fmt: skip
    assert headers == {
        "webhook-id": "msg_p5jXN8AQM9LWM0D4loKWxJek",
        "webhook-timestamp": "1614265330",
        "webhook-signature": "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
    }
    expected = hmac.new(key, b'msg_p5jXN8AQM9LWM0D4loKWxJek.1614265330.{"test": 2432232314}',
                        hashlib.sha256).digest()  # fmt: skip
    assert headers["webhook-signature"] == "v1," + base64.b64encode(expected).decode()


def test_secrets_are_whsec_and_base64_of_32_random_bytes() -> None:
    secret = secret_of(new_key())
    assert secret.startswith("whsec_")
    assert len(base64.b64decode(secret.removeprefix("whsec_"))) == 32
    assert secret_of(new_key()) != secret


def test_verification_refuses_tampering_other_secrets_and_old_signatures() -> None:
    body = b'{"status":"done"}'
    key = base64.b64decode(SECRET.removeprefix("whsec_"))
    headers = signed_headers([key], "d1", body)
    assert verify_signature(SECRET, headers, body)
    assert verify_signature(SECRET, {k.upper(): v for k, v in headers.items()}, body)
    assert not verify_signature(SECRET, headers, body + b" ")
    assert not verify_signature(SECRET, {**headers, "webhook-id": "d2"}, body)
    assert not verify_signature(secret_of(new_key()), headers, body)
    old = signed_headers([key], "d1", body, timestamp=int(time.time()) - 3600)
    assert not verify_signature(SECRET, old, body)


def test_either_of_two_signatures_verifies() -> None:
    """During the 24 h after a rotation a delivery carries both, space-separated."""
    old, new = new_key(), new_key()
    headers = signed_headers([new, old], "d1", b"{}")
    assert len(headers["webhook-signature"].split(" ")) == 2
    assert verify_signature(secret_of(old), headers, b"{}")
    assert verify_signature(secret_of(new), headers, b"{}")


@pytest.mark.parametrize(
    "broken",
    [
        {"webhook-signature": "garbage"},
        {"webhook-signature": ""},
        {"webhook-signature": "v1,"},
        {"webhook-signature": "v1,not base64!"},
        {"webhook-signature": "v1,\u00e9\u00e9"},
        {"webhook-timestamp": "soon"},
        {"webhook-timestamp": ""},
        {"webhook-timestamp": "\u0661\u0662"},
        {"webhook-timestamp": "-5"},
        {"webhook-timestamp": "9" * 400},
        {"webhook-id": None},
        {"webhook-signature": None},
        {"webhook-timestamp": None},
    ],
)
def test_a_malformed_header_is_invalid_never_an_exception(broken: dict[str, str | None]) -> None:
    key = base64.b64decode(SECRET.removeprefix("whsec_"))
    headers: dict[str, str] = {
        name: value
        for name, value in {**signed_headers([key], "d1", b"{}"), **broken}.items()
        if value is not None
    }
    assert verify_signature(SECRET, headers, b"{}") is False


@pytest.mark.parametrize("secret", ["", "whsec_", "whsec_not base64!", "whsec_\u00e9", "plain"])
def test_a_malformed_secret_is_invalid_never_an_exception(secret: str) -> None:
    headers = signed_headers([new_key()], "d1", b"{}")
    assert verify_signature(secret, headers, b"{}") is False


def test_backoff_starts_within_5_seconds_doubles_and_caps_at_10_minutes() -> None:
    assert all(2.5 <= backoff(1) <= 5 for _ in range(100))
    assert all(5 <= backoff(2) <= 10 for _ in range(100))
    assert all(300 <= backoff(30) <= 600 for _ in range(100))


@pytest.mark.parametrize(
    ("host", "allowed"),
    [
        ("hooks.example.com", True),
        ("HOOKS.example.com.", True),
        ("a.b.partner.example", True),
        ("partner.example", False),  # *.suffix means names under it
        ("evil.com", False),
        ("hooks.example.com.evil.com", False),
    ],
)
def test_host_names(host: str, allowed: bool) -> None:
    policy = HostPolicy(("hooks.example.com", "*.partner.example"))
    assert policy.allows_name(host) is allowed


@pytest.mark.parametrize(
    ("host", "address", "allowed"),
    [
        ("hooks.example.com", "93.184.216.34", True),
        ("x.partner.example", "93.184.216.34", True),
        ("x.partner.example", "127.0.0.1", False),
        ("x.partner.example", "10.1.2.3", False),
        ("x.partner.example", "169.254.169.254", False),  # cloud metadata
        ("x.partner.example", "::1", False),
        ("x.partner.example", "fd00::1", False),
        ("x.partner.example", "::ffff:10.0.0.1", False),
        ("x.partner.example", "0.0.0.0", False),
        ("internal.listed", "10.1.2.3", True),  # listed by its exact name: allowed
    ],
)
def test_special_addresses_only_for_hosts_listed_by_name(
    host: str, address: str, allowed: bool
) -> None:
    policy = HostPolicy(("hooks.example.com", "*.partner.example", "internal.listed"))
    assert policy.allows_address(host, address) is allowed


@pytest.mark.parametrize(
    ("address", "routable"),
    [
        ("93.184.216.34", True),
        ("2606:4700::1111", True),
        ("100.64.0.1", False),  # CGNAT (shared address space)
        ("100.100.100.200", False),  # a cloud metadata address inside it
        ("192.0.0.170", False),
        ("198.18.0.1", False),  # benchmarking
        ("224.0.0.1", False),
        ("ff0e::1", False),  # global-scope multicast
        ("2002:7f00:1::1", False),  # 6to4 of 127.0.0.1
        ("2002:5db8:d822::1", False),  # 6to4, whatever it embeds
        ("2001:0:4136:e378:8000:63bf:3fff:fdd2", False),  # Teredo
        ("64:ff9b::a00:1", False),  # NAT64 of 10.0.0.1
        ("64:ff9b::7f00:1", False),  # NAT64 of 127.0.0.1
        ("64:ff9b::5db8:d822", True),  # NAT64 of a public address
        ("64:ff9b:1::5db8:d822", False),  # local-use NAT64
        ("::ffff:100.64.0.1", False),  # IPv4-mapped CGNAT
        ("::ffff:93.184.216.34", True),
        ("::7f00:1", False),  # IPv4-compatible (deprecated)
        ("fe80::1%eth0", False),
    ],
)
def test_only_globally_routable_addresses(address: str, routable: bool) -> None:
    assert globally_routable(address) is routable


@pytest.mark.parametrize("pattern", ["[::1]", "[0:0::1]", "::1"])
def test_an_ipv6_literal_in_the_allow_list_matches(pattern: str) -> None:
    policy = HostPolicy((pattern,))
    assert policy.allows_name("::1") and policy.allows_name("[::1]")
    assert policy.allows_address("::1", "::1")
    assert not policy.allows_name("::2")


def test_a_cgnat_address_is_allowed_only_for_a_host_listed_by_name() -> None:
    policy = HostPolicy(("*.partner.example", "metadata.listed"))
    assert not policy.allows_address("x.partner.example", "100.100.100.200")
    assert policy.allows_address("metadata.listed", "100.100.100.200")
