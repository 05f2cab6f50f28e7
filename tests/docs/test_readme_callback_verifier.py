"""The README's "Completion callbacks" verifier, run as printed: it accepts Standard Webhooks
signatures (the specification's own test vector among them) and answers False, never an
exception, for anything malformed, like `service.webhooks.signing.verify_signature`."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from service.webhooks.signing import new_key, secret_of, signed_headers, verify_signature

README = Path(__file__).resolve().parents[2] / "README.md"
Verify = Callable[..., bool]


@pytest.fixture(scope="module")
def readme_verify() -> Verify:
    section = README.read_text().split("## Completion callbacks", 1)[1]
    code = re.search(r"```python\n(def verify|import .*?\ndef verify)(.*?)```", section, re.S)
    assert code is not None, "no verify() snippet in README's Completion callbacks"
    namespace: dict[str, object] = {}
    exec(code.group(1) + code.group(2), namespace)
    verify = namespace["verify"]
    assert callable(verify)
    return verify


def test_it_verifies_the_specifications_test_vector(readme_verify: Verify) -> None:
    headers = {
        "webhook-id": "msg_p5jXN8AQM9LWM0D4loKWxJek",
        "webhook-timestamp": "1614265330",
        "webhook-signature": "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
    }
    secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    old = time.time() - 1614265330 + 60
    assert readme_verify(secret, headers, b'{"test": 2432232314}', tolerance=old)
    assert not readme_verify(secret, headers, b'{"test": 2432232315}', tolerance=old)


def test_it_accepts_either_of_two_signatures_and_refuses_others(readme_verify: Verify) -> None:
    old, new = new_key(), new_key()
    headers = signed_headers([new, old], "d1", b"{}")
    assert readme_verify(secret_of(old), headers, b"{}")
    assert readme_verify(secret_of(new), headers, b"{}")
    assert not readme_verify(secret_of(new_key()), headers, b"{}")


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("webhook-signature", "garbage"),
        ("webhook-signature", "v1,not base64!"),
        ("webhook-signature", "v1,\u00e9"),
        ("webhook-timestamp", "soon"),
        ("webhook-timestamp", "\u0661\u0662"),
        ("webhook-timestamp", "9" * 400),
        ("webhook-id", None),
        ("webhook-signature", None),
        ("webhook-timestamp", None),
    ],
)
def test_a_malformed_header_is_false_not_an_exception(
    readme_verify: Verify, name: str, value: str | None
) -> None:
    secret = secret_of(new_key())
    headers = signed_headers([bytes(32)], "d1", b"{}")
    if value is None:
        del headers[name]
    else:
        headers[name] = value
    assert readme_verify(secret, headers, b"{}") is False
    assert verify_signature(secret, headers, b"{}") is False


@pytest.mark.parametrize("secret", ["", "whsec_", "whsec_not base64!", "whsec_\u00e9"])
def test_a_malformed_secret_is_false_not_an_exception(readme_verify: Verify, secret: str) -> None:
    headers = signed_headers([new_key()], "d1", b"{}")
    assert readme_verify(secret, headers, b"{}") is False
