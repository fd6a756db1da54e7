"""Portal sessions: sign in once with the upload token, then a signed, HttpOnly, SameSite=Strict cookie.

WHY server-side sessions: the token is the municipality's upload secret and must not live in the
browser after sign-in. The cookie carries only a random session id plus an HMAC of it (so a forged
or truncated cookie is refused without a database lookup); the database keeps the sha256 of the id
(a copied database cannot be replayed as cookies), the token id (a revoked token ends its sessions
at once) and the session's CSRF secret. Sessions end after ``IDLE_SECONDS`` without use or
``MAX_SECONDS`` after sign-in, whichever comes first.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import time
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path

from pipeline.services.tokens import TokenInfo, TokenStore
from pipeline.settings import Paths
from pipeline.store_db import Connection, Store

COOKIE = "sukf_portal"
PRE_COOKIE = "sukf_portal_pre"  # before sign-in: binds the sign-in form's CSRF value to this browser
IDLE_SECONDS = 2 * 3600
MAX_SECONDS = 12 * 3600

_SCHEMA = """
create table if not exists sessions (
    sid_sha256 text primary key,
    token_id   text not null,
    kommunkod  text not null,
    csrf       text not null,
    created    double precision not null,
    last_seen  double precision not null
);
"""


@dataclass(frozen=True)
class Session:
    sid_sha256: str
    token: TokenInfo
    csrf: str

    @property
    def kommunkod(self) -> str:
        return self.token.kommunkod


def _secret(paths: Paths) -> bytes:
    """The installation's signing key (restricted storage, created once, readable by the owner only)."""
    file: Path = paths.portal_secret
    if not file.exists():
        file.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass
        else:
            with os.fdopen(fd, "wb") as handle:
                handle.write(secrets.token_bytes(32))
    return file.read_bytes()


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


class SessionStore:
    def __init__(self, paths: Paths) -> None:
        self.paths = paths
        self.store = Store(paths.portal_sessions_db, _SCHEMA, name="sessions").create()
        self.key = _secret(paths)

    def _connect(self) -> AbstractContextManager[Connection]:
        return self.store.connect()

    def sign(self, value: str, purpose: str) -> str:
        return hmac.new(self.key, f"{purpose}:{value}".encode(), hashlib.sha256).hexdigest()

    def start(self, token: TokenInfo) -> str:
        """A new session for ``token``; returns the cookie value."""
        sid = secrets.token_urlsafe(32)
        now = time.time()
        with self._connect() as con:
            con.execute("delete from sessions where last_seen < ? or created < ?",
                        (now - IDLE_SECONDS, now - MAX_SECONDS))
            con.execute("insert into sessions values (?, ?, ?, ?, ?, ?)",
                        (_sha(sid), token.token_id, token.kommunkod, secrets.token_urlsafe(32), now, now))
        return f"{sid}.{self.sign(sid, 'session')}"

    def resolve(self, cookie: str | None) -> Session | None:
        """The live session behind a cookie value, or None (bad signature, expired, token revoked)."""
        sid, _, mac = (cookie or "").partition(".")
        if not sid or not hmac.compare_digest(mac, self.sign(sid, "session")):
            return None
        now = time.time()
        with self._connect() as con:
            row = con.execute("select * from sessions where sid_sha256 = ?", (_sha(sid),)).fetchone()
            if row is None:
                return None
            if row["last_seen"] < now - IDLE_SECONDS or row["created"] < now - MAX_SECONDS:
                con.execute("delete from sessions where sid_sha256 = ?", (row["sid_sha256"],))
                return None
            token = next((t for t in TokenStore(self.paths).list() if t.token_id == row["token_id"]), None)
            if token is None or not token.active or token.kommunkod != row["kommunkod"]:
                con.execute("delete from sessions where sid_sha256 = ?", (row["sid_sha256"],))
                return None
            con.execute("update sessions set last_seen = ? where sid_sha256 = ?", (now, row["sid_sha256"]))
        return Session(row["sid_sha256"], token, row["csrf"])

    def end(self, session: Session) -> None:
        with self._connect() as con:
            con.execute("delete from sessions where sid_sha256 = ?", (session.sid_sha256,))

    def csrf_ok(self, session: Session, presented: str | None) -> bool:
        return hmac.compare_digest((presented or "").encode(), session.csrf.encode())

    def pre_csrf(self, pre: str) -> str:
        """The sign-in form's CSRF value for the pre-session cookie ``pre``."""
        return self.sign(pre, "login")

    def csrf_ok_pre(self, pre: str, presented: str | None) -> bool:
        return hmac.compare_digest((presented or "").encode(), self.pre_csrf(pre).encode())
