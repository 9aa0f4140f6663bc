"""One-time links sent by mail. Only the sha256 of each secret is stored."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import EmailToken, EmailTokenPurpose, utcnow

VERIFY_LIFETIME = timedelta(hours=24)
RESET_LIFETIME = timedelta(hours=1)


def hash_secret(secret: str) -> str:
    """Return the sha256 hex digest stored for a mailed secret."""
    return hashlib.sha256(secret.encode()).hexdigest()


async def issue_token(
    session: AsyncSession,
    user_id: int,
    purpose: EmailTokenPurpose,
    lifetime: timedelta,
    *,
    new_email: str | None = None,
) -> str:
    """Store a new token for ``user_id`` and return its secret, for the mailed link."""
    secret = secrets.token_urlsafe(32)
    now = utcnow()
    session.add(
        EmailToken(
            user_id=user_id,
            purpose=purpose,
            token_hash=hash_secret(secret),
            new_email=new_email,
            created_at=now,
            expires_at=now + lifetime,
        )
    )
    await session.flush()
    return secret


async def find_token(
    session: AsyncSession, secret: str, purposes: tuple[EmailTokenPurpose, ...]
) -> EmailToken | None:
    """Return the unused, unexpired token of one of ``purposes`` for ``secret``, or None."""
    if not secret or len(secret) > 128:
        return None
    digest = hash_secret(secret)
    token = await session.scalar(select(EmailToken).where(EmailToken.token_hash == digest))
    if token is None or not hmac.compare_digest(token.token_hash, digest):
        return None
    if token.purpose not in purposes or token.used_at is not None:
        return None
    if token.expires_at <= utcnow():
        return None
    return token


async def use_token(session: AsyncSession, token: EmailToken) -> bool:
    """Mark the token used; return False when another request used it first."""
    result = await session.execute(
        update(EmailToken)
        .where(EmailToken.id == token.id, EmailToken.used_at.is_(None))
        .values(used_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def expire_tokens(session: AsyncSession, user_id: int, purpose: EmailTokenPurpose) -> None:
    """Mark every unused token of ``purpose`` of the user as used (an older link stops working)."""
    await session.execute(
        update(EmailToken)
        .where(
            EmailToken.user_id == user_id,
            EmailToken.purpose == purpose,
            EmailToken.used_at.is_(None),
        )
        .values(used_at=utcnow())
        .execution_options(synchronize_session=False)
    )
