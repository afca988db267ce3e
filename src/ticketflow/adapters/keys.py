"""API keys kept in the store's database, hashed (R-ACC-1).

A key reads ``tfk_<id>_<secret>``: the id finds the row, and only the SHA-256 of the whole key
is stored. The secret is 256 random bits, so a fast hash is enough (nothing to brute-force);
the comparison is constant-time. A revoked key fails from the next request on, in every
process: each request looks its key up, or, on a store that tells cheaply whether anything was
committed to its database since it last looked (SQLite's ``data_version``), takes a key it
verified when nothing was. ``last_used_at`` is written at most once a minute per
key and process, so reads do not turn into writes.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
import weakref
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from ticketflow.domain.instants import rfc3339
from ticketflow.service.access import ApiKey

PREFIX = "tfk_"
TOUCH_EVERY_S = 60.0

DDL = """CREATE TABLE IF NOT EXISTS api_keys (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    key_sha256 TEXT NOT NULL,
    roles TEXT NOT NULL,
    tenants TEXT NOT NULL,
    sources TEXT NOT NULL,
    created_at TEXT NOT NULL,
    last_used_at TEXT,
    revoked_at TEXT
)"""
_COLUMNS = "id, name, roles, tenants, sources, created_at, last_used_at, revoked_at"


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def _now() -> str:
    return rfc3339(datetime.now(UTC))


def _split(text: str) -> tuple[str, ...]:
    return tuple(part for part in text.split("\n") if part)


def _id_of(secret: str) -> str:
    """The id of a key written ``tfk_<12 hex digits>_<at least 32 characters>``."""
    parts = secret.split("_", 2)
    if (
        len(parts) != 3
        or f"{parts[0]}_" != PREFIX
        or len(parts[1]) != 12
        or any(ch not in "0123456789abcdef" for ch in parts[1])
        or len(parts[2]) < 32
    ):
        raise ValueError(
            "a key reads tfk_<12 hex digits>_<at least 32 characters>, e.g. "
            "python -c \"import secrets; print(f'tfk_{secrets.token_hex(6)}_"
            "{secrets.token_urlsafe(32)}')\""
        )
    return parts[1]


def _key(row: Sequence[Any]) -> ApiKey:
    key_id, name, roles, tenants, sources, created, used, revoked = row
    return ApiKey(
        key_id, name, _split(roles), _split(tenants), _split(sources), created, used, revoked
    )


class KeyTable:
    """A :class:`~ticketflow.service.access.KeyStore` on the read-model database.

    ``store`` gives the store to use (the calling thread's own, in the API).
    """

    def __init__(self, store: Callable[[], Any]) -> None:
        self._store = store
        self._touched: dict[str, float] = {}
        self._lock = threading.Lock()
        # Per store: its database's version when the keys below were verified on it.
        self._verified: weakref.WeakKeyDictionary[Any, tuple[int, dict[str, ApiKey]]] = (
            weakref.WeakKeyDictionary()
        )

    def create_table(self) -> None:
        with self._store().transaction() as c:
            c.execute(DDL)

    def create(
        self,
        roles: Sequence[str],
        *,
        tenants: Sequence[str] = (),
        sources: Sequence[str] = (),
        name: str = "",
        secret: str | None = None,
    ) -> tuple[ApiKey, str]:
        """A new key, or ``secret`` (a key made elsewhere, e.g. a deployment's secret) stored
        as one; given again, the same secret changes nothing."""
        self.create_table()
        if secret is None:
            key_id = secrets.token_hex(6)
            secret = f"{PREFIX}{key_id}_{secrets.token_urlsafe(32)}"
        else:
            key_id = _id_of(secret)
        stored = ApiKey(key_id, name, tuple(roles), tuple(tenants), tuple(sources), _now())
        with self._store().transaction() as c:
            c.execute(f"SELECT {_COLUMNS}, key_sha256 FROM api_keys WHERE id = ?", (key_id,))
            row = c.fetchone()
            if row is not None:
                if not hmac.compare_digest(str(row[-1]), _digest(secret)):
                    raise ValueError(f"another key has the id {key_id}")
                return _key(row[:-1]), secret
            c.execute(
                "INSERT INTO api_keys (id, name, key_sha256, roles, tenants, sources, created_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    key_id,
                    name,
                    _digest(secret),
                    "\n".join(roles),
                    "\n".join(tenants),
                    "\n".join(sources),
                    stored.created_at,
                ),
            )
        return stored, secret

    def list(self) -> list[ApiKey]:
        self.create_table()
        with self._store().transaction() as c:
            c.execute(f"SELECT {_COLUMNS} FROM api_keys ORDER BY created_at, id")
            return [_key(row) for row in c.fetchall()]

    def revoke(self, key_id: str) -> bool:
        self.create_table()
        with self._store().transaction() as c:
            c.execute("SELECT revoked_at FROM api_keys WHERE id = ?", (key_id,))
            row = c.fetchone()
            if row is None or row[0] is not None:
                return False
            c.execute("UPDATE api_keys SET revoked_at = ? WHERE id = ?", (_now(), key_id))
        # A commit on a connection does not change that connection's own data_version.
        self._verified.clear()
        return True

    def authenticate(self, secret: str) -> ApiKey | None:
        """The live key whose secret this is (R-ACC-1). A key verified on this store is taken
        again without a lookup while the store says nothing was committed to its database
        since (a revocation, from any process, is a commit: the next request looks up)."""
        if not secret.startswith(PREFIX):
            return None
        store = self._store()
        version = store.data_version() if hasattr(store, "data_version") else None
        digest = _digest(secret)
        if version is not None:
            seen, keys = self._verified.get(store, (None, {}))
            if seen == version and digest in keys:
                key = keys[digest]
                self._touch(key.id)
                return key
        key_id = secret[len(PREFIX) :].split("_", 1)[0]
        with store.transaction() as c:
            c.execute(f"SELECT {_COLUMNS}, key_sha256 FROM api_keys WHERE id = ?", (key_id,))
            row = c.fetchone()
        if row is None or not hmac.compare_digest(str(row[-1]), digest):
            return None
        key = _key(row[:-1])
        if key.revoked_at is not None:
            return None
        if version is not None:
            seen, keys = self._verified.get(store, (None, {}))
            kept = keys if seen == version else {}
            self._verified[store] = (version, {**kept, digest: key})
        self._touch(key.id)
        return key

    def touch_due(self, secret: str) -> bool:
        """Whether authenticating ``secret`` now would write its ``last_used_at``."""
        key_id = secret[len(PREFIX) :].split("_", 1)[0]
        with self._lock:
            last = self._touched.get(key_id)
        return last is None or time.monotonic() - last >= TOUCH_EVERY_S

    def _touch(self, key_id: str) -> None:
        now = time.monotonic()
        with self._lock:
            if now - self._touched.get(key_id, -TOUCH_EVERY_S) < TOUCH_EVERY_S:
                return
            self._touched[key_id] = now
        with self._store().transaction() as c:
            c.execute("UPDATE api_keys SET last_used_at = ? WHERE id = ?", (_now(), key_id))
