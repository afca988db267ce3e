"""Access to the API (R-ACC-1..4): the rule of every route, and the guard that applies it.

:data:`ACCESS` holds one rule per ``(method, path)`` of the application's route table; a route
without one is refused to everyone (and the role × route test fails). The guard runs before
every route: 401 without a valid key, 403 outside the key's roles; the handlers then keep each
answer within the key's tenants (R-ACC-3). Each denial is logged with the key's id, never the
key (R-ACC-4).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from ticketflow.entrypoints.api.errors import ApiError
from ticketflow.service.access import ROLES, ApiKey

log = logging.getLogger("ticketflow.api.access")


@dataclass(frozen=True)
class Rule:
    """Who may call a route: nobody needs a key (``public``), or a key with one of ``roles``;
    ``unscoped``: only a key that sees every tenant (answers that sum up all tenants)."""

    roles: frozenset[str] = frozenset()
    public: bool = False
    unscoped: bool = False


ANY_KEY = Rule(frozenset(ROLES))
ANALYST = Rule(frozenset({"analyst"}))  # auditors too: the auditor role includes analyst's
AUDITOR = Rule(frozenset({"auditor"}))

ACCESS: dict[tuple[str, str], Rule] = {
    ("GET", "/livez"): Rule(public=True),
    ("GET", "/readyz"): ANY_KEY,
    ("GET", "/metrics"): Rule(frozenset({"operator"}), unscoped=True),
    ("GET", "/openapi.json"): ANY_KEY,
    ("POST", "/v1/events"): Rule(frozenset({"publisher"})),
    ("GET", "/v1/events/{source:path}/{event_id}"): Rule(frozenset({"publisher"})),
    ("GET", "/v1/sla"): ANALYST,
    ("GET", "/v1/billing/{tenant}"): ANALYST,
    ("GET", "/v1/expertise"): ANALYST,
    ("GET", "/v1/expertise/{tenant}"): ANALYST,
    ("GET", "/v1/history/tickets/{ticket}"): AUDITOR,
    ("GET", "/v1/history/tenants/{tenant}"): AUDITOR,
    ("GET", "/v1/deadletters"): Rule(frozenset({"operator"})),
    ("GET", "/v1/alerts"): ANALYST,
    ("GET", "/v1/alerts/stream"): ANALYST,
    ("GET", "/v1/alerts/deadletters"): Rule(frozenset({"operator"})),
    ("GET", "/v1/explain/tickets/{ticket}"): AUDITOR,
    ("GET", "/v1/explain/billing/{tenant}"): AUDITOR,
    ("GET", "/v1/explain/expertise/{tenant}"): AUDITOR,
    ("POST", "/v1/whatif"): Rule(frozenset({"auditor"}), unscoped=True),
    ("GET", "/v1/audit/head"): Rule(frozenset({"auditor"}), unscoped=True),
    ("GET", "/v1/audit/inclusion"): Rule(frozenset({"auditor"}), unscoped=True),
    ("GET", "/v1/audit/consistency"): Rule(frozenset({"auditor"}), unscoped=True),
    ("GET", "/v1/report"): ANALYST,
    ("GET", "/v1/weather"): ANALYST,
    ("GET", "/v1/weather/incidents/{incident}"): ANALYST,
}

bearer = HTTPBearer(
    auto_error=False,
    scheme_name="ApiKey",
    description="an API key made with `ticketflow keys create` (R-ACC-1)",
)


def _deny(request: Request, status: int, code: str, message: str, key: ApiKey | None) -> ApiError:
    route = request.scope.get("route")
    path = getattr(route, "path", request.url.path)
    log.warning("denied %s %s: %s (key %s)", request.method, path, code, key.id if key else "none")
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return ApiError(status, code, message, headers)


async def guard(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> ApiKey | None:
    """The key of the request, checked against its route's rule.

    ``async``, so that a request does not go through the thread pool once for its key and once
    more for its route: a key read from a local SQLite file (a few microseconds) is checked on
    the event loop; a key that needs the network (PostgreSQL) or a write (``last_used_at``) is
    checked in the thread pool."""
    route: Any = request.scope.get("route")
    method = "GET" if request.method == "HEAD" else request.method
    rule = ACCESS.get((method, getattr(route, "path", "")))
    if rule is None:
        raise _deny(request, 403, "forbidden", "this route has no access rule", None)
    if rule.public:
        return None
    if credentials is None:
        raise _deny(
            request, 401, "missing_key", "send an API key: Authorization: Bearer <key>", None
        )
    backend = request.app.state.backend
    secret = credentials.credentials
    if backend.authenticates_inline(secret):
        key: ApiKey | None = backend.authenticate(secret)
    else:
        key = await run_in_threadpool(backend.authenticate, secret)
    if key is None:
        raise _deny(request, 401, "invalid_key", "the API key is unknown or revoked", None)
    if not key.has_any(rule.roles):
        needed = " or ".join(sorted(rule.roles))
        raise _deny(request, 403, "forbidden_role", f"this needs the role {needed}", key)
    if rule.unscoped and key.scoped:
        raise _deny(
            request,
            403,
            "outside_scope",
            "this answer covers every tenant: use an unscoped key",
            key,
        )
    request.state.key = key
    return key


async def caller(key: Annotated[ApiKey | None, Depends(guard)]) -> ApiKey:
    """The authenticated key of a route that needs one (``async``: nothing here blocks, so
    FastAPI does not send it through the thread pool)."""
    assert key is not None, "a public route asked for the caller's key"
    return key


Caller = Annotated[ApiKey, Depends(caller)]


def require_tenant(key: ApiKey, tenant: str, request: Request) -> None:
    """403 when ``tenant`` is outside the key's scope; the answer is the same whether the
    tenant exists or not (R-ACC-3)."""
    if not key.sees(tenant):
        raise _deny(
            request, 403, "outside_scope", f"this key is not scoped to tenant {tenant!r}", key
        )
