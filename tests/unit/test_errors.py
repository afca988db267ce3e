"""One error tree: every exception class ticketflow defines is a ``TicketflowError``, named
``…Error`` and documented in a line (DESIGN §4, the house's style)."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import projections
import ticketflow
from ticketflow.errors import TicketflowError


def _error_classes() -> list[type[BaseException]]:
    found: dict[str, type[BaseException]] = {}
    for package in (ticketflow, projections):
        prefix = package.__name__ + "."
        for info in pkgutil.walk_packages(package.__path__, prefix):
            if info.name.endswith("__main__"):
                continue
            module = importlib.import_module(info.name)
            for _, value in inspect.getmembers(module, inspect.isclass):
                if issubclass(value, BaseException) and value.__module__ == info.name:
                    found[f"{value.__module__}.{value.__qualname__}"] = value
    return list(found.values())


def test_the_tree_is_found() -> None:
    names = {error.__name__ for error in _error_classes()}
    assert {"ContractError", "DomainError", "ApiError", "StoreUnavailableError"} <= names


def test_every_error_is_a_ticketflow_error() -> None:
    outside = [e.__qualname__ for e in _error_classes() if not issubclass(e, TicketflowError)]
    assert outside == []


def test_every_error_is_named_and_documented() -> None:
    for error in _error_classes():
        assert error.__name__.endswith("Error"), error
        assert (error.__doc__ or "").strip(), error
