"""The webhooks file, the signature's exact format and the bounded backoff (R-ALERT-3)."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import timedelta
from pathlib import Path

import pytest

from ticketflow.adapters.webhooks import Endpoint, load_endpoints, signature
from ticketflow.errors import ConfigurationError


def test_a_file_of_endpoints(tmp_path: Path) -> None:
    path = tmp_path / "hooks.json"
    path.write_text(
        json.dumps(
            {
                "endpoints": [
                    {
                        "name": "ops",
                        "url": "https://ops.example/h",
                        "secret": "s",
                        "tenants": ["a"],
                    },
                    {"name": "all", "url": "http://127.0.0.1:9/h", "secret": "t"},
                ]
            }
        )
    )
    ops, every = load_endpoints(path)
    assert ops.wants("a")
    assert not ops.wants("b")
    assert every.wants("b")
    assert (every.max_attempts, every.backoff_s) == (8, 1.0)


@pytest.mark.parametrize(
    "content",
    [
        "not json",
        json.dumps({"endpoints": [{"name": "x", "url": "ftp://h", "secret": "s"}]}),
        json.dumps({"endpoints": [{"name": "x", "url": "http://h"}]}),
        json.dumps({"endpoints": [{"name": "x", "url": "http://h", "secret": "s"}] * 2}),
        json.dumps(
            {"endpoints": [{"name": "x", "url": "http://h", "secret": "s", "max_attempts": 0}]}
        ),
    ],
)
def test_a_file_that_cannot_work_is_refused(tmp_path: Path, content: str) -> None:
    path = tmp_path / "hooks.json"
    path.write_text(content)
    with pytest.raises(ConfigurationError, match="TICKETFLOW_ALERT_WEBHOOKS"):
        load_endpoints(path)
    with pytest.raises(ConfigurationError, match="cannot read"):
        load_endpoints(tmp_path / "none.json")


def test_the_signature_is_hmac_sha256_of_the_body_in_hex() -> None:
    body = b'{"id":"T-1/1/warning"}'
    expected = hmac.new(b"k", body, hashlib.sha256).hexdigest()
    assert signature("k", body) == f"sha256={expected}"
    assert len(expected) == 64


def test_the_backoff_doubles_and_is_bounded() -> None:
    endpoint = Endpoint("e", "http://h", "s", backoff_s=2)
    waits = [endpoint.backoff(n) for n in range(1, 12)]
    assert waits[:4] == [timedelta(seconds=s) for s in (2, 4, 8, 16)]
    assert max(waits) == timedelta(seconds=300)
