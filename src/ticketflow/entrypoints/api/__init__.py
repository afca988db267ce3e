"""The HTTP API (DESIGN §1, §3, §7): a FastAPI application on uvicorn; docs/api.md describes
its endpoints, access rules and errors."""

from __future__ import annotations

from ticketflow.entrypoints.api.access import ACCESS
from ticketflow.entrypoints.api.app import create_app
from ticketflow.entrypoints.api.backend import DEAD_LETTER_FILE, Backend
from ticketflow.entrypoints.api.events import MAX_BODY_BYTES
from ticketflow.entrypoints.api.server import bind, build_app, serve, url_of

__all__ = [
    "ACCESS",
    "DEAD_LETTER_FILE",
    "MAX_BODY_BYTES",
    "Backend",
    "bind",
    "build_app",
    "create_app",
    "serve",
    "url_of",
]
