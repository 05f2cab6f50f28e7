from __future__ import annotations

from tests.conftest import Client, auth


async def test_submit_and_get(client: Client) -> None:
    resp = await client.post(
        "/api/companies/acme/content-jobs", json={"jobType": "echo"}, headers=auth()
    )
    assert resp.status == 202, await resp.text()
    body = await resp.json()
    resp = await client.get(f"/api/companies/acme/content-jobs/{body['jobId']}", headers=auth())
    assert resp.status == 200
    print(await resp.json())
