"""Completion callbacks are signed by the Standard Webhooks convention
(https://www.standardwebhooks.com), so any of its libraries verifies them:

    webhook-id: <delivery uuid>            (the same on every retry of one delivery)
    webhook-timestamp: <unix seconds>
    webhook-signature: v1,<base64 HMAC-SHA256 of "<id>.<timestamp>.<body>"> [v1,<...> ...]

The key is the base64 part of a `whsec_<base64>` secret, one per company. Nothing here does
I/O; `service.webhooks.secrets` keeps the secrets.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
import time
from collections.abc import Iterable, Mapping

PREFIX = "whsec_"
ID_HEADER = "webhook-id"
TIMESTAMP_HEADER = "webhook-timestamp"
SIGNATURE_HEADER = "webhook-signature"
#: how far a delivery's timestamp may be from the receiver's clock (replays of old ones fail)
TOLERANCE_SECONDS = 300
KEY_BYTES = 32


def new_key() -> bytes:
    return secrets.token_bytes(KEY_BYTES)


def secret_of(key: bytes) -> str:
    """The `whsec_<base64>` form a company's editors read and give to their receiver."""
    return PREFIX + base64.b64encode(key).decode()


def key_of(secret: str) -> bytes:
    """The HMAC key of a `whsec_` secret (raises ValueError for one that is not base64)."""
    try:
        return base64.b64decode(secret.removeprefix(PREFIX), validate=True)
    except binascii.Error:
        raise ValueError("a webhook secret is whsec_ and base64") from None


def sign(key: bytes, msg_id: str, timestamp: int, body: bytes) -> str:
    """One `v1,<base64>` signature."""
    signed = f"{msg_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()


def signed_headers(
    keys: Iterable[bytes], msg_id: str, body: bytes, timestamp: int | None = None
) -> dict[str, str]:
    """The three headers of one delivery attempt, signed with every key given (space-separated:
    a receiver that knows any one of them accepts it)."""
    t = int(time.time()) if timestamp is None else timestamp
    return {
        ID_HEADER: msg_id,
        TIMESTAMP_HEADER: str(t),
        SIGNATURE_HEADER: " ".join(sign(key, msg_id, t, body) for key in keys),
    }


def verify_signature(
    secret: str, headers: Mapping[str, str], body: bytes, tolerance: float = TOLERANCE_SECONDS
) -> bool:
    """For receivers: whether `headers` carry a signature of `body` by `secret`, made at most
    `tolerance` seconds from now. Anything malformed (a header missing, a timestamp that is
    not a number, a signature that is not `v1,<base64>`, a secret that is not base64) is
    simply not valid: this answers False and never raises. Compares in constant time."""
    lower = {name.lower(): value for name, value in headers.items()}
    msg_id = lower.get(ID_HEADER)
    raw_time = lower.get(TIMESTAMP_HEADER, "")
    signatures = lower.get(SIGNATURE_HEADER)
    if msg_id is None or signatures is None or not _is_timestamp(raw_time):
        return False
    timestamp = int(raw_time)
    if abs(time.time() - timestamp) > tolerance:
        return False
    try:
        expected = sign(key_of(secret), msg_id, timestamp, body).encode()
    except ValueError:
        return False
    return any(
        hmac.compare_digest(expected, candidate.encode())
        for candidate in signatures.split(" ")
        if candidate.isascii()
    )


def _is_timestamp(raw: str) -> bool:
    """ASCII digits that fit a float (`int()` also takes other scripts' digits and `_`)."""
    return raw.isascii() and raw.isdigit() and len(raw) <= 15
