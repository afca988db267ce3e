"""The API under test: the FastAPI application over a real embedded system, with keys."""

from __future__ import annotations

import contextlib
import itertools
import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from ticketflow.entrypoints.api import Backend, build_app
from ticketflow.service.access import ROLES
from ticketflow.settings import Settings


class Api(TestClient):
    """A test client holding a key with every role and no scope (``Authorization`` sent by
    default); :meth:`key` makes others, :meth:`as_key` speaks with one."""

    backend: Backend
    secret: str

    @classmethod
    @contextlib.contextmanager
    def start(cls, data_dir: Path, env: Mapping[str, str] | None = None) -> Iterator[Api]:
        app = build_app(Settings.from_env(env=dict(env or {}), data_dir=data_dir))
        backend: Backend = app.state.backend
        _, secret = backend.keys.create(ROLES, name="tests")
        with cls(
            app, raise_server_exceptions=False, headers={"Authorization": f"Bearer {secret}"}
        ) as client:
            client.backend = backend
            client.secret = secret
            yield client

    @property
    def data_dir(self) -> Path:
        return self.backend.settings.data_dir

    def post_events(self, data: Any, content_type: str = "application/json") -> Any:
        """POST ``data`` as JSON to ``/v1/events``."""
        return self.post(
            "/v1/events", content=json.dumps(data), headers={"Content-Type": content_type}
        )

    def key(
        self, roles: Sequence[str], tenants: Sequence[str] = (), sources: Sequence[str] = ()
    ) -> str:
        """A new key's secret."""
        return self.backend.keys.create(roles, tenants=tenants, sources=sources)[1]

    def as_key(self, secret: str | None) -> dict[str, str]:
        """Headers that send ``secret`` (or no key at all) instead of the default key."""
        return {"Authorization": f"Bearer {secret}"} if secret else {"Authorization": ""}


def api_factory_fixture() -> Any:
    """A fixture starting APIs of the test's own, each on a new empty data directory."""

    @pytest.fixture
    def api_factory(tmp_path: Path) -> Iterator[Callable[..., Api]]:
        with contextlib.ExitStack() as apis:
            numbers = itertools.count(1)

            def start(env: Mapping[str, str] | None = None) -> Api:
                return apis.enter_context(Api.start(tmp_path / f"data-{next(numbers)}", env))

            yield start

    return api_factory
