"""The audit chain's writers (``ticketflow.service.audit``) on SQLite and PostgreSQL read
models: the relay's batch path gives the chain a full re-read gives, and two writers from the same
head leave one chain."""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from ticketflow.adapters.deadletter import DeadLetterFile
from ticketflow.adapters.readmodels import ReadModelStore
from ticketflow.bootstrap import open_engine
from ticketflow.service.audit import GENESIS, chain_read, extend_chain, head, verify
from ticketflow.service.ingest import ingest_lines
from ticketflow.settings import Settings
from ticketflow_tools.synthetic import generate


@pytest.fixture(scope="module")
def recorder(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """An embedded event store with a few hundred events."""
    data = tmp_path_factory.mktemp("store")
    engine = open_engine(Settings.from_env(env={}, data_dir=data))
    report = ingest_lines(engine, generate(300, seed=4), DeadLetterFile(data / "dl.jsonl", "t"))
    assert report.accepted == 300
    yield engine.recorder
    engine.close()


def expected_head(recorder: Any) -> tuple[int, str]:
    """The chain's head computed here from the stored events, as documented in audit.py."""
    digest, position = GENESIS, 0
    for n in recorder.select_notifications(1, 10_000):
        h = hashlib.sha256(digest.encode())
        h.update(f"|{n.id}|{n.originator_id}|{n.originator_version}|{n.topic}|".encode())
        h.update(bytes(n.state))
        digest, position = h.hexdigest(), n.id
    return position, digest


def chained(store: ReadModelStore) -> int:
    with store.transaction() as c:
        c.execute("SELECT COUNT(*) FROM audit_chain")
        return int(c.fetchone()[0])


def test_batches_chained_as_read_give_the_documented_chain(
    recorder: Any, readmodel_store_factory: Callable[[], ReadModelStore]
) -> None:
    store = readmodel_store_factory()
    after = 0
    while page := recorder.select_notifications(after + 1, 70):
        assert chain_read(recorder, store, after, page) == len(page)
        after = page[-1].id
    assert head(store) == expected_head(recorder)
    assert chained(store) == 300
    assert verify(recorder, store).ok


def test_a_chain_behind_the_batch_is_caught_up_from_the_log(
    recorder: Any, readmodel_store_factory: Callable[[], ReadModelStore]
) -> None:
    store = readmodel_store_factory()
    # The relay starts on a store whose first 100 events were published before it chained.
    page = recorder.select_notifications(101, 50)
    assert chain_read(recorder, store, 100, page) == 300  # everything, from the genesis
    assert head(store) == expected_head(recorder)


def test_two_writers_from_the_same_head_leave_one_chain(
    recorder: Any, readmodel_store_factory: Callable[[], ReadModelStore]
) -> None:
    store = readmodel_store_factory()
    page = recorder.select_notifications(1, 120)
    chain_read(recorder, store, 0, page)
    # ``audit verify`` read the head before the relay wrote: it chains the same links again.
    with store.transaction() as c:
        c.execute("DELETE FROM audit_chain WHERE notification_id > 60")
    chain_read(recorder, store, 60, page[60:])
    extend_chain(recorder, store)
    assert chained(store) == 300
    assert head(store) == expected_head(recorder)
    assert extend_chain(recorder, store) == 0


def test_an_event_altered_after_it_was_chained_is_reported(
    recorder: Any, readmodel_store_factory: Callable[[], ReadModelStore]
) -> None:
    store = readmodel_store_factory()
    extend_chain(recorder, store)
    position, digest = head(store)

    class Altered:
        """The same log with one stored event rewritten."""

        def __getattr__(self, name: str) -> Any:
            return getattr(recorder, name)

        def select_notifications(self, start: int, limit: int, **kw: Any) -> list[Any]:
            page = recorder.select_notifications(start, limit, **kw)
            return [
                dataclasses.replace(n, state=bytes(n.state) + b" ") if n.id == 150 else n
                for n in page
            ]

    verdict = verify(Altered(), store, expect=(position, digest))
    assert not verdict.ok
    assert verdict.problems[0].startswith("position 150 ")
    assert "chain broken" in verdict.problems[0]
    assert any(f"position {position}: digest" in p for p in verdict.problems)
