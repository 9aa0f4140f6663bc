"""Accounts in storage: email rules, lookups and sign-up."""

from __future__ import annotations

import re

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import ConsentRecord, User, utcnow

MAX_EMAIL_LENGTH = 254
# Deliberately loose: the verification mail is the real check.
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def normalize_email(address: str) -> str:
    """Return the address as stored: trimmed and lower-case."""
    return address.strip().lower()


def email_problem(address: str) -> str:
    """Return what is wrong with an email address, or "" when it looks valid."""
    if not address:
        return "Enter your email address."
    if len(address) > MAX_EMAIL_LENGTH or not _EMAIL.match(address):
        return "Enter a valid email address, such as name@example.com."
    return ""


async def find_user_by_email(session: AsyncSession, address: str) -> User | None:
    """Return the user with this (normalized) email, or None."""
    return await session.scalar(select(User).where(User.email == normalize_email(address)))


async def create_account(
    session: AsyncSession,
    *,
    email: str,
    password_hash: str,
    terms_version: str,
    consent: dict[str, bool],
) -> User:
    """Add a user who confirmed their age and accepted the terms, with a consent record."""
    now = utcnow()
    user = User(
        email=normalize_email(email),
        password_hash=password_hash,
        age_confirmed_at=now,
        terms_version=terms_version,
        terms_accepted_at=now,
    )
    session.add(user)
    await session.flush()
    session.add(
        ConsentRecord(
            user_id=user.id,
            analytics=bool(consent.get("analytics")),
            marketing=bool(consent.get("marketing")),
            created_at=now,
        )
    )
    await session.flush()
    return user
