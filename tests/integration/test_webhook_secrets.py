"""API "Completion callbacks": the signing secret is per company, readable and rotatable by
that company's editors only, kept encrypted; for 24 h after a rotation deliveries carry
signatures by both secrets."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from service.webhooks.signing import verify_signature
from tests.conftest import Client, MakeClient, auth
from tests.integration.helpers import Receiver, jobs_path
from tests.integration.test_completion_callbacks_are_signed_and_retried import HOOK_SECRET

pytestmark = pytest.mark.timeout(60)


def secret_path(company: str = "acme") -> str:
    return f"/api/companies/{company}/webhook-secret"


@pytest.fixture
async def hooks(make_client: MakeClient) -> Client:
    return await make_client(webhook_allowed_hosts=("127.0.0.1",), webhook_secret=HOOK_SECRET)


async def read_secret(client: Client, company: str = "acme") -> dict[str, Any]:
    resp = await client.get(secret_path(company), headers=auth(company))
    assert resp.status == 200, await resp.text()
    body: dict[str, Any] = await resp.json()
    return body


async def test_each_company_has_its_own_whsec_secret(hooks: Client) -> None:
    acme = await read_secret(hooks)
    assert set(acme) == {"secret", "createdAt"}
    assert acme["secret"].startswith("whsec_")
    assert len(base64.b64decode(acme["secret"].removeprefix("whsec_"))) == 32
    assert await read_secret(hooks) == acme  # made once, on first use
    assert (await read_secret(hooks, "other"))["secret"] != acme["secret"]


async def test_viewers_and_other_companies_may_not_read_or_rotate_it(hooks: Client) -> None:
    for method in ("GET", "POST"):
        path = secret_path() + (":rotate" if method == "POST" else "")
        resp = await hooks.request(method, path, headers=auth(viewer=True))
        assert resp.status == 403
        assert "editors" in (await resp.json())["error"]
        resp = await hooks.request(method, path, headers=auth("other"))
        assert resp.status == 403


async def test_rotation_makes_a_new_secret(hooks: Client) -> None:
    before = await read_secret(hooks)
    resp = await hooks.post(secret_path() + ":rotate", headers=auth())
    assert resp.status == 200
    rotated = await resp.json()
    assert rotated["secret"] != before["secret"]
    assert rotated["createdAt"] > before["createdAt"]
    assert await read_secret(hooks) == rotated


async def test_secrets_are_stored_encrypted(hooks: Client, db: Any) -> None:
    secret = (await read_secret(hooks))["secret"]
    key = base64.b64decode(secret.removeprefix("whsec_"))
    stored = await db.fetchval("SELECT secret FROM content_job_webhook_secrets")
    assert key not in stored and secret.encode() not in stored
    # a row copied to another company does not decrypt there: that company gets an error,
    # never the first company's secret
    await db.execute(
        "INSERT INTO content_job_webhook_secrets (company_id, secret) VALUES ('other', $1)", stored
    )
    resp = await hooks.get(secret_path("other"), headers=auth("other"))
    assert resp.status == 500
    assert secret not in await resp.text()


async def test_without_webhook_secret_the_routes_are_404(client: Client) -> None:
    resp = await client.get(secret_path(), headers=auth())
    assert resp.status == 404
    assert "WEBHOOK_SECRET" in (await resp.json())["error"]


async def test_deliveries_carry_both_signatures_for_24h_after_a_rotation(
    make_client: MakeClient, receiver: Receiver, db: Any
) -> None:
    hooked = await make_client(
        role="all", webhook_allowed_hosts=("127.0.0.1",), webhook_secret=HOOK_SECRET
    )
    old = (await read_secret(hooked))["secret"]
    new = (await (await hooked.post(secret_path() + ":rotate", headers=auth())).json())["secret"]
    body = {"jobType": "echo", "callbackUrl": receiver.url}
    assert (await hooked.post(jobs_path(), json=body, headers=auth())).status == 202
    await receiver.deliveries(1)
    headers, sent = receiver.received[0]
    assert len(headers["webhook-signature"].split(" ")) == 2
    assert verify_signature(old, headers, sent) and verify_signature(new, headers, sent)
    # once the 24 h are over, only the new secret signs
    await db.execute("UPDATE content_job_webhook_secrets SET previous_until = now()")
    assert (await hooked.post(jobs_path(), json=body, headers=auth())).status == 202
    await receiver.deliveries(2)
    headers, sent = receiver.received[1]
    assert len(headers["webhook-signature"].split(" ")) == 1
    assert verify_signature(new, headers, sent) and not verify_signature(old, headers, sent)
