"""docs/api.md, routes `GET /assets/{assetId}` and `GET /assets/{assetId}/content`:
the description, the bytes with their type and ETag, `If-None-Match` -> 304,
byte ranges (206 / 416), `nosniff`, and 404 for another company's asset."""

from __future__ import annotations

import hashlib
import random

import pytest

from service.api import keys
from service.assets.storage.postgres import CHUNK_SIZE
from service.assets.store import Asset
from tests.conftest import Client, MakeClient, auth, make_token
from tests.integration.assets.conftest import s3_overrides

MiB = 1024 * 1024
SIZE = 3 * CHUNK_SIZE + 100
DATA = random.Random(7).randbytes(SIZE)


async def put(client: Client, data: bytes = DATA, company: str = "acme") -> Asset:
    """An asset stored the way a job stores one, through the app's own AssetStore."""
    store = client.app[keys.ASSETS]
    return await store.put(company, None, data, "application/octet-stream", "report data.bin")


def url(asset: Asset, company: str = "acme", content: bool = True) -> str:
    path = f"/api/companies/{company}/assets/{asset.id}"
    return path + "/content" if content else path


async def test_description(client: Client) -> None:
    asset = await put(client)
    resp = await client.get(url(asset, content=False), headers=auth())
    assert resp.status == 200
    assert await resp.json() == {
        "id": str(asset.id),
        "jobId": None,
        "contentType": "application/octet-stream",
        "byteSize": SIZE,
        "sha256": hashlib.sha256(DATA).hexdigest(),
        "createdAt": asset.created_at.isoformat().replace("+00:00", "Z"),
    }


async def test_content_and_its_headers(client: Client) -> None:
    asset = await put(client)
    resp = await client.get(url(asset), headers=auth())
    assert resp.status == 200
    assert await resp.read() == DATA
    headers = resp.headers
    assert headers["Content-Type"] == "application/octet-stream"
    assert headers["Content-Length"] == str(SIZE)
    assert headers["ETag"] == f'"{hashlib.sha256(DATA).hexdigest()}"'
    assert headers["Accept-Ranges"] == "bytes"
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert "sandbox" in headers["Content-Security-Policy"]
    assert 'filename="report data.bin"' in headers["Content-Disposition"]
    assert "X-Request-ID" in headers


async def test_head_gives_the_headers_without_the_bytes(client: Client) -> None:
    asset = await put(client)
    resp = await client.head(url(asset), headers=auth())
    assert resp.status == 200
    assert resp.headers["Content-Length"] == str(SIZE)
    assert resp.headers["ETag"] == asset.etag
    assert await resp.read() == b""


async def test_content_with_the_token_in_the_url(client: Client) -> None:
    """A link or an `<a download>` cannot set headers: GET takes `?access_token=`."""
    asset = await put(client, b"hello")
    resp = await client.get(url(asset), params={"access_token": make_token("acme")})
    assert resp.status == 200
    assert await resp.read() == b"hello"


@pytest.mark.parametrize(
    ("header", "start", "end"),
    [
        ("bytes=0-0", 0, 0),
        ("bytes=10-", 10, SIZE - 1),
        ("bytes=-5", SIZE - 5, SIZE - 1),
        (f"bytes={CHUNK_SIZE - 2}-{CHUNK_SIZE + 1}", CHUNK_SIZE - 2, CHUNK_SIZE + 1),
        (f"bytes={CHUNK_SIZE - 1}-{3 * CHUNK_SIZE}", CHUNK_SIZE - 1, 3 * CHUNK_SIZE),
        ("bytes=100-99999999", 100, SIZE - 1),
        (f"bytes=-{SIZE + 10}", 0, SIZE - 1),
    ],
)
async def test_ranges(client: Client, header: str, start: int, end: int) -> None:
    asset = await put(client)
    resp = await client.get(url(asset), headers={**auth(), "Range": header})
    assert resp.status == 206
    assert resp.headers["Content-Range"] == f"bytes {start}-{end}/{SIZE}"
    assert resp.headers["Content-Length"] == str(end - start + 1)
    assert await resp.read() == DATA[start : end + 1]


@pytest.mark.parametrize("header", [f"bytes={SIZE}-", f"bytes={SIZE + 5}-{SIZE + 9}", "bytes=-0"])
async def test_unsatisfiable_range(client: Client, header: str) -> None:
    asset = await put(client)
    resp = await client.get(url(asset), headers={**auth(), "Range": header})
    assert resp.status == 416
    assert resp.headers["Content-Range"] == f"bytes */{SIZE}"
    assert (await resp.json())["error"]


@pytest.mark.parametrize(
    "header",
    [
        "bytes=0-1,5-6",
        "bytes=9-3",
        "pages=1-2",
        "bytes=x-",
        # thousands of digits: Python's int() refuses them (a 500 before)
        "bytes=" + "9" * 5000 + "-",
        "bytes=0-" + "1" * 5000,
        "bytes=-" + "7" * 5000,
    ],
)
async def test_ranges_that_cannot_be_served_as_one_get_everything(
    client: Client, header: str
) -> None:
    asset = await put(client)
    resp = await client.get(url(asset), headers={**auth(), "Range": header})
    assert resp.status == 200
    assert await resp.read() == DATA


async def test_if_range_with_a_stale_etag_gets_everything(client: Client) -> None:
    asset = await put(client)
    stale = {**auth(), "Range": "bytes=0-9", "If-Range": '"0000"'}
    assert (await client.get(url(asset), headers=stale)).status == 200
    fresh = {**auth(), "Range": "bytes=0-9", "If-Range": asset.etag}
    assert (await client.get(url(asset), headers=fresh)).status == 206


async def test_empty_asset(client: Client) -> None:
    asset = await put(client, b"")
    resp = await client.get(url(asset), headers=auth())
    assert resp.status == 200
    assert resp.headers["Content-Length"] == "0"
    assert await resp.read() == b""
    resp = await client.get(url(asset), headers={**auth(), "Range": "bytes=0-0"})
    assert resp.status == 416


@pytest.mark.parametrize("match", ["{etag}", "W/{etag}", '"other", {etag}', "*"])
async def test_if_none_match_gives_304(client: Client, match: str) -> None:
    asset = await put(client)
    resp = await client.get(
        url(asset), headers={**auth(), "If-None-Match": match.format(etag=asset.etag)}
    )
    assert resp.status == 304
    assert resp.headers["ETag"] == asset.etag
    assert await resp.read() == b""


async def test_if_none_match_with_another_etag_gives_the_content(client: Client) -> None:
    asset = await put(client)
    resp = await client.get(url(asset), headers={**auth(), "If-None-Match": '"abc"'})
    assert resp.status == 200
    assert await resp.read() == DATA


@pytest.mark.parametrize("content", [False, True], ids=["description", "content"])
async def test_another_companys_asset_is_not_found(client: Client, content: bool) -> None:
    """Even for a caller who may use both companies: the asset is asked for under the wrong one."""
    asset = await put(client, company="acme")
    for headers in (auth("globex"), auth("acme", "globex"), auth("*")):
        resp = await client.get(url(asset, "globex", content), headers=headers)
        assert resp.status == 404
        assert await resp.json() == {"error": "Asset not found"}
    resp = await client.get(url(asset, "acme", content), headers=auth("globex"))
    assert resp.status == 403


@pytest.mark.parametrize("asset_id", ["not-a-uuid", "6f1c1c52-5a8e-4c6e-9f53-0d1f0b0e5c11"])
@pytest.mark.parametrize("suffix", ["", "/content"])
async def test_unknown_asset_is_not_found(client: Client, asset_id: str, suffix: str) -> None:
    resp = await client.get(f"/api/companies/acme/assets/{asset_id}{suffix}", headers=auth())
    assert resp.status == 404
    assert await resp.json() == {"error": "Asset not found"}


async def test_asset_routes_need_a_token(client: Client) -> None:
    asset = await put(client)
    for content in (False, True):
        resp = await client.get(url(asset, content=content))
        assert resp.status == 401
        assert resp.headers["WWW-Authenticate"] == "Bearer"


async def test_bytes_gone_from_storage_are_not_found(client: Client) -> None:
    """A reader racing a prune: the row was read, then the object was deleted."""
    asset = await put(client)
    await client.app[keys.ASSETS].storage.delete([asset.object_key])
    resp = await client.get(url(asset), headers=auth())
    assert resp.status == 404
    assert await resp.json() == {"error": "Asset not found"}


@pytest.mark.usefixtures("s3_aws_env")
async def test_served_from_s3(make_client: MakeClient, moto_endpoint: str, s3_bucket: str) -> None:
    """STORAGE_BACKEND=s3, credentials from the standard AWS variables: 5 MiB and a range."""
    client = await make_client(**s3_overrides(moto_endpoint, s3_bucket))
    data = random.Random(3).randbytes(5 * MiB)
    asset = await put(client, data)
    assert asset.object_key.startswith("acme/content-jobs/")

    resp = await client.get(url(asset), headers=auth())
    assert resp.status == 200
    assert (
        hashlib.sha256(await resp.read()).hexdigest()
        == asset.sha256
        == resp.headers["ETag"].strip('"')
    )
    resp = await client.get(url(asset), headers={**auth(), "Range": "bytes=-5"})
    assert (resp.status, await resp.read()) == (206, data[-5:])
