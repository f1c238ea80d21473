"""Users, password hashing (Argon2id), API keys, the server-side record of UI sessions and the login
throttle; called by the CLI, the login guard, the account page and the API.

Sessions and the throttle live in Redis and take the time as an argument (`now`, seconds since the epoch),
so that the views pass one clock and tests can move it. Why they work the way they do: docs/security.md.
"""

from __future__ import annotations

import hashlib
import ipaddress
import math
import secrets
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from redis import Redis
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


PASSWORD_MIN = 8
PASSWORD_MAX = 1000  # Argon2 hashes any length; a cap keeps a megabyte "password" from being a cheap DoS


def check_password(user: User, password: str) -> bool:
    """True when `password` is the user's password (the account page asks for it before a change)."""
    try:
        return bool(_hasher.verify(user.password_hash, password))
    except (VerificationError, InvalidHashError):
        return False


def change_password(session: Session, user: User, new_password: str) -> None:
    """Set a new password and end every existing session of that user (the epoch moves on; the account page
    then gives the browser that made the change a new session with the new epoch)."""
    if len(new_password) < PASSWORD_MIN:
        raise ValueError("password must have at least 8 characters")
    if len(new_password) > PASSWORD_MAX:
        raise ValueError("password must have at most 1000 characters")
    user.password_hash = _hasher.hash(new_password)
    user.session_epoch += 1


def end_every_session(user: User) -> None:
    """Make every session of the user invalid ("log out everywhere"); the caller commits, then removes the
    records with `forget_user_sessions`. The epoch alone already ends them: a record whose epoch is not the
    user's is refused, so a Redis that missed the deletion cannot bring one back."""
    user.session_epoch += 1


def _key_hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def create_api_key(session: Session, name: str) -> str:
    """Create an API key and return it in full; only its SHA-256 is stored (CLI `create-api-key`, the
    account page, which shows the key once)."""
    key = "nk_" + secrets.token_urlsafe(32)
    session.add(ApiKey(name=name, prefix=key[:10], key_hash=_key_hash(key)))
    session.flush()
    return key


def list_api_keys(session: Session) -> list[ApiKey]:
    """Every API key, live ones first, newest first (the account page)."""
    return list(session.scalars(select(ApiKey).order_by(ApiKey.revoked, ApiKey.created_at.desc(), ApiKey.id.desc())))


def revoke_api_key(session: Session, key_id: int) -> ApiKey | None:
    """Revoke a key: the API refuses it from the next request on (account page). None if there is no such key."""
    api_key = session.get(ApiKey, key_id)
    if api_key is not None:
        api_key.revoked = True
    return api_key


def verify_api_key(session: Session, key: str) -> ApiKey | None:
    """Return the live API key matching `key`, else None (API authentication)."""
    if not key or not key.startswith("nk_") or len(key) > 100:
        return None
    api_key = session.scalar(select(ApiKey).where(ApiKey.key_hash == _key_hash(key)))
    if api_key is None or api_key.revoked:
        return None
    api_key.last_used_at = now_utc()
    return api_key


# ---------------------------------------------------------------- UI sessions
# The session cookie carries only a random session id; what it stands for lives in Redis under the id's
# SHA-256 (a copy of Redis alone is not a set of cookies): the user, the user's session epoch when the
# session began, its login time and when it was last seen. Logging out deletes the record, so a copied
# cookie stops working at once, without ending the user's sessions in other browsers.
SESSION_TOUCH_EVERY = 60  # seconds: last-seen is written at most once a minute, so idle time is exact to a minute


@dataclass(frozen=True)
class SessionLimits:
    """How long a UI session lives, in seconds: without a request (idle) and after its login (absolute)."""

    idle: int
    absolute: int


@dataclass(frozen=True)
class SessionRecord:
    """A live session as Redis keeps it."""

    user_id: int
    epoch: int
    issued_at: float
    last_seen: float


def _session_key(sid: str) -> str:
    return "nurture:session:" + hashlib.sha256(sid.encode()).hexdigest()


def _user_sessions_key(user_id: int) -> str:
    return f"nurture:user-sessions:{user_id}"


def _session_ttl(limits: SessionLimits, issued_at: float, now: float) -> int:
    # Redis drops a record on its own once it can no longer be valid; the slack covers the minute in
    # which last-seen is not rewritten.
    left = min(limits.idle, limits.absolute - (now - issued_at))
    return max(1, math.ceil(left)) + SESSION_TOUCH_EVERY


def start_session(redis: Redis, user: User, limits: SessionLimits, now: float) -> str:
    """Record a new session of the user and return its id for the cookie (login, password change)."""
    sid = secrets.token_urlsafe(32)
    key, members = _session_key(sid), _user_sessions_key(user.id)
    _prune_user_sessions(redis, user.id)
    pipe = redis.pipeline()
    pipe.hset(key, mapping={"user_id": user.id, "epoch": user.session_epoch, "issued_at": repr(now),
                            "last_seen": repr(now)})
    pipe.expire(key, _session_ttl(limits, now, now))
    pipe.sadd(members, key)
    pipe.expire(members, limits.absolute + SESSION_TOUCH_EVERY)
    pipe.execute()
    return sid


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def live_session(redis: Redis, sid: str, limits: SessionLimits, now: float) -> SessionRecord | None:
    """The session behind a cookie's id if it is still within its idle and absolute lifetimes (login guard);
    an expired one is deleted. Does not check the user's epoch: the caller compares it with the user's."""
    if not sid:
        return None
    key = _session_key(sid)
    raw = {_text(k): _text(v) for k, v in redis.hgetall(key).items()}
    try:
        record = SessionRecord(int(raw["user_id"]), int(raw["epoch"]), float(raw["issued_at"]),
                               float(raw["last_seen"]))
    except (KeyError, ValueError):
        return None
    if now - record.last_seen > limits.idle or now - record.issued_at > limits.absolute:
        end_session(redis, sid, record.user_id)
        return None
    if now - record.last_seen >= SESSION_TOUCH_EVERY:
        pipe = redis.pipeline()
        pipe.hset(key, "last_seen", repr(now))
        pipe.expire(key, _session_ttl(limits, record.issued_at, now))
        pipe.execute()
    return record


def end_session(redis: Redis, sid: str, user_id: int | None = None) -> None:
    """Delete one session's record: its cookie, and every copy of it, no longer logs anyone in (logout)."""
    key = _session_key(sid)
    pipe = redis.pipeline()
    pipe.delete(key)
    if user_id is not None:
        pipe.srem(_user_sessions_key(user_id), key)
    pipe.execute()


def forget_user_sessions(redis: Redis, user_id: int) -> None:
    """Delete the records of every session of the user (after `end_every_session` or a password change)."""
    members = _user_sessions_key(user_id)
    keys = [_text(k) for k in redis.smembers(members)]  # type: ignore[union-attr]
    redis.delete(members, *keys)


def _prune_user_sessions(redis: Redis, user_id: int) -> list[str]:
    """The user's session records that still exist; ids of expired ones leave the user's set."""
    members = _user_sessions_key(user_id)
    keys = sorted(_text(k) for k in redis.smembers(members))  # type: ignore[union-attr]
    if not keys:
        return []
    pipe = redis.pipeline()
    for key in keys:
        pipe.exists(key)
    alive = [key for key, exists in zip(keys, pipe.execute(), strict=True) if exists]
    gone = sorted(set(keys) - set(alive))
    if gone:
        redis.srem(members, *gone)
    return alive


def session_count(redis: Redis, user_id: int) -> int:
    """How many sessions of the user are live, this one included (the account page)."""
    return len(_prune_user_sessions(redis, user_id))


# ---------------------------------------------------------------- login throttle
# Exponential backoff, never a lockout: after `free` failed passwords each further try must wait 2, 4, 8 ...
# seconds after the last failure, at most `cap`. Counters are kept per (account, address) and per address,
# and per account for browsers that have not logged in to it before; a browser that has (it holds a signed
# device id for the account) is counted only under that id, so an attacker elsewhere cannot hold the owner
# out. A correct password starts the counters of its address (or device) again. docs/security.md.
@dataclass(frozen=True)
class Backoff:
    """One kind of counter: free failures, the longest wait and how long after its last failure it is kept."""

    name: str
    free: int
    cap: int  # seconds
    forget: int  # seconds


PAIR = Backoff("pair", free=10, cap=900, forget=86400)
ADDRESS = Backoff("address", free=10, cap=900, forget=3600)  # short: an office shares one NAT address
ACCOUNT = Backoff("account", free=20, cap=900, forget=86400)  # looser: guesses spread over many addresses
DEVICE = Backoff("device", free=10, cap=900, forget=86400)


@dataclass(frozen=True)
class LoginClient:
    """Who tries a password: the account named, the client's address, and the browser's device id when it
    proved one for that account."""

    account: str
    address: str
    device: str | None = None


def address_group(address: str) -> str:
    """The unit an address is counted in: an IPv4 address, or an IPv6 /64 (one host gets a whole /64)."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address[:64] or "unknown"
    if ip.version == 6:
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)


def _counters(client: LoginClient) -> list[tuple[str, Backoff]]:
    account = hashlib.sha256(normalize_login(client.account).encode()).hexdigest()[:32]
    if client.device:
        return [(f"nurture:login:device:{client.device}", DEVICE)]
    address = address_group(client.address)
    return [(f"nurture:login:pair:{account}:{address}", PAIR), (f"nurture:login:address:{address}", ADDRESS),
            (f"nurture:login:account:{account}", ACCOUNT)]


# KEYS: the counters; ARGV[1]: now; then (free, cap, forget) per counter. Returns the seconds to wait, or 0
# after counting this try as a failure in every counter (parallel tries cannot share one slot).
_CLAIM = """
local now = tonumber(ARGV[1])
local wait = 0
for i, key in ipairs(KEYS) do
  local free, cap = tonumber(ARGV[3 * i - 1]), tonumber(ARGV[3 * i])
  local n = tonumber(redis.call('HGET', key, 'n') or '0')
  if n >= free then
    local t = tonumber(redis.call('HGET', key, 't') or '0')
    wait = math.max(wait, t + math.min(cap, 2 ^ (n - free + 1)) - now)
  end
end
if wait > 0 then return math.ceil(wait) end
for i, key in ipairs(KEYS) do
  redis.call('HINCRBY', key, 'n', 1)
  redis.call('HSET', key, 't', ARGV[1])
  redis.call('EXPIRE', key, tonumber(ARGV[3 * i + 1]))
end
return 0
"""
# KEYS: the counters; ARGV[i]: 'reset' (start again) or 'undo' (take back the try _CLAIM counted).
_SETTLE = """
for i, key in ipairs(KEYS) do
  if ARGV[i] == 'reset' then
    redis.call('DEL', key)
  elseif tonumber(redis.call('HGET', key, 'n') or '0') > 0 then
    redis.call('HINCRBY', key, 'n', -1)
  end
end
return 0
"""


def claim_login_attempt(redis: Redis, client: LoginClient, now: float) -> int:
    """Seconds the client must wait before a password may be tried; 0 means try now, the try already counted
    as failed until `login_succeeded` takes it back (login view, the account page's password check)."""
    counters = _counters(client)
    args: list[str | int] = [repr(now)]
    for _key, rule in counters:
        args += [rule.free, rule.cap, rule.forget]
    return int(redis.register_script(_CLAIM)(keys=[key for key, _rule in counters], args=args))


def login_succeeded(redis: Redis, client: LoginClient) -> None:
    """The password was right: the counters of this address (or device) start again; the account's counter
    only loses the try counted for it, since other addresses' guesses are in it too (login view, the
    account page's password check)."""
    counters = _counters(client)
    args = ["undo" if rule is ACCOUNT else "reset" for _key, rule in counters]
    redis.register_script(_SETTLE)(keys=[key for key, _rule in counters], args=args)


def get_account(session: Session) -> Account:
    """The account's sender settings (the single row, created on first use)."""
    account = session.get(Account, 1)
    if account is None:
        account = Account(id=1)
        session.add(account)
        session.flush()
    return account
