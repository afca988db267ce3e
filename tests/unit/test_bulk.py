"""The collector's thresholds during bulk work: raised inside, restored by the last one out."""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator

import pytest

from ticketflow.bulk import BULK_THRESHOLD, bulk_collection


@pytest.fixture(autouse=True)
def known_thresholds() -> Iterator[tuple[int, int, int]]:
    before = gc.get_threshold()
    gc.set_threshold(700, 10, 10)
    yield (700, 10, 10)
    gc.set_threshold(*before)


def test_raised_inside_and_restored_after(known_thresholds: tuple[int, int, int]) -> None:
    with bulk_collection():
        assert gc.get_threshold() == BULK_THRESHOLD
        with bulk_collection():  # an ingest's catch-up inside it
            assert gc.get_threshold() == BULK_THRESHOLD
        assert gc.get_threshold() == BULK_THRESHOLD
    assert gc.get_threshold() == known_thresholds


def test_restored_even_when_the_work_fails(known_thresholds: tuple[int, int, int]) -> None:
    with pytest.raises(RuntimeError), bulk_collection():
        raise RuntimeError("boom")
    assert gc.get_threshold() == known_thresholds


def test_overlapping_threads_restore_once_the_last_ends(
    known_thresholds: tuple[int, int, int],
) -> None:
    first_in, second_in, first_may_leave = threading.Event(), threading.Event(), threading.Event()
    seen: list[tuple[int, int, int]] = []

    def first() -> None:
        with bulk_collection():
            first_in.set()
            second_in.wait(5)
            first_may_leave.wait(5)
        seen.append(gc.get_threshold())  # the second is still inside

    def second() -> None:
        first_in.wait(5)
        with bulk_collection():
            second_in.set()
            first_may_leave.set()
            thread.join(5)  # the first leaves while this one is inside

    thread = threading.Thread(target=first)
    thread.start()
    second()
    assert seen == [BULK_THRESHOLD]
    assert gc.get_threshold() == known_thresholds
