"""Each company's signing secret for its completion callbacks, kept in Postgres encrypted.

One shared secret would let any company's receiver forge another company's deliveries, so
each company has its own, made on first use (its first delivery, or an editor reading it).
`WEBHOOK_SECRET` never signs anything: an AES-GCM key derived from it (HKDF-SHA256)
encrypts the stored secrets, with the company id as associated data, so a row copied to
another company does not decrypt. Changing `WEBHOOK_SECRET` makes the stored secrets
unreadable: deliveries then fail until the company's editors rotate (which needs no old one).

After a rotation the replaced secret keeps signing beside the new one for
`ROTATION_OVERLAP_SECONDS`, so receivers can switch over without losing a delivery.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg
import structlog
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from service.db.queries import QUERIES
from service.webhooks import signing as webhook_signing

log = structlog.get_logger(__name__)

ROTATION_OVERLAP_SECONDS = 24 * 3600
_NONCE_BYTES = 12
_INFO = b"content-jobs webhook signing secrets v1"


class SecretUnreadable(Exception):
    """The stored secret does not decrypt with the key from this `WEBHOOK_SECRET`."""


@dataclass(frozen=True)
class CompanySecret:
    #: the HMAC key of the current secret
    key: bytes
    created_at: datetime
    #: the replaced secret's key while it still signs too, else None
    previous: bytes | None

    @property
    def signing_keys(self) -> list[bytes]:
        return [self.key] if self.previous is None else [self.key, self.previous]

    def to_json(self) -> dict[str, Any]:
        return {"secret": webhook_signing.secret_of(self.key), "createdAt": self.created_at}


class WebhookSecrets:
    """Reads, creates and rotates the companies' secrets (owns `content_job_webhook_secrets`)."""

    def __init__(self, db: asyncpg.Pool[Any], master_secret: str) -> None:
        self._db = db
        hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_INFO)
        self._aead = AESGCM(hkdf.derive(master_secret.encode()))

    async def current(self, company_id: str) -> CompanySecret:
        """The company's secret, made now if it has none yet (concurrent first uses agree:
        the first insert wins and every caller reads it)."""
        row = await self._db.fetchrow(QUERIES["webhook_secret"], company_id)
        if row is None:
            fresh = self._encrypt(company_id, webhook_signing.new_key())
            await self._db.execute(QUERIES["create_webhook_secret"], company_id, fresh)
            row = await self._db.fetchrow(QUERIES["webhook_secret"], company_id)
            assert row is not None
        previous = None
        if row["previous_secret"] is not None:
            try:
                previous = self._decrypt(company_id, row["previous_secret"])
            except SecretUnreadable:
                log.warning("webhook_previous_secret_unreadable", company=company_id)
        return CompanySecret(self._decrypt(company_id, row["secret"]), row["created_at"], previous)

    async def rotate(self, company_id: str) -> CompanySecret:
        """A new secret; the replaced one signs beside it for 24 h more."""
        key = webhook_signing.new_key()
        created_at = await self._db.fetchval(
            QUERIES["rotate_webhook_secret"],
            company_id,
            self._encrypt(company_id, key),
            float(ROTATION_OVERLAP_SECONDS),
        )
        log.info("webhook_secret_rotated", company=company_id)
        return CompanySecret(key, created_at, None)

    def _encrypt(self, company_id: str, key: bytes) -> bytes:
        nonce = secrets.token_bytes(_NONCE_BYTES)
        return nonce + self._aead.encrypt(nonce, key, company_id.encode())

    def _decrypt(self, company_id: str, stored: bytes) -> bytes:
        try:
            return self._aead.decrypt(
                stored[:_NONCE_BYTES], stored[_NONCE_BYTES:], company_id.encode()
            )
        except InvalidTag:
            raise SecretUnreadable(
                f"the webhook secret of {company_id!r} does not decrypt (WEBHOOK_SECRET changed?)"
            ) from None
