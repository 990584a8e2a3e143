"""GradeFlow's own signing keys: RS256 key pairs kept in PostgreSQL (lti_keys), the newest active one signs, and
every key not retired is published in the key set an LMS fetches (so a rotation never breaks what the previous key
signed). Key ids are JWK thumbprints, as pylti1p3 computes them from the public key. With
GRADEFLOW_LTI_KEY_PASSPHRASE set (a secret, e.g. a file in the secrets directory), private halves are stored
encrypted (PKCS#8), so a copy of the database alone cannot sign as GradeFlow."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwcrypto.jwk import JWK
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from gradeflow.models import LtiKey
from gradeflow.settings import get_settings

KEY_BITS = 2048


class KeyLocked(RuntimeError):
    """A signing key stored encrypted, and no passphrase (or the wrong one) to open it."""


def _passphrase() -> bytes | None:
    secret = get_settings().lti_key_passphrase
    return secret.get_secret_value().encode() if secret else None


def new_key() -> LtiKey:
    """A new key pair, its private half encrypted with GRADEFLOW_LTI_KEY_PASSPHRASE when that is set."""
    private = rsa.generate_private_key(public_exponent=65537, key_size=KEY_BITS)
    passphrase = _passphrase()
    stored = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(passphrase)
        if passphrase
        else serialization.NoEncryption(),
    ).decode()
    plain = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    return LtiKey(kid=public_jwk(plain)["kid"], private_pem=stored)


def unlocked(key: LtiKey) -> str:
    """The key's private half as plain PEM, in memory only (pylti1p3 signs with it)."""
    encrypted = "ENCRYPTED" in key.private_pem
    try:
        private = serialization.load_pem_private_key(
            key.private_pem.encode(), password=_passphrase() if encrypted else None
        )
    except (TypeError, ValueError) as exc:
        raise KeyLocked(
            f"GradeFlow's LTI signing key {key.kid} is stored encrypted and "
            "GRADEFLOW_LTI_KEY_PASSPHRASE does not open it (unset or wrong)"
        ) from exc
    return private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def public_pem(private_pem: str) -> str:
    private = serialization.load_pem_private_key(private_pem.encode(), password=None)
    return (
        private.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


def public_jwk(private_pem: str) -> dict[str, Any]:
    jwk = JWK.from_pem(public_pem(private_pem).encode())
    return {
        **jwk.export_public(as_dict=True),
        "kid": jwk.thumbprint(),
        "alg": "RS256",
        "use": "sig",
    }


async def active_keys(session: AsyncSession) -> list[LtiKey]:
    """The keys not retired, newest first."""
    rows = await session.execute(
        select(LtiKey).where(LtiKey.retired_at.is_(None)).order_by(LtiKey.created_at.desc())
    )
    return list(rows.scalars())


async def signing_key(session: AsyncSession) -> LtiKey:
    """The key GradeFlow signs with: the newest active one, made on first use."""
    keys = await active_keys(session)
    if keys:
        return keys[0]
    key = new_key()
    session.add(key)
    await session.flush()
    return key


async def key_set(session: AsyncSession) -> dict[str, list[dict[str, Any]]]:
    return {"keys": [public_jwk(unlocked(k)) for k in await active_keys(session)]}


async def rotate(session: AsyncSession) -> LtiKey:
    """A new signing key; the previous ones stay published until retired."""
    key = new_key()
    session.add(key)
    await session.flush()
    return key


async def retire(session: AsyncSession, kid: str) -> bool:
    """Stop publishing a key (what it signed can no longer be checked); never the only active one."""
    keys = await active_keys(session)
    found = next((k for k in keys if k.kid == kid), None)
    if found is None:
        return False
    if len(keys) == 1:
        raise ValueError("that is the only active key: rotate first, then retire the old one")
    found.retired_at = datetime.now(UTC)
    await session.flush()
    return True
