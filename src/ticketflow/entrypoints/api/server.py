"""Serving the API with uvicorn: one process, or ``--workers N`` processes sharing a socket."""

from __future__ import annotations

import os
import socket
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import anyio.to_thread
import uvicorn
from fastapi import FastAPI

from ticketflow.entrypoints.api.app import create_app
from ticketflow.entrypoints.api.backend import Backend
from ticketflow.settings import Settings

DATA_DIR_VARIABLE = "TICKETFLOW_HOME"
# Threads answering requests at once in each process (and so read-model connections).
THREADS = 16
# Seconds a stopping server waits for requests still open before it cancels them: an alert
# stream (``/v1/alerts/stream``) stays open until its client leaves, which would hold a stop.
GRACEFUL_STOP_S = 3


def app_from_env() -> FastAPI:
    """The application of a worker process, from its environment (``--workers``)."""
    return build_app(Settings.from_env())


def build_app(settings: Settings) -> FastAPI:
    """The application and its backend; the backend closes when the server stops."""
    backend = Backend(settings)
    app = create_app(backend)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        anyio.to_thread.current_default_thread_limiter().total_tokens = THREADS
        try:
            yield
        finally:
            backend.close()

    app.router.lifespan_context = lifespan
    return app


def bind(host: str, port: int) -> socket.socket:
    """A listening socket on ``host:port`` (0: any free port)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    # Connections accepted from it inherit TCP_NODELAY: uvicorn sets it only on the sockets it
    # binds itself, and without it each answer written in two parts (head, body) waits for the
    # client's delayed ACK, some 40 ms.
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def url_of(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if sock.family == socket.AF_INET6 else host
    return f"http://{shown}:{port}"


def serve(
    settings: Settings,
    sock: socket.socket,
    *,
    workers: int = 1,
    on_started: Callable[[uvicorn.Server], None] | None = None,
) -> None:
    """Serve on ``sock`` until interrupted."""
    if workers > 1:
        os.environ[DATA_DIR_VARIABLE] = str(settings.data_dir.resolve())
        config = uvicorn.Config(
            "ticketflow.entrypoints.api.server:app_from_env",
            factory=True,
            workers=workers,
            log_level="warning",
            access_log=False,
            timeout_graceful_shutdown=GRACEFUL_STOP_S,
        )
        from uvicorn.supervisors import Multiprocess

        Multiprocess(config, sockets=[sock]).run()
        return
    config = uvicorn.Config(
        build_app(settings),
        log_level="warning",
        access_log=False,
        timeout_graceful_shutdown=GRACEFUL_STOP_S,
    )
    server = uvicorn.Server(config)
    if on_started is not None:
        on_started(server)
    server.run(sockets=[sock])
