"""Users, password hashing (Argon2id) and API keys; called by the CLI, the login view and the API."""

from __future__ import annotations

import hashlib
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from campaigns.db import now_utc
from campaigns.models import Account, ApiKey, User

_hasher = PasswordHasher()
# A real hash to verify against when the user does not exist, so timing does not reveal who has an account.
_DUMMY_HASH = _hasher.hash("not-a-real-password")


def normalize_login(email: str) -> str:
    return email.strip().lower()


def create_user(session: Session, email: str, password: str, name: str = "") -> User:
    """Create a UI user with an Argon2id password hash (CLI `create-user`, seeding, tests)."""
    if len(password) < 8:
        raise ValueError("password must have at least 8 characters")
    user = User(email=normalize_login(email), name=name, password_hash=_hasher.hash(password))
    session.add(user)
    session.flush()
    return user


def authenticate(session: Session, email: str, password: str) -> User | None:
    """Return the active user whose password matches, else None (login view)."""
    user = session.scalar(select(User).where(User.email == normalize_login(email)))
    try:
        _hasher.verify(user.password_hash if user else _DUMMY_HASH, password)
    except (VerificationError, InvalidHashError):
        return None
    if user is None or not user.is_active:
        return None
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = _hasher.hash(password)
    return user


def change_password(session: Session, user: User, new_password: str) -> None:
    """Set a new password and end every existing session of that user."""
    if len(new_password) < 8:
        raise ValueError("password must have at least 8 characters")
    user.password_hash = _hasher.hash(new_password)
    user.session_epoch += 1


def _key_hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def create_api_key(session: Session, name: str) -> str:
    """Create an API key and return it in full; only its SHA-256 is stored (CLI `create-api-key`)."""
    key = "nk_" + secrets.token_urlsafe(32)
    session.add(ApiKey(name=name, prefix=key[:10], key_hash=_key_hash(key)))
    session.flush()
    return key


def verify_api_key(session: Session, key: str) -> ApiKey | None:
    """Return the live API key matching `key`, else None (API authentication)."""
    if not key or not key.startswith("nk_") or len(key) > 100:
        return None
    api_key = session.scalar(select(ApiKey).where(ApiKey.key_hash == _key_hash(key)))
    if api_key is None or api_key.revoked:
        return None
    api_key.last_used_at = now_utc()
    return api_key


def get_account(session: Session) -> Account:
    """The account's sender settings (the single row, created on first use)."""
    account = session.get(Account, 1)
    if account is None:
        account = Account(id=1)
        session.add(account)
        session.flush()
    return account
