"""Upload tokens: one per municipality contact, issued and revoked by the national coordinator.

A token looks like ``<token_id>.<secret>``. Only the sha256 of the whole token is stored (in
restricted storage: SQLite, or Postgres in the production profile), so a stolen database cannot be used
to upload. The id part lets us look up the row without comparing against every hash; the comparison itself
is constant-time.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import secrets
import sys
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import UTC, datetime

from pipeline.contract.dictionary import municipality_codes
from pipeline.settings import Paths
from pipeline.settings import paths as default_paths
from pipeline.store_db import Connection, Store

_SCHEMA = """
create table if not exists tokens (
    {insertion_order}
    token_id  text primary key,
    kommunkod text not null,
    label     text not null default '',
    token_sha256 text not null,
    created   text not null,
    revoked   text
);
"""

# Compared against when a presented token has an unknown id, so a miss costs the same as a hit.
_DUMMY_HASH = hashlib.sha256(b"no such token").hexdigest()


@dataclass(frozen=True)
class TokenInfo:
    token_id: str
    kommunkod: str
    label: str
    created: str
    revoked: str | None

    @property
    def active(self) -> bool:
        return self.revoked is None


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class TokenStore:
    """The token table: ``paths.tokens_db`` (embedded profile) or ``sukf.tokens`` on Postgres (production)."""

    def __init__(self, paths: Paths | None = None) -> None:
        self.store = Store((paths or default_paths()).tokens_db, _SCHEMA, name="tokens").create()

    def _connect(self) -> AbstractContextManager[Connection]:
        return self.store.connect()

    def issue(self, kommunkod: str, label: str = "") -> tuple[TokenInfo, str]:
        """Create a token for ``kommunkod``; returns (info, token). The token is never retrievable again."""
        if kommunkod not in municipality_codes():
            raise ValueError(f"Okänd kommunkod {kommunkod!r}")
        token_id = secrets.token_hex(6)
        token = f"{token_id}.{secrets.token_urlsafe(32)}"
        info = TokenInfo(token_id, kommunkod, label, _now(), None)
        with self._connect() as con:
            con.execute(
                "insert into tokens (token_id, kommunkod, label, token_sha256, created) values (?, ?, ?, ?, ?)",
                (token_id, kommunkod, label, _hash(token), info.created),
            )
        return info, token

    def list(self) -> list[TokenInfo]:
        with self._connect() as con:
            rows = con.execute(
                f"select token_id, kommunkod, label, created, revoked from tokens order by {con.insertion_order}"
            ).fetchall()
        return [TokenInfo(**dict(r)) for r in rows]

    def revoke(self, token_id: str) -> bool:
        """Mark a token revoked (kept for the audit trail). False if there is no such active token."""
        with self._connect() as con:
            cur = con.execute(
                "update tokens set revoked = ? where token_id = ? and revoked is null", (_now(), token_id)
            )
            return cur.rowcount == 1

    def verify(self, token: str | None) -> TokenInfo | None:
        """The active token's info, or None. Never raises on malformed input."""
        token = (token or "").strip()
        token_id = token.split(".", 1)[0] if "." in token else ""
        with self._connect() as con:
            row = con.execute(
                "select token_id, kommunkod, label, created, revoked, token_sha256 from tokens where token_id = ?",
                (token_id,),
            ).fetchone() if token_id else None
        stored = row["token_sha256"] if row else _DUMMY_HASH
        matches = hmac.compare_digest(_hash(token), stored)
        if not row or not matches or row["revoked"] is not None:
            return None
        return TokenInfo(row["token_id"], row["kommunkod"], row["label"], row["created"], row["revoked"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="sukf token", description="Hantera uppladdningsnycklar (samordnare).")
    sub = parser.add_subparsers(dest="action", required=True)
    issue = sub.add_parser("issue", help="skapa en ny nyckel för en kommun (visas EN gång)")
    issue.add_argument("--kommunkod", required=True)
    issue.add_argument("--label", default="", help="vem nyckeln är till, t.ex. e-post eller funktion")
    sub.add_parser("list", help="lista nycklar (utan hemligheter)")
    revoke = sub.add_parser("revoke", help="spärra en nyckel")
    revoke.add_argument("token_id")
    args = parser.parse_args(argv)
    store = TokenStore()

    if args.action == "issue":
        try:
            info, token = store.issue(args.kommunkod, args.label)
        except ValueError as exc:
            print(f"Fel: {exc}", file=sys.stderr)
            return 2
        print(f"Ny nyckel för kommun {info.kommunkod} (id {info.token_id}). Den visas bara nu — spara den säkert:")
        print(token)
        return 0
    if args.action == "list":
        print(f"{'id':<14}{'kommun':<8}{'skapad':<27}{'status':<10}etikett")
        for info in store.list():
            status = "aktiv" if info.active else "spärrad"
            print(f"{info.token_id:<14}{info.kommunkod:<8}{info.created:<27}{status:<10}{info.label}")
        return 0
    if store.revoke(args.token_id):
        print(f"Nyckel {args.token_id} är spärrad.")
        return 0
    print(f"Fel: ingen aktiv nyckel med id {args.token_id!r}", file=sys.stderr)
    return 1
