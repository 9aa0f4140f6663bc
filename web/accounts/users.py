"""Accounts in storage: email rules, lookups and sign-up."""

from __future__ import annotations

import re
from collections.abc import Mapping

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
    """Add a user who confirmed their age and accepted the terms, with their cookie choice."""
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
    add_sign_up_consent(session, user.id, consent)
    await session.flush()
    return user


def add_sign_up_consent(session: AsyncSession, user_id: int, consent: Mapping[str, bool]) -> None:
    """Copy the cookie choice the visitor made before signing up to the new account.

    A visitor who has not chosen gets no record, so the cookie banner still asks them
    after sign-up. Accepting the terms is stored on the user, not as a consent record.
    """
    if not consent.get("decided"):
        return
    session.add(
        ConsentRecord(
            user_id=user_id,
            analytics=bool(consent.get("analytics")),
            marketing=bool(consent.get("marketing")),
        )
    )
