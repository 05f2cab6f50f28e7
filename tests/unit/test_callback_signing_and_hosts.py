"""Completion callbacks without I/O: the signature receivers check, the backoff, and which
hosts and addresses a callback may reach."""

from __future__ import annotations

import hashlib
import hmac
import time

import pytest

from service.callbacks import HostPolicy, backoff, sign, verify_signature

SECRET = "a-webhook-secret-of-some-length"


def test_signature_is_hmac_of_timestamp_dot_body() -> None:
    """API: `t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">`."""
    header = sign(SECRET, b'{"id":1}', timestamp=1700000000)
    expected = hmac.new(SECRET.encode(), b'1700000000.{"id":1}', hashlib.sha256).hexdigest()
    assert header == f"t=1700000000,v1={expected}"


def test_verification_refuses_tampering_other_secrets_and_old_signatures() -> None:
    body = b'{"status":"done"}'
    header = sign(SECRET, body)
    assert verify_signature(SECRET, header, body)
    assert not verify_signature(SECRET, header, body + b" ")
    assert not verify_signature("another-secret", header, body)
    assert not verify_signature(SECRET, sign(SECRET, body, int(time.time()) - 3600), body)
    assert not verify_signature(SECRET, "garbage", body)


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
